/** meter subjects: every subject with its event count and first and last event time. */
import { Command } from 'commander';
import { listSubjects } from '../core/usage-sparklines.js';
import { Sink } from '../output/sink.js';
import { renderSubjects, type SubjectsFormat } from '../output/subjects.js';
import { sparkColumn, useColor } from '../output/table.js';
import { addDbOption, formatOption, withStore } from './common.js';
import { wantSparklines } from './sparklines.js';

export function subjectsCommand(): Command {
  const cmd = new Command('subjects').description('list subjects with their event counts and first and last event time');
  addDbOption(cmd);
  cmd
    .addOption(formatOption(['table', 'csv', 'json', 'ndjson'], 'table'))
    .option('--sparklines', "table: a column with each subject's events over the stored range (default: when stdout is a terminal)")
    .option('--no-sparklines', 'no sparkline column, also on a terminal')
    .addHelpText(
      'after',
      '\nExamples:\n  meter subjects\n  meter subjects --format csv > customers.csv\n  meter subjects --sparklines | less -S',
    )
    .action(async (flags: { db?: string; format: SubjectsFormat; sparklines?: boolean }) => {
      const { rows, sparklines } = await withStore(flags.db, true, (store) => listSubjects(store, wantSparklines(flags)));
      const sink = Sink.open(undefined);
      await renderSubjects(rows, flags.format, sink, useColor(process.stdout), sparkColumn(sparklines, true));
      await sink.close();
    });
  return cmd;
}
