/** meter invoice: a price file and the usage of a period -> one invoice per customer, as a table, CSV or JSON. */
import { Command } from 'commander';
import { buildInvoices } from '../core/invoice.js';
import { ExitCode } from '../errors.js';
import { noInvoiceNote, renderInvoice, unpricedMetersNote, unpricedWarning, type InvoiceFormat } from '../output/invoice.js';
import { Sink } from '../output/sink.js';
import { useColor } from '../output/table.js';
import {
  addConfigOption,
  addDbOption,
  BOUND_FORMS,
  collect,
  formatOption,
  keptFiles,
  loadMeters,
  loadPrices,
  setOutcome,
  withStore,
} from './common.js';

interface InvoiceFlags {
  db?: string;
  config?: string;
  prices: string;
  period?: string;
  from?: string;
  to?: string;
  tz: string;
  subject: string[];
  rollup: boolean;
  format: InvoiceFormat;
  output?: string;
}

export function invoiceCommand(): Command {
  const cmd = new Command('invoice').description('invoices per customer from a price file and the usage of a period');
  addDbOption(cmd);
  addConfigOption(cmd);
  cmd
    .requiredOption('--prices <file>', 'price file (YAML): currency and unit, tiered, package or flat prices per meter')
    .option('--period <YYYY-MM>', 'the calendar month in --tz to invoice')
    .option('--from <time>', `start, inclusive (instead of --period): ${BOUND_FORMS}`)
    .option('--to <time>', `end, exclusive (instead of --period): ${BOUND_FORMS}`)
    .option('--tz <zone>', 'IANA time zone of the period and printed times', 'UTC')
    .option('-s, --subject <subject>', 'only this customer (repeatable); default: every customer with usage of a priced meter', collect, [])
    .option('--no-rollup', "read the stored events themselves, not the store's pre-aggregated rollups")
    .addOption(formatOption(['table', 'csv', 'json'], 'table'))
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .addHelpText(
      'after',
      `
Examples:
  meter invoice --config examples/invoice-meters.yaml --prices examples/prices.yaml --period 2026-10
  meter invoice --prices prices.yaml --period 2026-11 --tz Europe/Budapest --format csv -o invoices-2026-11.csv
  meter invoice --prices prices.yaml --from 2026-11-01 --to 2026-11-16 -s acme --format json

Each line is rounded once, half away from zero, to the currency's minor units; the total is the sum of the
rounded lines. Usage of a priced meter that no price matches is printed as an "unpriced" line and exits 3; a
usage row two prices match is a price-file error (exit 2, nothing printed). A meter of the config that no price
names is not invoiced at all: a note on stderr names it.

Exit codes: 0 ok · 1 failure (store) · 2 usage error or invalid price file · 3 unpriced usage`,
    )
    .action(async (flags: InvoiceFlags, command: Command) => {
      const { meters, file: config } = loadMeters(flags.config);
      const prices = loadPrices(flags.prices, meters);
      await withStore(flags.db, true, async (store) => {
        // Opened first: an output path that cannot be written is said before the invoices are computed.
        const sink = Sink.open(
          flags.output,
          keptFiles(flags.db, [
            [config, 'the meter config (--config)'],
            [flags.prices, 'the price file (--prices)'],
          ]),
        );
        const result = await buildInvoices(store, {
          meters,
          prices,
          period: flags.period,
          from: flags.from,
          to: flags.to,
          tz: flags.tz,
          subjects: flags.subject,
          rollup: flags.rollup,
        });
        await renderInvoice(result, flags.format, sink, flags.output === undefined && useColor(process.stdout));
        await sink.close();
        // A customer named with -s who gets no invoice is said to have none, rather than left out in silence.
        const invoiced = new Set(result.invoices.map((i) => i.customer));
        const none = [...new Set(flags.subject)].filter((s) => !invoiced.has(s));
        if (none.length > 0) process.stderr.write(noInvoiceNote(none));
        if (result.unpricedMeters.length > 0) process.stderr.write(unpricedMetersNote(result.unpricedMeters));
        if (result.unpriced > 0) {
          process.stderr.write(unpricedWarning(result.unpriced));
          setOutcome(command, ExitCode.rejected);
        }
      });
    });
  return cmd;
}
