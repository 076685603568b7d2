/** meter stats: what the store holds: counts by type and subject, time range, size. */
import { Command } from 'commander';
import { Sink } from '../output/sink.js';
import { renderStats } from '../output/stats.js';
import { useColor } from '../output/table.js';
import { addDbOption, withStore } from './common.js';

export function statsCommand(): Command {
  const cmd = new Command('stats').description('counts by type and subject, the time range and the size of the store');
  addDbOption(cmd);
  cmd
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExamples:\n  meter stats\n  meter stats --db usage.db --json')
    .action(async (flags: { db?: string; json?: boolean }) => {
      const stats = await withStore(flags.db, true, (store) => store.stats());
      const sink = Sink.open(undefined);
      await renderStats(stats, flags.json ?? false, sink, useColor(process.stdout));
      await sink.close();
    });
  return cmd;
}
