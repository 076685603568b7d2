/** meter subjects: every subject with its event count and first and last event time. */
import { Command } from 'commander';
import { formatRfc3339 } from '../core/time.js';
import { csvRecord } from '../output/csv.js';
import { Sink } from '../output/sink.js';
import { TableWriter, useColor } from '../output/table.js';
import { addDbOption, formatOption, withStore } from './common.js';

export function subjectsCommand(): Command {
  const cmd = new Command('subjects').description('list subjects with their event counts and first and last event time');
  addDbOption(cmd);
  cmd
    .addOption(formatOption(['table', 'csv', 'json', 'ndjson'], 'table'))
    .addHelpText('after', '\nExamples:\n  meter subjects\n  meter subjects --format csv > customers.csv')
    .action(async (flags: { db?: string; format: string }) => {
      const rows = await withStore(flags.db, true, (store) => store.subjects());
      const sink = Sink.open(undefined);
      const obj = (r: (typeof rows)[number]) => ({ subject: r.subject, events: r.events, first: formatRfc3339(r.firstMs), last: formatRfc3339(r.lastMs) });
      if (flags.format === 'json') await sink.write(JSON.stringify(rows.map(obj)) + '\n');
      else if (flags.format === 'ndjson') for (const r of rows) await sink.write(JSON.stringify(obj(r)) + '\n');
      else if (flags.format === 'csv') {
        await sink.write(csvRecord(['subject', 'events', 'first', 'last']));
        const plain = new Set([1, 2, 3]);
        for (const r of rows) await sink.write(csvRecord([r.subject, String(r.events), formatRfc3339(r.firstMs), formatRfc3339(r.lastMs)], plain));
      } else if (rows.length === 0) await sink.write('(no subjects)\n');
      else {
        const t = new TableWriter(['subject', 'events', 'first', 'last'], new Set([1]), useColor(process.stdout), sink);
        for (const r of rows) await t.row([r.subject, r.events.toLocaleString('en-US'), formatRfc3339(r.firstMs), formatRfc3339(r.lastMs)]);
        await t.end();
      }
      await sink.close();
    });
  return cmd;
}
