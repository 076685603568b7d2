/**
 * CSV for finance: `window_start,window_end,subject,<group-by keys>,value`, RFC 4180 quoting by csv-stringify, and
 * text cells that a spreadsheet would run as a formula (leading `=`, `+`, `-`, `@`, tab or CR) defused with a
 * leading `'` (OWASP). The value column is always a plain number, so negative credits stay numbers.
 */
import { stringify } from 'csv-stringify/sync';
import type { QueryResult } from '../core/query.js';
import type { Sink } from './sink.js';

const FORMULA_START = /^[=+\-@\t\r]/;

/** A text cell made safe for spreadsheets. */
export function defuseCell(text: string): string {
  return FORMULA_START.test(text) ? `'${text}` : text;
}

const BATCH = 2000;

export async function renderCsv(result: QueryResult, sink: Sink): Promise<void> {
  const header = ['window_start', 'window_end', 'subject', ...result.groupKeys, 'value'];
  const valueColumn = header.length - 1;
  const options = {
    cast: {
      // Only text cells are defused; times never start with a formula character and values must stay numbers.
      string: (value: string, context: { index: number }) => (context.index === valueColumn ? value : defuseCell(value)),
    },
    record_delimiter: '\n',
  } as const;
  await sink.write(stringify([header.map(defuseCell)], { record_delimiter: '\n' }));
  let rows: string[][] = [];
  for await (const r of result.rows) {
    rows.push([
      result.formatTime(r.windowStart),
      result.formatTime(r.windowEnd),
      r.subject ?? '',
      ...r.groups,
      r.value ?? '',
    ]);
    if (rows.length >= BATCH) {
      await sink.write(stringify(rows, options));
      rows = [];
    }
  }
  if (rows.length > 0) await sink.write(stringify(rows, options));
}
