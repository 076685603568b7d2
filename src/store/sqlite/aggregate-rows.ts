/** Reading a row of the SQLite aggregate SQL (aggregate-sql.ts) as the Store's AggregateRow, with exact values. */
import { Decimal } from '../../core/decimal.js';
import { readGroupKeys, sumOrAverage } from '../../core/aggregate.js';
import type { AggregateRow, MeterQuery } from '../../core/ports.js';
import { NeedsExactSum, type SumMode } from './aggregate-sql.js';

/**
 * Exact value of a SUM or AVG from its parts: the integer sum and count (SQLite's), and meter_dsum's
 * "sum count" of the other values.
 */
export function exactValue(agg: 'SUM' | 'AVG', isum: unknown, dsum: unknown, icount: unknown): string | null {
  const parts = isum === null || isum === undefined ? [] : [String(isum)];
  let count = Number(icount ?? 0);
  if (dsum !== null && dsum !== undefined) {
    const [text, n] = String(dsum).split(' ');
    parts.push(text!);
    count += Number(n);
  }
  return sumOrAverage(agg, parts, count);
}

/** MIN or MAX from its parts: the 64-bit integers' (SQLite's) and the other values' (meter_dmin/meter_dmax). */
function extreme(agg: 'MIN' | 'MAX', int: bigint | null, other: string | null): string | null {
  if (other === null) return int === null ? null : int.toString();
  if (int === null) return other;
  const a = Decimal.from(int),
    b = Decimal.parse(other)!;
  return a.compare(b) === (agg === 'MIN' ? -1 : 1) ? a.toString() : b.toString();
}

function scalarText(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return Decimal.from(v).toString();
  return String(v);
}

/**
 * One raw row of buildAggregateSql in `mode`. A 'fast' row of a group that holds a value the fast path cannot sum
 * exactly throws NeedsExactSum.
 */
export function readAggregateRow(q: MeterQuery, mode: SumMode, r: unknown[]): AggregateRow {
  const agg = q.meter.aggregation;
  const { windowStart, subject, groups, next } = readGroupKeys(q, r);
  let i = next;
  let value: string | null;
  if (mode === 'fast') {
    // A sum past 2^63 or a JSON integer SQLite reads as a double comes back as a double.
    if (Number(r[i + 1]) > 0) throw new NeedsExactSum();
    value = agg === 'SUM' ? ((r[i] as string | null) ?? '0') : r[i] === null ? null : String(r[i]);
    i += 3;
  } else if (agg === 'SUM' || agg === 'AVG') {
    value = exactValue(agg, r[i] as string | null, r[i + 1], Number(r[i + 2]));
    i += 3;
  } else if (agg === 'MIN' || agg === 'MAX') {
    value = extreme(agg, r[i] as bigint | null, r[i + 1] as string | null);
    i += 3;
  } else {
    value = scalarText(r[i++]);
  }
  return { windowStart, subject, groups, value, firstMs: Number(r[i] ?? NaN), lastMs: Number(r[i + 1] ?? NaN) };
}
