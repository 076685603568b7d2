/**
 * The SQL of rollups: a meter's events pre-aggregated per subject, group values and UTC bucket (level 0: 15
 * minutes, level 1: a UTC day; and per subject and UTC hour in the hour table), kept in tables of state rows that
 * merge exactly (see rollup.ts for when they are built and read). A state row holds, besides the bucket's key:
 * - n, t0, t1: the number of events and their first and last time (AggregateRow.firstMs/lastMs);
 * - iv, cv, xv, by aggregation:
 *   SUM, AVG: the sum and count of the values SQLite holds as 64-bit integers, and the exact decimal "sum count"
 *   of the others (meter_dsum's result: reals, numeric strings, integers past 2^63);
 *   MIN, MAX: the least (greatest) 64-bit integer, and the least (greatest) other value as exact decimal text;
 *   LATEST: the seq, time and exact value of the latest event with a usable value (NULL when none has one);
 *   COUNT: nothing.
 * Merging state rows is the same arithmetic as reading events (meter_dmerge adds decimal parts), so an answer
 * from rollups equals the raw answer to the last digit. A sum of 64-bit integers past 2^63 fails in SQLite with
 * "integer overflow"; the statement then runs again in 'decimal' mode, which moves every integer into the decimal
 * part. A catch-up aggregates a chunk of events in 'fast' mode first (EventMode), which gives the same rows when
 * every value is a 64-bit integer.
 */
import type { Aggregation } from '../../core/meter.js';
import { DAY_MS, EPOCH_SHIFT_MS, MINUTE_MS } from '../../core/window.js';
import { EXACT_VALUES, exactTextSql, INT64, LITERAL, NUMERIC } from './aggregate-sql.js';

/** Level 0 buckets: 15 minutes serve hour, day and month windows in every zone whose offsets are whole quarter hours. */
export const BUCKET_MS = 15 * MINUTE_MS;
export const LEVEL_MS = [BUCKET_MS, DAY_MS] as const;

export type MergeMode = 'exact' | 'decimal';

/**
 * How a catch-up aggregates events: as a MergeMode, or 'fast' (SUM, AVG, MIN, MAX): 64-bit integers only, read
 * with one JSON look-up a row, which stops at the first value that is not a JSON integer (meter_inexact) and counts
 * in `fx` the JSON integers SQLite reads as doubles (past 2^63). Either sends the chunk to 'exact' mode; without
 * them the state rows are those of 'exact' mode.
 */
export type EventMode = MergeMode | 'fast';

/** The aggregations a 'fast' catch-up serves. */
export const FAST_AGGREGATIONS: ReadonlySet<Aggregation> = new Set(['SUM', 'AVG', 'MIN', 'MAX']);

/** The value of a 'fast' catch-up: a JSON integer's (a double past 2^63), NULL for none; any other number stops it. */
const FAST_EVENT_VALUE =
  "CASE json_type(data, @vp) WHEN 'integer' THEN data ->> @vp WHEN 'real' THEN meter_inexact() WHEN 'text' THEN meter_inexact() END AS v";

/** The state columns, in table order. */
export const STATE = ['n', 't0', 't1', 'iv', 'cv', 'xv'];

/** The bucket start (UTC ms) of a time column, for a bucket length that divides a day. */
export function bucketSql(col: string, ms: number): string {
  return `(${col} - ((${col} + ${EPOCH_SHIFT_MS}) % ${ms}))`;
}

/**
 * State columns (n, t0, t1, iv, cv, xv) of a group of event rows (an inner query with EXACT_VALUES and time_ms),
 * for every aggregation but LATEST (see latestSql).
 */
function eventStateSql(agg: Aggregation, mode: EventMode): string {
  const head = 'count(*) AS n, min(time_ms) AS t0, max(time_ms) AS t1';
  if (mode === 'fast' && FAST_AGGREGATIONS.has(agg)) {
    const ints = "FILTER (WHERE typeof(v) = 'integer')";
    const fx = "count(v) FILTER (WHERE typeof(v) != 'integer') AS fx";
    if (agg === 'SUM' || agg === 'AVG') return `${head}, sum(v) ${ints} AS iv, count(v) ${ints} AS cv, NULL AS xv, ${fx}`;
    return `${head}, ${agg.toLowerCase()}(v) ${ints} AS iv, NULL AS cv, NULL AS xv, ${fx}`;
  }
  if (agg === 'SUM' || agg === 'AVG') {
    if (mode === 'decimal') {
      return `${head}, NULL AS iv, 0 AS cv, CASE WHEN count(*) FILTER (WHERE ${NUMERIC}) > 0 THEN meter_dsum(${LITERAL}) FILTER (WHERE ${NUMERIC}) END AS xv`;
    }
    const others = `${NUMERIC} AND NOT (${INT64})`;
    return (
      `${head}, sum(x) FILTER (WHERE ${INT64}) AS iv, count(*) FILTER (WHERE ${INT64}) AS cv, ` +
      `CASE WHEN count(*) FILTER (WHERE ${others}) > 0 THEN meter_dsum(${LITERAL}) FILTER (WHERE ${others}) END AS xv`
    );
  }
  if (agg === 'MIN' || agg === 'MAX') {
    const fn = agg.toLowerCase();
    return `${head}, ${fn}(x) FILTER (WHERE ${INT64}) AS iv, NULL AS cv, meter_d${fn}(${LITERAL}) FILTER (WHERE ${NUMERIC} AND NOT (${INT64})) AS xv`;
  }
  return `${head}, NULL AS iv, NULL AS cv, NULL AS xv`;
}

/** The values an inner event query reads for eventStateSql. */
export function eventValuesSql(agg: Aggregation, mode: EventMode = 'exact'): string[] {
  if (agg === 'COUNT') return [];
  if (agg === 'LATEST') return [`${exactTextSql('@vp')} AS v`, 'seq'];
  return mode === 'fast' ? [FAST_EVENT_VALUE] : EXACT_VALUES;
}

/**
 * The merge of state rows (columns n, t0, t1, iv, cv, xv) into one per group, for every aggregation but LATEST.
 * `mode` 'decimal' moves the integer sums into the decimal part (their sum may pass 2^63).
 */
function mergeStateSql(agg: Aggregation, mode: MergeMode): string {
  const head = 'sum(n) AS n, min(t0) AS t0, max(t1) AS t1';
  if (agg === 'SUM' || agg === 'AVG') {
    return mode === 'exact'
      ? `${head}, sum(iv) AS iv, sum(cv) AS cv, meter_dmerge(xv) FILTER (WHERE xv IS NOT NULL) AS xv`
      : `${head}, NULL AS iv, 0 AS cv, meter_dmerge(xv, CASE WHEN cv > 0 THEN CAST(iv AS TEXT) || ' ' || cv END) AS xv`;
  }
  if (agg === 'MIN' || agg === 'MAX') {
    const fn = agg.toLowerCase();
    return `${head}, ${fn}(iv) AS iv, NULL AS cv, meter_d${fn}(xv) FILTER (WHERE xv IS NOT NULL) AS xv`;
  }
  return `${head}, NULL AS iv, NULL AS cv, NULL AS xv`;
}

/**
 * LATEST: per group of `keys`, the row that is latest by (has a value, time, seq), with the group's count and
 * time span. `rows` has the keys and columns named by `c`.
 */
function latestSql(rows: string, keys: string[], c: { n: string; t0: string; t1: string; seq: string; t: string; v: string }): string {
  const part = keys.length ? `PARTITION BY ${keys.join(', ')} ` : '';
  const lead = keys.length ? keys.join(', ') + ', ' : '';
  return (
    `SELECT ${lead}n, t0, t1, CASE WHEN xv IS NOT NULL THEN iv END AS iv, CASE WHEN xv IS NOT NULL THEN cv END AS cv, xv FROM (` +
    `SELECT ${lead}sum(${c.n}) OVER (${part}) AS n, min(${c.t0}) OVER (${part}) AS t0, max(${c.t1}) OVER (${part}) AS t1, ` +
    `${c.seq} AS iv, ${c.t} AS cv, ${c.v} AS xv, ` +
    `row_number() OVER (${part}ORDER BY ${c.v} IS NOT NULL DESC, ${c.t} DESC, ${c.seq} DESC) AS rn FROM (${rows})) WHERE rn = 1`
  );
}

/** State rows per `keys` of event rows (an inner query giving the keys, eventValuesSql and time_ms). */
export function eventGroupSql(agg: Aggregation, mode: EventMode, rows: string, keys: string[]): string {
  if (agg === 'LATEST') return latestSql(rows, keys, { n: '1', t0: 'time_ms', t1: 'time_ms', seq: 'seq', t: 'time_ms', v: 'v' });
  return `SELECT ${[...keys, eventStateSql(agg, mode)].join(', ')} FROM (${rows}) GROUP BY ${keys.join(', ')}`;
}

/** State rows per `keys` of state rows (an inner query giving the keys and the state columns). */
export function mergeGroupSql(agg: Aggregation, mode: MergeMode, rows: string, keys: string[]): string {
  if (agg === 'LATEST') return latestSql(rows, keys, { n: 'n', t0: 't0', t1: 't1', seq: 'iv', t: 'cv', v: 'xv' });
  const group = keys.length ? ` GROUP BY ${keys.join(', ')}` : ' HAVING count(*) > 0';
  return `SELECT ${[...keys, mergeStateSql(agg, mode)].join(', ')} FROM (${rows})${group}`;
}

/**
 * The columns readAggregateRow (aggregate-rows.ts, mode 'exact') reads after the keys, from a merged state row:
 * the same parts the raw SQL gives.
 */
export function resultColumns(agg: Aggregation, mode: MergeMode): string[] {
  if (agg === 'SUM' || agg === 'AVG') {
    return mode === 'exact' ? ['CAST(iv AS TEXT)', 'xv', 'cv'] : ["'0'", 'xv', '0'];
  }
  if (agg === 'MIN' || agg === 'MAX') return ['iv', 'xv', '0'];
  if (agg === 'LATEST') return ['xv'];
  return ['n'];
}
