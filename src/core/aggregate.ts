/**
 * What every store's aggregate query means, apart from its SQL: the group keys of a row (window, subject, group-by
 * values, in that order, which is also the rows' order) and the exact SUM or AVG from the partial sums a backend
 * computes in its own way. Each store spells these in its SQL dialect (store/sqlite/aggregate-sql.ts,
 * store/clickhouse/aggregate-sql.ts) and reads its rows through readGroupKeys and sumOrAverage.
 */
import { Decimal } from './decimal.js';
import type { AggregateRow, Dimension, MeterQuery } from './ports.js';

/** One key a query's rows are grouped and ordered by. */
export type GroupKey = { kind: 'window' } | { kind: 'subject' } | { kind: 'group'; index: number; dimension: Dimension };

/** The keys of a query's rows, in the order of their columns and of the rows. */
export function groupKeys(q: MeterQuery): GroupKey[] {
  const keys: GroupKey[] = [];
  if (q.window) keys.push({ kind: 'window' });
  if (q.perSubject) keys.push({ kind: 'subject' });
  q.groupBy.forEach((dimension, index) => keys.push({ kind: 'group', index, dimension }));
  return keys;
}

/** The group keys at the start of a raw row (in groupKeys order); `next` is the index of its first value column. */
export function readGroupKeys(
  q: MeterQuery,
  r: readonly unknown[],
): Pick<AggregateRow, 'windowStart' | 'subject' | 'groups'> & { next: number } {
  let i = 0;
  const windowStart = q.window ? q.window.startOfKey(Number(r[i++])) : null;
  const subject = q.perSubject ? (r[i++] as string) : null;
  const groups: string[] = [];
  for (let g = 0; g < q.groupBy.length; g++) groups.push(String(r[i++] ?? ''));
  return { windowStart, subject, groups, next: i };
}

const INTEGER_TEXT = /^(?:0|-?[1-9]\d*)$/;

/**
 * An exact SUM or AVG from partial sums (decimal texts) and the number of values they cover: a SUM of no values is
 * 0, an AVG of none is null. AVG is rounded half away from zero to 12 decimals (Decimal.divide).
 */
export function sumOrAverage(agg: 'SUM' | 'AVG', parts: readonly string[], count: number): string | null {
  if (agg === 'AVG' && count === 0) return null;
  // The common case: one integer sum, already canonical, needs no decimal arithmetic.
  if (agg === 'SUM' && parts.length === 1 && INTEGER_TEXT.test(parts[0]!)) return parts[0]!;
  let total = Decimal.ZERO;
  for (const p of parts) total = total.add(Decimal.parse(p)!);
  return agg === 'SUM' ? total.toString() : total.divide(count).toString();
}
