/** meter report: one self-contained HTML page of usage over a range, with charts, per-subject tables and invoices. */
import { Command } from 'commander';
import { buildReport } from '../core/report.js';
import { ExitCode } from '../errors.js';
import { reportUnpricedWarning, unpricedMetersNote } from '../output/invoice.js';
import { noRowsNote } from '../output/query.js';
import { renderReport } from '../output/report-html.js';
import { Sink } from '../output/sink.js';
import {
  addConfigOption,
  addDbOption,
  BOUND_FORMS,
  collect,
  keptFiles,
  loadMeters,
  loadPrices,
  positiveInt,
  setOutcome,
  withStore,
} from './common.js';

interface ReportFlags {
  db?: string;
  config?: string;
  meter: string[];
  period?: string;
  from?: string;
  to?: string;
  tz: string;
  subject: string[];
  groupBy?: string;
  window?: string;
  top: number;
  prices?: string;
  output: string;
}

export function reportCommand(): Command {
  const cmd = new Command('report').description('an HTML page of usage over a range: charts and tables per meter, invoices with --prices');
  addDbOption(cmd);
  addConfigOption(cmd);
  cmd
    .option('--period <YYYY-MM>', 'the calendar month in --tz')
    .option('--from <time>', `start, inclusive (instead of --period): ${BOUND_FORMS}; default: the first event`)
    .option('--to <time>', `end, exclusive (instead of --period): ${BOUND_FORMS}; default: after the last event`)
    .option('--tz <zone>', 'IANA time zone of the windows and printed times', 'UTC')
    .option('-m, --meter <slug>', 'only this meter (repeatable); default: every configured meter', collect, [])
    .option('-s, --subject <subject>', "only this subject (repeatable); one subject: that customer's usage statement", collect, [])
    .option('-g, --group-by <key>', 'split the charts and tables by this group-by key instead of by subject')
    .option('-w, --window <size>', 'hour, day or month (also minute); default: hours up to 2 days, days up to 3 months, else months')
    .option('--top <n>', 'subjects (or groups) drawn on their own; the rest are one "others" series', positiveInt('--top'), 8)
    .option('--prices <file>', 'price file: add the invoices of the range (as meter invoice computes them)')
    .requiredOption('-o, --output <file>', 'the HTML file to write')
    .addHelpText(
      'after',
      `
Examples:
  meter report --config examples/invoice-meters.yaml --period 2026-10 -o usage-2026-10.html
  meter report --period 2026-11 --tz Europe/Budapest -m tokens_total -g model -o tokens.html
  meter report --period 2026-11 -s acme --prices prices.yaml -o acme-2026-11.html   # acme's usage statement

The page is one file with its scripts, styles and data inline: it opens from disk with no network. Tables and
tooltips show the exact totals of meter query for the same range (--from inclusive, --to exclusive). With many
subjects the charts draw the --top largest and sum the rest as "others"; the tables list every subject (the largest 200
rows shown first, with a search box and a "show all" button).

Exit codes: 0 ok · 1 failure (store) · 2 usage error or invalid config · 3 unpriced usage (with --prices)`,
    )
    .action(async (flags: ReportFlags, command: Command) => {
      const { meters, file: config } = loadMeters(flags.config);
      const prices = flags.prices === undefined ? undefined : loadPrices(flags.prices, meters);
      await withStore(flags.db, true, async (store) => {
        // Opened first: an output path that cannot be written is said before the report is computed.
        const sink = Sink.open(
          flags.output,
          keptFiles(flags.db, [
            [config, 'the meter config (--config)'],
            [flags.prices, 'the price file (--prices)'],
          ]),
        );
        const report = await buildReport(store, {
          meters,
          meterSlugs: flags.meter,
          tz: flags.tz,
          period: flags.period,
          from: flags.from,
          to: flags.to,
          subjects: flags.subject,
          groupBy: flags.groupBy,
          window: flags.window,
          top: flags.top,
          prices,
        });
        await renderReport(report, sink);
        await sink.close();
        const unmatched = noRowsNote(report.unmatchedSubjects, false);
        if (unmatched !== null) process.stderr.write(unmatched);
        const unpricedMeters = report.invoices?.unpricedMeters ?? [];
        if (unpricedMeters.length > 0) process.stderr.write(unpricedMetersNote(unpricedMeters));
        const unpriced = report.invoices?.unpriced ?? 0;
        if (unpriced > 0) {
          process.stderr.write(reportUnpricedWarning(unpriced));
          setOutcome(command, ExitCode.rejected);
        }
      });
    });
  return cmd;
}
