/**
 * The SQL of a meter query and the reading of its rows. One shape for every aggregation: the rows of `events`
 * that match (type, time bounds, subjects, filters, first copies only), grouped by window, subject and the
 * group-by dimensions, with the value's parts and the group's first and last event time.
 *
 * Integer arithmetic: 18.16 types a literal by its value and an operation's result by its operands
 * (`Int64 % 60000` is an Int16), so every literal of the window arithmetic and of the time bounds is an explicit
 * Int64 (i64 in literals.ts). A query without matching events gives no row (HAVING count() > 0: without GROUP BY,
 * an aggregate over no rows is still one row).
 *
 * Exact values: SUM and AVG add integer parts and 18-digit fractions in SQL, each split into 9-digit halves summed
 * as Int64 (exact up to a billion events a group), plus the texts of numbers too large for those, which
 * exactValue adds in JS (18.16 prints a Decimal128 of 10^21 or more with wrong digits, so no sum is one); MIN, MAX and LATEST show a canonical text chosen by
 * its exact order key. Column names: see the reader's guide in store.ts.
 */
import { groupKeys, readGroupKeys, sumOrAverage } from '../../core/aggregate.js';
import type { AggregateRow, Dimension, MeterQuery } from '../../core/ports.js';
import { windowKeySql, type WindowDialect } from '../sql-dialect.js';
import { type DedupeMode, dedupeCondition } from './races.js';
import { canonicalPath } from './flatten.js';
import { i64, sqlInt, sqlString } from './literals.js';
import { tsvTextArray } from './tsv.js';

/** How ClickHouse spells the window arithmetic of sql-dialect.ts, every operand an Int64. */
export const clickhouseDialect: WindowDialect = {
  cases: (branches, otherwise) => `multiIf(${branches.map(([c, v]) => `${c}, ${v}`).join(', ')}, ${otherwise})`,
  greatest: (a, b) => `greatest(toInt64(${a}), toInt64(${b}))`,
  intDiv: (a, b) => `intDiv(toInt64(${a}), toInt64(${b}))`,
  mod: (a, b) => `modulo(toInt64(${a}), toInt64(${b}))`,
  int: i64,
  // yyyymm of a day number by integer arithmetic (civil_from_days), valid for every year from 0001 to 9999;
  // every operand an Int64 (see i64).
  monthOfDay: (dayExpr) => {
    // The arithmetic names the day about 230 times: a long day expression (a zone's offsets chosen per segment) is
    // bound once, as a lambda's argument, so that the query stays within the server's size limit.
    const bound = dayExpr.length > 64;
    const day = bound ? 'meter_day' : dayExpr;
    const n = (x: number) => i64(String(x));
    const div = (a: string, b: number) => `intDiv(${a}, ${n(b)})`;
    const z = `(toInt64(${day}) + ${n(719468)})`;
    const doe = `(${z} - ${div(z, 146097)} * ${n(146097)})`;
    const yoe = div(`(${doe} - ${div(doe, 1460)} + ${div(doe, 36524)} - ${div(doe, 146096)})`, 365);
    const doy = `(${doe} - (${n(365)} * ${yoe} + ${div(yoe, 4)} - ${div(yoe, 100)}))`;
    const mp = div(`(${n(5)} * ${doy} + ${n(2)})`, 153);
    const m = `(${mp} + multiIf(${mp} < ${n(10)}, ${n(3)}, ${n(-9)}))`;
    const y = `(${yoe} + ${div(z, 146097)} * ${n(400)} + multiIf(${m} <= ${n(2)}, ${n(1)}, ${n(0)}))`;
    const month = `(${y} * ${n(100)} + ${m})`;
    return bound ? `arrayElement(arrayMap(meter_day -> ${month}, [toInt64(${dayExpr})]), 1)` : month;
  },
};

/** Text of a dimension (empty when missing or null): a path into data, or the type column. */
function dimensionSql(dim: Dimension): string {
  if ('column' in dim) return dim.column;
  return `js[indexOf(jp, ${sqlString(canonicalPath(dim.path))})]`;
}

/**
 * The SQL of a meter query (exported for the tests that look at it). Its column count is aggregateColumns; each
 * row is read by readAggregateRow.
 */
export function buildAggregateSql(q: MeterQuery, db: string, dedupe: DedupeMode): string {
  const where: string[] = [];
  const m = q.meter;
  if (m.eventType !== null) where.push(`type = ${sqlString(m.eventType)}`);
  if (q.fromMs !== undefined) where.push(`time_ms >= ${i64(sqlInt(q.fromMs))}`);
  if (q.toMs !== undefined) where.push(`time_ms < ${i64(sqlInt(q.toMs))}`);
  if (q.subjects.length > 0) where.push(`subject IN (${q.subjects.map(sqlString).join(', ')})`);
  for (const f of q.filters) where.push(`${dimensionSql(f.dimension)} IN (${f.values.map(sqlString).join(', ')})`);
  const dd = dedupeCondition(db, dedupe);
  if (dd) where.push(dd);
  const cols: string[] = [];
  const keys: string[] = [];
  for (const k of groupKeys(q)) {
    const name = k.kind === 'window' ? '_w' : k.kind === 'subject' ? '_s' : `_g${k.index}`;
    const sql =
      k.kind === 'window'
        ? windowKeySql(q.window!, 'time_ms', clickhouseDialect)
        : k.kind === 'subject'
          ? 'subject'
          : dimensionSql(k.dimension);
    cols.push(`${sql} AS ${name}`);
    keys.push(name);
  }
  let values: string[];
  if (m.aggregation === 'COUNT' || m.valueProperty === undefined) {
    values = ['toString(count())'];
  } else if (m.aggregation === 'UNIQUE_COUNT') {
    const i = `indexOf(jp, ${sqlString(canonicalPath(m.valueProperty))})`;
    values = [`toString(uniqExactIf(js[${i}], jk[${i}] = 1))`];
  } else {
    // The value's index in the numeric arrays, written out in each use (ClickHouse computes it once).
    const i = `indexOf(np, ${sqlString(canonicalPath(m.valueProperty))})`;
    // What MIN, MAX and LATEST show: the canonical decimal text, chosen by its exact order key.
    const shown = `nt[${i}]`;
    switch (m.aggregation) {
      case 'SUM':
      case 'AVG':
        values = [
          ...halves(`ni[${i}]`, `${i} > 0 AND nx[${i}] = 1`),
          ...halves(`nf[${i}]`, `${i} > 0 AND nx[${i}] = 1`),
          `groupArrayIf(nt[${i}], ${i} > 0 AND nx[${i}] = 0)`,
          `toString(countIf(${i} > 0))`,
        ];
        break;
      case 'MIN':
        values = [`argMinIf(${shown}, nk[${i}], ${i} > 0)`, `toString(countIf(${i} > 0))`];
        break;
      case 'MAX':
        values = [`argMaxIf(${shown}, nk[${i}], ${i} > 0)`, `toString(countIf(${i} > 0))`];
        break;
      case 'LATEST':
        // The value of the latest event that has one; equal times: the later stored copy (as SQLite's seq).
        values = [`argMax(${shown}, (${i} > 0, time_ms, ingested_ms, seq))`, `toString(countIf(${i} > 0))`];
        break;
      default:
        throw new Error(`unknown aggregation ${m.aggregation as string}`);
    }
  }
  const select = [...cols, ...values.map((v, i) => `${v} AS _v${i}`), 'min(time_ms) AS _t0', 'max(time_ms) AS _t1'];
  return (
    `SELECT ${select.join(', ')} FROM ${db}.events${where.length ? ' WHERE ' + where.join(' AND ') : ''}` +
    (keys.length ? ` GROUP BY ${keys.join(', ')}` : '') +
    // A group exists only if it has events: without GROUP BY an aggregate over no rows is still one row.
    ' HAVING count() > 0' +
    (keys.length ? ` ORDER BY ${keys.join(', ')}` : '')
  );
}

/**
 * The sums of an Int64 column's 9-digit halves (v = hi * 10^9 + lo, whatever intDiv's rounding): each fits an
 * Int64 sum for up to about a billion values, where the sum of the whole values would not.
 */
function halves(v: string, cond: string): string[] {
  const hi = `intDiv(${v}, ${i64('1000000000')})`;
  return [`toString(sumIf(${hi}, ${cond}))`, `toString(sumIf(${v} - ${hi} * ${i64('1000000000')}, ${cond}))`];
}

const joinHalves = (hi: string, lo: string): bigint => BigInt(hi) * 1_000_000_000n + BigInt(lo);

/**
 * Exact SUM or AVG from the parts a query returns: the integer parts' and the fractions' (x 1e-18) sums as their
 * halves' sums (see halves), the texts of the other numbers, and the count.
 */
export function exactValue(
  agg: 'SUM' | 'AVG',
  [intHi, intLo, fracHi, fracLo]: [string, string, string, string],
  rest: string[],
  count: number,
): string | null {
  const intSum = joinHalves(intHi, intLo).toString(),
    fracSum = joinHalves(fracHi, fracLo);
  return sumOrAverage(agg, fracSum === 0n ? [intSum, ...rest] : [intSum, `${fracSum}e-18`, ...rest], count);
}

/** How many value columns buildAggregateSql gives the query's aggregation. */
function valueColumns(q: MeterQuery): number {
  const agg = q.meter.aggregation;
  const counting = agg === 'COUNT' || q.meter.valueProperty === undefined;
  return counting || agg === 'UNIQUE_COUNT' ? 1 : agg === 'SUM' || agg === 'AVG' ? 6 : 2;
}

/** How many columns a row of buildAggregateSql has: window, subject, group-by texts, values, first and last time. */
export function aggregateColumns(q: MeterQuery): number {
  return (q.window ? 1 : 0) + (q.perSubject ? 1 : 0) + q.groupBy.length + valueColumns(q) + 2;
}

/** One row of buildAggregateSql (TabSeparated fields) as the Store's AggregateRow. */
export function readAggregateRow(q: MeterQuery, r: string[]): AggregateRow {
  const agg = q.meter.aggregation;
  const nValues = valueColumns(q);
  const { windowStart, subject, groups, next } = readGroupKeys(q, r);
  let i = next;
  let value: string | null;
  if (nValues === 1) value = r[i]!;
  else if (nValues === 6)
    value = exactValue(agg as 'SUM' | 'AVG', [r[i]!, r[i + 1]!, r[i + 2]!, r[i + 3]!], tsvTextArray(r[i + 4]!), Number(r[i + 5]));
  else value = r[i + 1] === '0' ? null : r[i]!;
  i += nValues;
  return { windowStart, subject, groups, value, firstMs: Number(r[i]), lastMs: Number(r[i + 1]) };
}
