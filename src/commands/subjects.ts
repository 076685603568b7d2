/** meter subjects: every subject with its event count and first and last event time. */
import { Command } from 'commander';
import type { QueryOptions } from '../core/query.js';
import { formatRfc3339 } from '../core/time.js';
import { csvRecord } from '../output/csv.js';
import { Sink } from '../output/sink.js';
import { TableWriter, useColor } from '../output/table.js';
import { addDbOption, formatOption, withStore } from './common.js';
import { sparkColumn } from './sparklines.js';

/** Every stored event, counted (the meter used without a config), over the whole store in UTC. */
const ALL_EVENTS: QueryOptions = { meters: [], tz: 'UTC', subjects: [], groupBy: [], filters: [], fill: false, allSubjects: false };

export function subjectsCommand(): Command {
  const cmd = new Command('subjects').description('list subjects with their event counts and first and last event time');
  addDbOption(cmd);
  cmd
    .addOption(formatOption(['table', 'csv', 'json', 'ndjson'], 'table'))
    .option('--sparklines', 'table: a column with each subject\'s events over the stored range (default: when stdout is a terminal)')
    .option('--no-sparklines', 'no sparkline column, also on a terminal')
    .addHelpText('after', '\nExamples:\n  meter subjects\n  meter subjects --format csv > customers.csv\n  meter subjects --sparklines | less -S')
    .action(async (flags: { db?: string; format: string; sparklines?: boolean }) => {
      const [rows, spark] = await withStore(flags.db, true, async (store) => [await store.subjects(), await sparkColumn(store, ALL_EVENTS, flags, true)] as const);
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
        const t = new TableWriter(['subject', 'events', 'first', 'last', ...(spark ? [spark.head] : [])], new Set([1]), useColor(process.stdout), sink);
        for (const r of rows) {
          const cells = [r.subject, r.events.toLocaleString('en-US'), formatRfc3339(r.firstMs), formatRfc3339(r.lastMs)];
          if (spark) cells.push(spark.line({ subject: r.subject, groups: [] }));
          await t.row(cells);
        }
        await t.end();
      }
      await sink.close();
    });
  return cmd;
}
