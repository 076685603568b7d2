/** meter query: per-subject totals of a meter per window, as a table, CSV, JSON or NDJSON. */
import { UsageError } from '../errors.js';
import { Command, Option } from 'commander';
import { type QueryOptions, unmatchedSubjects } from '../core/query.js';
import { mapAsync } from '../core/iterate.js';
import { runQueryWithSparklines } from '../core/usage-sparklines.js';
import { noRowsNote, renderQuery, type QueryFormat } from '../output/query.js';
import { Sink } from '../output/sink.js';
import { sparkColumn, useColor } from '../output/table.js';
import { wantSparklines } from './sparklines.js';
import { addConfigOption, addDbOption, BOUND_FORMS, collect, formatOption, keptFiles, loadMeters, withStore } from './common.js';

interface QueryFlags {
  db?: string;
  config?: string;
  meter?: string;
  window?: string;
  tz: string;
  from?: string;
  to?: string;
  subject: string[];
  groupBy: string[];
  filter: string[];
  fill?: boolean;
  allSubjects?: boolean;
  rollup: boolean;
  format: QueryFormat;
  output?: string;
  sparklines?: boolean;
}

export function queryCommand(): Command {
  const cmd = new Command('query').description('per-subject totals of a meter per minute, hour, day or month window');
  addDbOption(cmd);
  addConfigOption(cmd);
  cmd
    .option('-m, --meter <slug>', 'meter to query (optional when the config has one; none configured: count events per type)')
    .addOption(
      new Option('-w, --window <size>', 'minute|hour|day|month (also minutely|hourly|daily|monthly); default: one total per group'),
    )
    .option('--tz <zone>', 'IANA time zone of the windows and printed times', 'UTC')
    .option('--from <time>', `start, inclusive: ${BOUND_FORMS}`)
    .option('--to <time>', `end, exclusive: ${BOUND_FORMS}`)
    .option('-s, --subject <subject>', 'only this subject (repeatable)', collect, [])
    .option('-g, --group-by <key>', "group by one of the meter's groupBy keys (repeatable)", collect, [])
    .option(
      '-f, --filter <key=value>',
      'only events whose group-by key has this value (repeatable; values of one key are alternatives)',
      collect,
      [],
    )
    .option('--fill', 'also print empty windows (0 for SUM, COUNT, UNIQUE_COUNT) for every group present')
    .option('--all-subjects', 'sum across subjects instead of one row per subject')
    .option('--no-rollup', "read the stored events themselves, not the store's pre-aggregated rollups")
    .addOption(formatOption(['table', 'csv', 'json', 'ndjson'], 'table'))
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .option('--sparklines', "table without --window: a column with each row's usage over the range (default: when stdout is a terminal)")
    .option('--no-sparklines', 'no sparkline column, also on a terminal')
    .addHelpText(
      'after',
      `
Examples:
  meter query --window hourly                                  # the config's only meter, per subject and hour
  meter query -m tokens_total -w day --tz Europe/Budapest --from 2026-11-01 --to 2026-12-01
  meter query -m tokens_total -w month -g model --format csv -o invoice.csv
  meter query -m tokens_total -s acme -f model=gpt-4o --format json
  meter query -m tokens_total --from 2026-11-01 --to 2026-12-01 --sparklines   # per subject: total and ▁▃▅█ per day

Windows: --from is inclusive, --to is exclusive; either may be unaligned (the first and last windows are then
partial). Days and months are calendar days and months in --tz (23 or 25 hours long on DST changes).`,
    )
    .action(async (flags: QueryFlags) => {
      if (flags.fill && flags.window === undefined)
        throw new UsageError('--fill needs --window: without windows each group has one row, with no empty windows to fill');
      const { meters, file: config } = loadMeters(flags.config);
      await withStore(flags.db, true, async (store) => {
        const options: QueryOptions = {
          meters,
          meter: flags.meter,
          window: flags.window,
          tz: flags.tz,
          from: flags.from,
          to: flags.to,
          subjects: flags.subject,
          groupBy: flags.groupBy,
          filters: flags.filter,
          fill: flags.fill ?? false,
          allSubjects: flags.allSubjects ?? false,
          rollup: flags.rollup,
        };
        const { result, sparklines } = await runQueryWithSparklines(store, options, wantSparklines(flags));
        const sink = Sink.open(flags.output, keptFiles(flags.db, [[config, 'the meter config (--config)']]));
        // A subject or filter value that matches nothing (a typo) is said, rather than an empty result in silence.
        const seen = new Set<string | null>();
        const named = [...new Set(flags.subject)];
        // Counted only when there is something to say: the count costs a turn of the microtask queue per row.
        const counted =
          named.length === 0 && flags.filter.length === 0
            ? result
            : {
                ...result,
                rows: mapAsync(result.rows, (r) => {
                  seen.add(r.subject);
                  return r;
                }),
              };
        await renderQuery(counted, flags.format, sink, flags.output === undefined && useColor(process.stdout), sparkColumn(sparklines));
        await sink.close();
        const note = noRowsNote(unmatchedSubjects(named, seen, result.perSubject), seen.size === 0 && flags.filter.length > 0);
        if (note !== null) process.stderr.write(note);
      });
    });
  return cmd;
}
