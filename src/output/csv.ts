/**
 * CSV for finance: `window_start,window_end,subject,<group-by keys>,value`, RFC 4180 quoting, and text cells that a
 * spreadsheet would run as a formula (leading `=`, `+`, `-`, `@`, tab or CR) defused with a leading `'` (OWASP),
 * as is a cell that begins with `'` itself.
 * The value column is always a plain number, so negative credits stay numbers.
 *
 * The quoting is written here rather than taken from csv-stringify: it is a dozen lines, and on an hourly export of
 * half a million rows the library's per-cell machinery cost more than the rest of the rendering together.
 */
import type { QueryResult } from '../core/query.js';
import type { Sink } from './sink.js';

// A cell that begins with ' gets one more, so that a defused cell never reads like a cell that held the quote
// itself ("=x" is '=x, "'=x" is ''=x): one leading ' is always the guard's.
const FORMULA_START = /^[=+\-@\t\r']/;
const NEEDS_QUOTES = /[",\r\n]/;

/** A text cell made safe for spreadsheets. */
export function defuseCell(text: string): string {
  return FORMULA_START.test(text) ? `'${text}` : text;
}

/** One RFC 4180 cell: quoted when it holds a quote, comma, CR or LF, with inner quotes doubled. */
export function csvCell(text: string): string {
  return NEEDS_QUOTES.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One CSV record; every cell but the `numeric` ones is defused. Ends with \n. */
export function csvRecord(cells: string[], numeric: ReadonlySet<number> = NO_NUMBERS): string {
  let line = '';
  for (let i = 0; i < cells.length; i++) {
    const c = cells[i]!;
    line += (i ? ',' : '') + csvCell(numeric.has(i) ? c : defuseCell(c));
  }
  return line + '\n';
}

const NO_NUMBERS: ReadonlySet<number> = new Set();

export async function renderCsv(result: QueryResult, sink: Sink): Promise<void> {
  const header = ['window_start', 'window_end', 'subject', ...result.groupKeys, 'value'];
  // Times never start with a formula character, and values must stay numbers.
  const plain = new Set([0, 1, header.length - 1]);
  await sink.write(csvRecord(header));
  for await (const r of result.rows) {
    const full = sink.write(
      csvRecord([result.formatTime(r.windowStart), result.formatTime(r.windowEnd), r.subject ?? '', ...r.groups, r.value ?? ''], plain),
    );
    if (full) await full;
  }
}
