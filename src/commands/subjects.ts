/** meter subjects: every subject with its event count and first and last event time. */
import { Command } from 'commander';
import { Sink } from '../output/sink.js';
import { renderSubjects, type SubjectsFormat } from '../output/subjects.js';
import { useColor } from '../output/table.js';
import { addDbOption, formatOption, withStore } from './common.js';

export function subjectsCommand(): Command {
  const cmd = new Command('subjects').description('list subjects with their event counts and first and last event time');
  addDbOption(cmd);
  cmd
    .addOption(formatOption(['table', 'csv', 'json', 'ndjson'], 'table'))
    .addHelpText('after', '\nExamples:\n  meter subjects\n  meter subjects --format csv > customers.csv')
    .action(async (flags: { db?: string; format: SubjectsFormat }) => {
      const rows = await withStore(flags.db, true, (store) => store.subjects());
      const sink = Sink.open(undefined);
      await renderSubjects(rows, flags.format, sink, useColor(process.stdout));
      await sink.close();
    });
  return cmd;
}
