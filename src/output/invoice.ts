/**
 * Invoice renderers: a table (one block per customer: its lines, then the total), CSV with the columns finance
 * imports (formula-safe like `meter query`'s), and JSON `{currency, period, invoices: [{customer, lines, total}]}`.
 * Amounts are printed as exact decimal text with at least the currency's minor digits (`4.60`, `0.00`, `1200`).
 */
import type { InvoiceLine, InvoiceResult } from '../core/invoice.js';
import { csvRecord } from './csv.js';
import type { Sink } from './sink.js';
import { messageSafe, quotedNames, smallTable, terminalSafe } from './table.js';

export const INVOICE_CSV_COLUMNS = [
  'customer',
  'period_start',
  'period_end',
  'meter',
  'group',
  'line_type',
  'tier',
  'quantity',
  'unit_amount',
  'per',
  'amount_exact',
  'amount',
  'currency',
];

/**
 * Group values as one cell: `model=gpt-4o;service_tier=flex`. Keys are identifiers, so `=` ends a key; a `;` or
 * `\` in a value is escaped with `\`, so two different groups never read the same (`a;b=c` is `a\;b=c`).
 */
export function groupText(group: Array<[string, string]>): string {
  return group.map(([k, v]) => `${k}=${v.replace(/[\\;]/g, '\\$&')}`).join(';');
}

export async function renderInvoiceCsv(result: InvoiceResult, sink: Sink): Promise<void> {
  // Times, numbers and the currency code never start with a formula character; numbers must stay numbers.
  const plain = new Set([1, 2, 6, 7, 8, 9, 10, 11, 12]);
  const start = result.formatTime(result.fromMs),
    end = result.formatTime(result.toMs);
  await sink.write(csvRecord(INVOICE_CSV_COLUMNS));
  for (const inv of result.invoices) {
    for (const l of inv.lines) {
      await sink.write(
        csvRecord(
          [
            inv.customer,
            start,
            end,
            l.meter,
            groupText(l.group),
            l.lineType,
            l.tier === null ? '' : String(l.tier),
            l.quantity ?? '',
            l.unitAmount ?? '',
            l.per ?? '',
            l.amountExact ?? '',
            l.amount ?? '',
            result.currency,
          ],
          plain,
        ),
      );
    }
  }
}

function lineJson(l: InvoiceLine): Record<string, unknown> {
  return {
    meter: l.meter,
    description: l.description,
    group: Object.fromEntries(l.group),
    lineType: l.lineType,
    tier: l.tier,
    quantity: l.quantity,
    unitAmount: l.unitAmount,
    per: l.per,
    amountExact: l.amountExact,
    amount: l.amount,
  };
}

/** JSON; amounts and quantities are strings holding exact decimals (a JSON parser would turn 4.60 into 4.6). */
export async function renderInvoiceJson(result: InvoiceResult, sink: Sink): Promise<void> {
  const doc = {
    currency: result.currency,
    period: { from: result.formatTime(result.fromMs), to: result.formatTime(result.toMs), timeZone: result.zone },
    invoices: result.invoices.map((inv) => ({ customer: inv.customer, lines: inv.lines.map(lineJson), total: inv.total })),
  };
  await sink.write(JSON.stringify(doc, null, 2) + '\n');
}

export async function renderInvoiceTable(result: InvoiceResult, sink: Sink, color: boolean): Promise<void> {
  const start = result.formatTime(result.fromMs),
    end = result.formatTime(result.toMs);
  if (result.invoices.length === 0) {
    await sink.write(`(no usage of a priced meter from ${start} to ${end})\n`);
    return;
  }
  const head = ['meter', 'group', 'description', 'line', 'tier', 'quantity', 'unit_amount', 'per', 'amount'];
  for (const [n, inv] of result.invoices.entries()) {
    const rows = inv.lines.map((l) => [
      l.meter,
      groupText(l.group),
      l.description ?? '',
      l.lineType,
      l.tier === null ? '' : String(l.tier),
      l.quantity ?? '',
      l.unitAmount ?? '',
      l.per ?? '',
      l.amount ?? '',
    ]);
    rows.push(['total', '', '', '', '', '', '', '', `${inv.total} ${result.currency}`]);
    const table = await smallTable(head, [4, 5, 6, 7, 8], rows, color);
    // The customer heads its block outside the table, so it is escaped as the cells are: a subject with a newline,
    // an escape sequence or a right-to-left override must not forge or disguise a block.
    await sink.write(`${n ? '\n' : ''}${terminalSafe(inv.customer)} · ${start} to ${end} (${result.zone})\n${table}`);
  }
  await sink.write(`\n${result.invoices.length} invoice${result.invoices.length === 1 ? '' : 's'} · ${result.currency}\n`);
}

export type InvoiceFormat = 'table' | 'csv' | 'json';

/** `color` applies to tables only. */
export async function renderInvoice(result: InvoiceResult, format: InvoiceFormat, sink: Sink, color: boolean): Promise<void> {
  if (format === 'csv') await renderInvoiceCsv(result, sink);
  else if (format === 'json') await renderInvoiceJson(result, sink);
  else await renderInvoiceTable(result, sink, color);
}

/** The warning of an invoice run with usage that no price matches (it then exits 3). */
export function unpricedWarning(unpriced: number): string {
  return (
    `meter: warning: ${unpriced} usage row${unpriced === 1 ? '' : 's'} of priced meters match no price: ` +
    `printed as unpriced lines, not billed; add prices for them\n`
  );
}

/** The same warning for a report page, whose invoices show unpriced usage as lines of their own. */
export function reportUnpricedWarning(unpriced: number): string {
  return `meter: warning: ${unpriced} usage row${unpriced === 1 ? '' : 's'} of priced meters match no price: shown as unpriced lines, not billed\n`;
}

/**
 * The note of a run whose config has meters no price names: their usage is not looked at, so no unpriced line
 * or exit 3 can show it (a meter kept for display, such as all input tokens, is one; a meter whose prices were
 * forgotten is another).
 */
export function unpricedMetersNote(slugs: string[]): string {
  const names = messageSafe(slugs.join(', '));
  return `meter: note: no price names meter${slugs.length === 1 ? '' : 's'} ${names}: ${slugs.length === 1 ? 'its' : 'their'} usage is on no invoice\n`;
}

export function noInvoiceNote(customers: string[]): string {
  return `meter: no invoice for ${quotedNames(customers)}: no usage of a priced meter in the period\n`;
}
