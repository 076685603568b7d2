/** meter stats: what the store holds: counts by type and subject, time range, size. */
import { Command } from 'commander';
import { formatRfc3339 } from '../core/time.js';
import { smallTable, useColor } from '../output/table.js';
import { addDbOption, withStore } from './common.js';

export function statsCommand(): Command {
  const cmd = new Command('stats').description('counts by type and subject, the time range and the size of the store');
  addDbOption(cmd);
  cmd
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExamples:\n  meter stats\n  meter stats --db usage.db --json')
    .action(async (flags: { db?: string; json?: boolean }) => {
      const s = await withStore(flags.db, true, (store) => store.stats());
      if (flags.json) {
        process.stdout.write(
          JSON.stringify({
            ...s,
            first: s.firstMs === null ? null : formatRfc3339(s.firstMs),
            last: s.lastMs === null ? null : formatRfc3339(s.lastMs),
          }) + '\n',
        );
        return;
      }
      const color = useColor(process.stdout);
      const lines = [
        `store     ${s.location}`,
        `events    ${s.events.toLocaleString('en-US')}`,
        `subjects  ${s.subjects.toLocaleString('en-US')}`,
        `from      ${s.firstMs === null ? '-' : formatRfc3339(s.firstMs)}`,
        `to        ${s.lastMs === null ? '-' : formatRfc3339(s.lastMs)}`,
        `size      ${s.sizeBytes === null ? '-' : (s.sizeBytes / 1048576).toFixed(1) + ' MB'}`,
      ];
      const byType = await smallTable(['type', 'events'], [1], s.byType.map((r) => [r.key, r.events.toLocaleString('en-US')]), color);
      const bySubject = await smallTable(['subject (top 10)', 'events'], [1], s.bySubject.map((r) => [r.key, r.events.toLocaleString('en-US')]), color);
      process.stdout.write(lines.join('\n') + '\n' + (s.events ? byType + bySubject : ''));
    });
  return cmd;
}
