/**
 * Aligned tables for people, with numbers right-aligned; colour only on a TTY and never with NO_COLOR.
 *
 * Tables are streamed in pages of PAGE_ROWS rows: the column widths come from the header and the first page, and
 * grow (never shrink) when a later page holds a wider cell, from that page on. Memory and time are linear in the
 * rows, whatever their number (cli-table3 laid out the whole table at once: 21 s for 20,000 rows, and a stack
 * overflow at 150,000).
 */
import { Decimal } from '../core/decimal.js';
import type { QueryResult, ResultRow } from '../core/query.js';
import { sparkKey, type UsageSparklines } from '../core/usage-sparklines.js';
import type { Sink } from './sink.js';

export function useColor(stream: NodeJS.WriteStream): boolean {
  // no-color.org: NO_COLOR set to a non-empty value turns colour off.
  return Boolean(stream.isTTY) && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
}

/**
 * Text as a terminal may show it: control characters (ESC sequences could retitle or rewrite the user's
 * terminal) and format characters (a right-to-left override shows "acme\u202e321-tsuc" as "acmecust-123", a
 * zero-width space makes "ac\u200bme" look like "acme": one customer shown as another) are printed as escapes, as
 * are the other characters Unicode says to draw as nothing (U+034F, Hangul fillers, variation selectors).
 */
export function terminalSafe(text: string): string {
  // A backslash is doubled, so that the text "ac\\u200bme" never reads as the escape of "ac\u200bme".
  return text.replace(SHOWN_ESCAPED, escapeChar);
}

/**
 * A message as a terminal may show it: the same escapes, but a backslash as it is. Messages quote input as JSON
 * text (`"a\"b"`) and values terminalSafe already escaped, whose backslashes must not be doubled again.
 */
export function messageSafe(text: string): string {
  return text.replace(INVISIBLE, escapeChar);
}

/** Names for a message, each quoted as JSON and escaped as every message is (a bidi override would reorder the line). */
export function quotedNames(names: readonly string[]): string {
  return messageSafe(names.map((n) => JSON.stringify(n)).join(', '));
}

const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/gu;
const SHOWN_ESCAPED = /[\\\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/gu;

function escapeChar(c: string): string {
  if (c === '\\') return '\\\\';
  const cp = c.codePointAt(0)!;
  return cp > 0xffff ? `\\u{${cp.toString(16)}}` : `\\u${cp.toString(16).padStart(4, '0')}`;
}

/** Rows per page: the rows whose widths set the columns before anything is printed. */
export const PAGE_ROWS = 1000;

/** Columns a cell takes: one per code point (wide characters are not measured). */
function width(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0xdc00 || c > 0xdfff) n++; // a low surrogate belongs to the code point before it
  }
  return n;
}

/** A streamed table: `row()` for each row, then `end()`. Prints nothing when there are no rows. */
export class TableWriter {
  private page: string[][] = [];
  private widths: number[];
  private readonly head: string[];
  private started = false;
  rows = 0;
  constructor(
    head: string[],
    private readonly right: ReadonlySet<number>,
    private readonly color: boolean,
    private readonly sink: Sink,
  ) {
    this.head = head.map(terminalSafe);
    this.widths = this.head.map(width);
  }

  async row(cells: string[]): Promise<void> {
    this.page.push(cells.map(terminalSafe));
    this.rows++;
    if (this.page.length >= PAGE_ROWS) await this.flush();
  }

  private line(left: string, mid: string, rightEnd: string): string {
    return left + this.widths.map((w) => '─'.repeat(w + 2)).join(mid) + rightEnd + '\n';
  }

  private cells(cells: string[], bold = false): string {
    let out = '│';
    for (let i = 0; i < this.widths.length; i++) {
      const c = cells[i] ?? '';
      const pad = ' '.repeat(Math.max(0, this.widths[i]! - width(c)));
      const text = bold && this.color ? `\x1b[1m${c}\x1b[22m` : c;
      out += ' ' + (this.right.has(i) ? pad + text : text + pad) + ' │';
    }
    return out + '\n';
  }

  private async flush(): Promise<void> {
    if (this.page.length === 0) return;
    for (const r of this.page) r.forEach((c, i) => (this.widths[i] = Math.max(this.widths[i] ?? 0, width(c))));
    if (!this.started) {
      this.started = true;
      await this.sink.write(this.line('┌', '┬', '┐') + this.cells(this.head, true));
    }
    let text = '';
    for (const r of this.page) text += this.cells(r);
    this.page = [];
    await this.sink.write(text);
  }

  /** Prints what is left and the bottom border; returns the number of rows. */
  async end(): Promise<number> {
    await this.flush();
    if (this.started) await this.sink.write(this.line('└', '┴', '┘'));
    return this.rows;
  }
}

/** A small table (a few rows) as one string, for the commands that print a summary. */
export async function smallTable(head: string[], right: number[], rows: string[][], color: boolean): Promise<string> {
  let text = '';
  const sink = { write: async (t: string) => void (text += t) } as unknown as Sink;
  const t = new TableWriter(head, new Set(right), color, sink);
  for (const r of rows) await t.row(r);
  await t.end();
  return text;
}

/** A sparkline column: its heading and each row's sparkline. */
export interface SparkColumn {
  head: string;
  line(row: Pick<ResultRow, 'subject' | 'groups'>): string;
}

/** The sparkline column of a table, or undefined when there is none to draw; `bySubject` keys rows by subject. */
export function sparkColumn(s: UsageSparklines | null, bySubject = false): SparkColumn | undefined {
  if (s === null || s.window === null) return undefined;
  return { head: `per ${s.window.toLowerCase()}`, line: (r) => s.lines.get(sparkKey(r, bySubject)) ?? '' };
}

export async function renderTable(result: QueryResult, sink: Sink, color: boolean, spark?: SparkColumn): Promise<void> {
  const windowed = result.windowSize !== null;
  const head = [...(windowed ? ['window_start', 'window_end'] : ['from', 'to']), 'subject', ...result.groupKeys, 'value'];
  const value = head.length - 1;
  if (spark) head.push(spark.head);
  const table = new TableWriter(head, new Set([value]), color, sink);
  const additive = result.meter.aggregation === 'SUM' || result.meter.aggregation === 'COUNT';
  let total = Decimal.ZERO;
  for await (const r of result.rows) {
    const cells = [result.formatTime(r.windowStart), result.formatTime(r.windowEnd), r.subject ?? '', ...r.groups, r.value ?? ''];
    if (spark) cells.push(spark.line(r));
    await table.row(cells);
    if (r.value !== null && additive) total = total.add(Decimal.parse(r.value)!);
  }
  const n = table.rows;
  if (n === 0) {
    await sink.write('(no rows)\n');
    return;
  }
  if (additive) await table.row(['total', '', '', ...result.groupKeys.map(() => ''), total.toString()]);
  await table.end();
  await sink.write(`${n} row${n === 1 ? '' : 's'} · meter ${result.meter.slug} (${result.meter.aggregation})\n`);
}
