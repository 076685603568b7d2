/** Aligned tables for people, with numbers right-aligned; colour only on a TTY and never with NO_COLOR. */
import { createRequire } from 'node:module';
import type Table from 'cli-table3';
import { Decimal } from '../core/decimal.js';
import type { QueryResult } from '../core/query.js';
import type { Sink } from './sink.js';

export function useColor(stream: NodeJS.WriteStream): boolean {
  return Boolean(stream.isTTY) && process.env.NO_COLOR === undefined && process.env.TERM !== 'dumb';
}

/**
 * A cell as a terminal may show it: control characters (ESC sequences could retitle or rewrite the user's
 * terminal) are printed as escapes instead.
 */
export function terminalSafe(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

// Loaded when a table is drawn: commands that print none (ingest, CSV and JSON output) start faster without it.
let TableClass: typeof Table | undefined;

/** A table of plain cells; `right` lists the columns to right-align. Cells are made terminal-safe. */
export function makeTable(head: string[], right: number[], color: boolean): Table.Table {
  TableClass ??= createRequire(import.meta.url)('cli-table3') as typeof Table;
  const table = new TableClass({
    head,
    colAligns: head.map((_, i) => (right.includes(i) ? 'right' : 'left')),
    style: { head: color ? ['bold'] : [], border: [], compact: true },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
  const push = table.push.bind(table);
  table.push = ((...rows: unknown[][]) =>
    push(...(rows.map((r) => r.map((c) => (typeof c === 'string' ? terminalSafe(c) : c))) as never[]))) as typeof table.push;
  return table;
}

export async function renderTable(result: QueryResult, sink: Sink, color: boolean): Promise<void> {
  const windowed = result.windowSize !== null;
  const head = [...(windowed ? ['window_start', 'window_end'] : ['from', 'to']), 'subject', ...result.groupKeys, 'value'];
  const table = makeTable(head, [head.length - 1], color);
  const additive = result.meter.aggregation === 'SUM' || result.meter.aggregation === 'COUNT';
  let total = Decimal.ZERO;
  let n = 0;
  for await (const r of result.rows) {
    table.push([result.formatTime(r.windowStart), result.formatTime(r.windowEnd), r.subject ?? '', ...r.groups, r.value ?? '']);
    if (r.value !== null && additive) total = total.add(Decimal.parse(r.value)!);
    n++;
  }
  if (n === 0) {
    await sink.write('(no rows)\n');
    return;
  }
  if (additive) table.push(['total', '', '', ...result.groupKeys.map(() => ''), total.toString()]);
  await sink.write(table.toString() + '\n');
  await sink.write(`${n} row${n === 1 ? '' : 's'} · meter ${result.meter.slug} (${result.meter.aggregation})\n`);
}
