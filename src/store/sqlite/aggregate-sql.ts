/**
 * The SQL of a meter query over the SQLite store. Every value from the query (event type, time bounds, subjects,
 * filter values, JSON paths) is a bound parameter; only numbers of the window plan (sql-dialect.ts) are spliced in.
 *
 * Exact values: SQLite sums 64-bit integers itself; every other number (reals, numeric strings, integers past
 * 2^63) reaches meter_dsum, meter_dmin or meter_dmax (functions.ts) as its literal text and is added in decimal.
 * SumMode says how much of that a query attempts: SqliteStore.aggregate starts with the cheapest and falls over to
 * the next when a group needs it.
 */
import { groupKeys } from '../../core/aggregate.js';
import type { Dimension, MeterQuery } from '../../core/ports.js';
import { windowKeySql, type WindowDialect } from '../sql-dialect.js';

/** How SQLite spells the window arithmetic of sql-dialect.ts. */
export const sqliteDialect: WindowDialect = {
  cases: (branches, otherwise) => `CASE ${branches.map(([c, v]) => `WHEN ${c} THEN ${v}`).join(' ')} ELSE ${otherwise} END`,
  greatest: (a, b) => `max(${a}, ${b})`,
  intDiv: (a, b) => `(${a} / ${b})`,
  monthOfDay: (day) => `CAST(strftime('%Y%m', ${day} * 86400, 'unixepoch') AS INTEGER)`,
};

/** Past this many offset segments the window key is computed by a JS function instead of a CASE. */
export const MAX_CASE_SEGMENTS = 48;

/**
 * SQL that keeps the rows of the given subjects: their seqs from subject_rows (only lists whose time span meets
 * @from..@to when those are set), so SQLite fetches those rows by seq instead of scanning the table.
 */
/**
 * Binds `values` as parameters `@<prefix>0`, `@<prefix>1`... and gives their list for an IN. A long list (40,000
 * subjects) is bound as one JSON array read by json_each instead: SQLite takes at most 32,766 parameters.
 */
export function boundList(values: readonly string[], prefix: string, params: Record<string, unknown>): string {
  if (values.length > MAX_BOUND_LIST) {
    params[`${prefix}json`] = JSON.stringify(values);
    return `SELECT value FROM json_each(@${prefix}json)`;
  }
  return values.map((v, i) => ((params[`${prefix}${i}`] = v), `@${prefix}${i}`)).join(', ');
}

/** Past this many values an IN list is bound as one JSON array (see boundList). */
const MAX_BOUND_LIST = 1000;

export function subjectsSql(subjects: string[], params: Record<string, unknown>, subjectRows: boolean): string {
  const list = boundList(subjects, 's', params);
  if (!subjectRows) return `subject IN (${list})`; // a version 1 store: its index on (subject, time_ms)
  const span = [...('from' in params ? ['p.max_time >= @from'] : []), ...('to' in params ? ['p.min_time < @to'] : [])];
  return (
    `seq IN (SELECT j.value FROM subject_rows p, json_each(p.seqs) j WHERE p.subject IN (${list})` +
    `${span.map((c) => ' AND ' + c).join('')}) AND subject IN (${list})`
  );
}

/**
 * SQL of a dimension's text value (empty when missing or null): a string's value, and the JSON text of anything
 * else, which in canonical data is a number's canonical decimal, `true`/`false`, or an object's canonical text.
 * `p` is the parameter holding its JSON path.
 */
export function dimensionSql(dim: Dimension, p: string): string {
  if ('column' in dim) return dim.column;
  return `coalesce(CASE json_type(data, ${p}) WHEN 'text' THEN data ->> ${p} WHEN 'null' THEN NULL ELSE data -> ${p} END, '')`;
}

/** SQL of a value's text for UNIQUE_COUNT: scalars only, as dimensionSql gives them (1, 1.0 and "1" are one value). */
function uniqueSql(p: string): string {
  return (
    `CASE json_type(data, ${p}) WHEN 'text' THEN data ->> ${p} ` +
    `WHEN 'integer' THEN data -> ${p} WHEN 'real' THEN data -> ${p} WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' END`
  );
}

/**
 * The columns an exact aggregate reads of a value: t, its JSON type; x, its SQL value; j, its JSON text, so that
 * a number reaches the decimal functions with every digit (0.12345678901234567890 and 2^63 keep them all).
 */
export const EXACT_VALUES = ['json_type(data, @vp) AS t', 'data ->> @vp AS x', 'data -> @vp AS j'];
/** A value for the integer fast paths: the integer, or a REAL 0.0 for any other value that may count. */
const FAST_VALUE = `CASE json_type(data, @vp) WHEN 'integer' THEN data ->> @vp WHEN 'real' THEN 0.0 WHEN 'text' THEN 0.0 END AS v`;
/** The value's text: a string's own, a number's literal. */
export const LITERAL = `CASE t WHEN 'text' THEN x ELSE j END`;
/** A JSON integer SQLite holds as a 64-bit integer (not one past 2^63, which it reads as a double). */
export const INT64 = `t = 'integer' AND typeof(x) = 'integer'`;
export const NUMERIC = `t IN ('integer', 'real', 'text')`;

/** SQL of a meter value's exact decimal text, NULL when it does not count (see decimalText). */
export function exactTextSql(p: string): string {
  return `meter_dec(CASE json_type(data, ${p}) WHEN 'text' THEN data ->> ${p} WHEN 'integer' THEN data -> ${p} WHEN 'real' THEN data -> ${p} END)`;
}

/**
 * How SUM, AVG, MIN and MAX are computed: 'fast' takes integers in SQLite and only checks that nothing else is
 * there; 'exact' takes every other number in decimal; 'decimal' sums everything in decimal (past 2^63).
 */
export type SumMode = 'fast' | 'exact' | 'decimal';

/** Thrown by a 'fast' sum that met a value it cannot sum exactly. */
export class NeedsExactSum extends Error {}

/**
 * The conditions of a range [fromMs, toMs) (either may be absent) on a time column, epoch ms: `col >= @from`,
 * `col < @to`, their values put in `params`.
 */
export function rangeSql(col: string, r: { fromMs?: number; toMs?: number }, params: Record<string, unknown>): string[] {
  const where: string[] = [];
  if (r.fromMs !== undefined) {
    params.from = r.fromMs;
    where.push(`${col} >= @from`);
  }
  if (r.toMs !== undefined) {
    params.to = r.toMs;
    where.push(`${col} < @to`);
  }
  return where;
}

/** The SQL and parameters of a meter query; each row is read by readAggregateRow (aggregate-rows.ts). */
export function buildAggregateSql(
  q: MeterQuery,
  opts: { jsWindow: boolean; mode: SumMode; subjectRows?: boolean },
): { sql: string; params: Record<string, unknown>; groupCount: number } {
  const params: Record<string, unknown> = {};
  const where: string[] = [];
  const m = q.meter;
  if (m.eventType !== null) {
    params.type = m.eventType;
    where.push('type = @type');
  }
  where.push(...rangeSql('time_ms', q, params));
  if (q.subjects.length > 0) where.push(subjectsSql(q.subjects, params, opts.subjectRows ?? true));
  q.filters.forEach((f, i) => {
    if ('path' in f.dimension) params[`fp${i}`] = f.dimension.path;
    where.push(`${dimensionSql(f.dimension, `@fp${i}`)} IN (${boundList(f.values, `fv${i}_`, params)})`);
  });
  const cols: string[] = [];
  const keys: string[] = [];
  for (const k of groupKeys(q)) {
    if (k.kind === 'window') {
      cols.push(`${opts.jsWindow ? 'meter_window(time_ms)' : windowKeySql(q.window!, 'time_ms', sqliteDialect)} AS w`);
      keys.push('w');
    } else if (k.kind === 'subject') {
      cols.push('subject AS s');
      keys.push('s');
    } else {
      const { dimension: g, index: i } = k;
      if ('path' in g) params[`g${i}`] = g.path;
      cols.push(`${dimensionSql(g, `@g${i}`)} AS g${i}`);
      keys.push(`g${i}`);
    }
  }
  if (m.valueProperty !== undefined) params.vp = m.valueProperty;
  const filter = where.length ? ' WHERE ' + where.join(' AND ') : '';
  const keyList = keys.join(', ');
  const order = keys.length ? ` ORDER BY ${keyList}` : '';
  const lead = keys.length ? keyList + ', ' : '';
  let sql: string;
  if (m.aggregation === 'LATEST') {
    // The value of the latest event (by time, then ingestion order) that has a usable one.
    const part = keys.length ? `PARTITION BY ${keyList} ` : '';
    const inner = `SELECT ${[...cols, 'time_ms AS t', 'seq', `${exactTextSql('@vp')} AS v`].join(', ')} FROM events${filter} LIMIT -1`;
    sql =
      `SELECT ${lead}v, first_t, last_t FROM (SELECT ${lead}v, ` +
      `row_number() OVER (${part}ORDER BY v IS NOT NULL DESC, t DESC, seq DESC) AS rn, ` +
      `min(t) OVER (${part}) AS first_t, max(t) OVER (${part}) AS last_t FROM (${inner})) WHERE rn = 1${order}`;
  } else {
    // Each row's group keys and the values the aggregate needs are computed in a subquery, which LIMIT -1 keeps
    // from being merged into the outer query: then GROUP BY sorts those few columns instead of whole rows with
    // their JSON.
    // SUM and AVG are exact: integers summed by SQLite (to 2^63), the rest by meter_dsum in decimal. Integer sums
    // travel as text: exact at any size, and no BigInt for every row read.
    let values: string[];
    let agg: string;
    if (m.aggregation === 'COUNT') {
      values = [];
      agg = 'count(*)';
    } else if (m.aggregation === 'UNIQUE_COUNT') {
      values = [`${uniqueSql('@vp')} AS u`];
      agg = 'count(DISTINCT u)';
    } else if (m.aggregation === 'MIN' || m.aggregation === 'MAX') {
      // SQLite's min/max of the 64-bit integers (exact), and of the rest by exact decimal order in JS: a REAL
      // comparison would tie 9223372036854775807 with 9223372036854775808.
      const fn = m.aggregation.toLowerCase();
      if (opts.mode === 'fast') {
        // Integers only (the usual case): SQLite's min/max, with a flag for a group holding anything else.
        values = [FAST_VALUE];
        agg = `${fn}(v) FILTER (WHERE typeof(v) = 'integer'), count(v) FILTER (WHERE typeof(v) != 'integer') > 0, 0`;
      } else {
        values = EXACT_VALUES;
        agg = `${fn}(x) FILTER (WHERE ${INT64}), meter_d${fn}(${LITERAL}) FILTER (WHERE ${NUMERIC} AND NOT (${INT64})), 0`;
      }
    } else if (opts.mode === 'fast') {
      // A value this cannot sum exactly (a JSON real or string) adds a REAL 0.0, and SQLite's sum of anything but
      // integers is a REAL: so the sum is an integer exactly when every value was one (a JSON integer past 2^63
      // comes through as a REAL too, and +Inf plus -Inf, from integers of 309 digits and more, sums to NULL). The
      // second column says whether the group held anything else: then the query runs again in 'exact' mode. Two
      // JSON look-ups a row.
      values = [FAST_VALUE];
      agg = `CAST(sum(v) AS TEXT), typeof(sum(v)) != 'integer' AND count(v) > 0, 0`;
    } else {
      values = EXACT_VALUES;
      agg =
        opts.mode === 'exact'
          ? `CAST(sum(x) FILTER (WHERE ${INT64}) AS TEXT), meter_dsum(${LITERAL}) FILTER (WHERE ${NUMERIC} AND NOT (${INT64})), ` +
            `count(*) FILTER (WHERE ${INT64})`
          : `0, meter_dsum(${LITERAL}) FILTER (WHERE ${NUMERIC}), 0`;
    }
    // The first and last event time are shown only by queries without windows.
    const times = q.window ? [] : ['time_ms'];
    const rowCols = [...cols, ...values, ...times];
    const inner = `SELECT ${rowCols.length ? rowCols.join(', ') : '1'} FROM events${filter} LIMIT -1`;
    // Without group keys an aggregate gives one row even over no events: a result has no row for no events.
    sql =
      `SELECT ${[...keys, agg, ...(q.window ? [] : ['min(time_ms)', 'max(time_ms)'])].join(', ')} FROM (${inner})` +
      `${keys.length ? ' GROUP BY ' + keyList : ' HAVING count(*) > 0'}${order}`;
  }
  return { sql, params, groupCount: q.groupBy.length };
}
