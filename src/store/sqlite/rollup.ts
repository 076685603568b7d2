/**
 * Rollups: a meter's events pre-aggregated into exact state rows (rollup-sql.ts) per subject, group values and UTC
 * bucket, so that a query reads about days x subjects rows instead of every event.
 *
 * - One rollup per meter definition (event type, aggregation, value path, group-by dimensions): the definition's
 *   text is its key in `rollups`, so a changed meter gets a new rollup, built from the first event.
 * - Two levels in one table `rollup_<id>`: 15-minute buckets (level 0) and UTC days (level 1); and an hour table
 *   `rollup_<id>_h`: per UTC hour and subject, every group value merged, keyed (hour, subject). An hourly query per
 *   subject reads it in key order, one row per output row, without grouping or sorting (servesHours).
 * - Kept up to `rollups.seq`, a watermark on the events' seq (their rowid: SQLite's single writer assigns it in
 *   commit order, so every row up to max(seq) is committed and a later commit only adds rows above it). Catching
 *   up aggregates the rows above the watermark and merges them into the stored state rows, in one write
 *   transaction with the new watermark. The store is append-only: a stored row never changes.
 * - A query catches up first (when the store file is writable and no other writer holds the lock), then reads the
 *   rollup together with its tail: the events above its watermark up to max(seq) in the query's own snapshot,
 *   aggregated as a catch-up would. A tail longer than the rollup is not worth it: the query reads the events.
 * - What a rollup serves is decided from the query (planRollup): UNIQUE_COUNT, minute windows, a --from/--to off
 *   the quarter hour and window plans with a boundary off the quarter hour (zone offsets of whole minutes) read
 *   the events. A UTC day is read at level 1 when it lies in one window and inside the range.
 */
import type Database from 'better-sqlite3';
import type { Dimension, MeterQuery } from '../../core/ports.js';
import { DAY_MS, HOUR_MS, type WindowPlan } from '../../core/window.js';
import { windowKeySql } from '../sql-dialect.js';
import { boundList, rangeSql, sqliteDialect } from './aggregate-sql.js';
import { eventRowsSql, gcols, hoursOf, tableOf } from './rollup-catchup.js';
import { BUCKET_MS, eventGroupSql, mergeGroupSql, resultColumns, STATE, type MergeMode } from './rollup-sql.js';

/**
 * A stored rollup as one snapshot sees it: its id, its events' time span, its number of events and of 15-minute
 * rows, its watermark `seq` and the snapshot's max(seq) `top` (the events above the watermark are its tail).
 */
export interface StoredRollup {
  id: number;
  /**
   * Rows of the hour table. Read so that a catalogue of an older layout (no hour tables) fails the read and is
   * never taken for one of this layout.
   */
  hours: number;
  minMs: number | null;
  maxMs: number | null;
  events: number;
  rows0: number;
  seq: number;
  top: number;
}

/** What a rollup is kept for: everything of a meter that decides its state rows. */
export interface RollupDef {
  key: string;
  eventType: string | null;
  aggregation: MeterQuery['meter']['aggregation'];
  valueProperty?: string;
  dims: Dimension[];
}

/** A query a rollup can answer: its definition and where the query's dimensions are among the rollup's. */
export interface RollupPlan {
  def: RollupDef;
  groupIdx: number[];
  filterIdx: number[];
}

const mod = (a: number, m: number) => ((a % m) + m) % m;

/** The rollup definition of a query's meter: its group-by paths, and the event type when the meter counts every type. */
export function rollupDef(q: MeterQuery): RollupDef {
  const m = q.meter;
  const dims: Dimension[] = m.groupBy.map((g) => ({ key: g.key, path: g.path }));
  if (m.eventType === null) dims.push({ key: 'type', column: 'type' });
  const key = JSON.stringify({
    type: m.eventType,
    aggregation: m.aggregation,
    value: m.valueProperty ?? null,
    dims: dims.map((d) => ('path' in d ? d.path : `#${d.column}`)),
  });
  return { key, eventType: m.eventType, aggregation: m.aggregation, valueProperty: m.valueProperty, dims };
}

/** The rollup plan of a query, or null when the query reads the events (see the file's comment). */
export function planRollup(q: MeterQuery): RollupPlan | null {
  if (q.noRollup || q.meter.aggregation === 'UNIQUE_COUNT') return null;
  for (const t of [q.fromMs, q.toMs]) if (t !== undefined && mod(t, BUCKET_MS) !== 0) return null;
  const w = q.window;
  if (w !== null) {
    if (w.size === 'MINUTE') return null;
    for (const s of w.segments) {
      if (mod(s.offsetMs, BUCKET_MS) !== 0 || (s.start !== -Infinity && mod(s.start, BUCKET_MS) !== 0)) return null;
    }
  }
  const def = rollupDef(q);
  const same = (a: Dimension, b: Dimension) => ('path' in a && 'path' in b ? a.path === b.path : 'column' in a && 'column' in b);
  const idx = (d: Dimension) => def.dims.findIndex((x) => same(x, d));
  const groupIdx = q.groupBy.map(idx),
    filterIdx = q.filters.map((f) => idx(f.dimension));
  if ([...groupIdx, ...filterIdx].some((i) => i < 0)) return null;
  return { def, groupIdx, filterIdx };
}

/**
 * The rollup of `def` in the connection's current snapshot, when a query may read it: its tail (the events above
 * its watermark, which the query aggregates from the events) is no longer than what it holds, so that reading
 * it is cheaper than reading the events. A rollup is read with its tail when a catch-up could not run (a store
 * this process cannot write, an ingest holding the lock) or an ingest committed since.
 */
export function storedRollup(db: Database.Database, def: RollupDef): StoredRollup | null {
  const has = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'rollups'").get();
  if (has === undefined) return null;
  const r = db
    .prepare(
      'SELECT id, seq, min_time AS minMs, max_time AS maxMs, events, rows0, hours, (SELECT coalesce(max(seq), 0) FROM events) AS top FROM rollups WHERE def = ?',
    )
    .get(def.key) as StoredRollup | undefined;
  return r !== undefined && r.seq > 0 && r.top - r.seq <= Math.max(r.events, 10_000) ? r : null;
}

/**
 * Whether a query is answered faster from the rollup than from the events. A query that reads only the 15-minute
 * level reads about as many rows as there are events when a meter's groups hold about one event per quarter hour
 * (1,000 subjects x 4 models over a month at 1M events), and each state row costs more than an event's values:
 * such a store's events are read instead. (Small stores read the rollup: either is fast there.)
 */
export function rollupPays(q: MeterQuery, rollup: StoredRollup): boolean {
  if (servesHours(q) || rollup.events < SMALL_STORE || rollup.rows0 * 2 <= rollup.events) return true;
  return levelRanges(q, rollup).days.length > 0;
}

/**
 * Whether a query catches up the rollup of `def`: always one that exists; a new one only when the query would read
 * it (rollupPays). A query that reads only the 15-minute level (hour windows) reads a new rollup only when that
 * level holds at most half a row per event. That level holds one row per subject, quarter hour with events and
 * group values, so at most, per subject, the fewer of its events and the quarter hours of its time span: only
 * when that bound is at most half the events does such a query build the rollup; otherwise it reads the events
 * and builds nothing. (At 1M
 * events of 1,000 subjects over 30 days, building the rollup took 4.5 s that the first hourly query then never
 * used.) A day, month or unwindowed query builds it, and hourly queries read it from then on where it pays.
 */
export function startsRollup(db: Database.Database, q: MeterQuery, def: RollupDef): boolean {
  const catalogue = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'rollups'").get();
  if (servesHours(q)) return true;
  if (catalogue !== undefined && db.prepare('SELECT 1 FROM rollups WHERE def = ?').get(def.key) !== undefined) return true;
  const s = db
    .prepare(
      `SELECT sum(n) AS events, sum(min(n, (hi - lo) / ${BUCKET_MS} + 2)) AS cells, min(lo) AS minMs, max(hi) AS maxMs ` +
        'FROM (SELECT sum(n) AS n, min(min_time) AS lo, max(max_time) AS hi FROM subject_rows GROUP BY subject)',
    )
    .get() as { events: number | null; cells: number | null; minMs: number | null; maxMs: number | null };
  if (s.events === null || s.events < SMALL_STORE || levelRanges(q, s).days.length > 0) return true;
  return s.cells! * 2 <= s.events;
}

/** Below this many events either path is fast, and a rollup is read (and built) whatever its density. */
const SMALL_STORE = 50_000;

/**
 * Whether a query reads the hour table: hour windows in a zone whose offsets and their changes fall on whole UTC
 * hours (so each row of the table lies in one window, and window keys grow with the hour), every subject (the table
 * is keyed by hour first), no group-by or filter (it holds every group value merged), and bounds on the hour. It
 * holds at most a row per event, read in key order without a sort, so such a query always reads (and builds) the
 * rollup: at 1M events of 1,000 subjects, 540,574 rows in about a third of the time the events' 1M take.
 */
export function servesHours(q: MeterQuery): boolean {
  const w = q.window;
  if (w === null || w.size !== 'HOUR' || q.groupBy.length > 0 || q.filters.length > 0 || q.subjects.length > 0) return false;
  for (const t of [q.fromMs, q.toMs]) if (t !== undefined && mod(t, HOUR_MS) !== 0) return false;
  return w.segments.every((s) => mod(s.offsetMs, HOUR_MS) === 0 && (s.start === -Infinity || mod(s.start, HOUR_MS) === 0));
}

/**
 * Where a query reads: the UTC days [start, end) ms, as ranges, that it reads at level 1 (whole days inside its
 * range that lie in one window: within one offset segment, where the window key is monotonic, and with the same
 * key at both ends), and the ranges of its span that it reads at level 0 (the rest).
 */
export function levelRanges(
  q: MeterQuery,
  span: { minMs: number | null; maxMs: number | null },
): { days: Array<[number, number]>; buckets: Array<[number, number]> } {
  if (span.minMs === null || span.maxMs === null) return { days: [], buckets: [] };
  const lo = Math.max(q.fromMs ?? -Infinity, span.minMs - mod(span.minMs, BUCKET_MS));
  const hi = Math.min(q.toMs ?? Infinity, span.maxMs - mod(span.maxMs, BUCKET_MS) + BUCKET_MS);
  if (hi <= lo) return { days: [], buckets: [] };
  const first = Math.ceil(lo / DAY_MS),
    last = Math.floor(hi / DAY_MS); // days [first, last)
  const w = q.window;
  let days: Array<[number, number]> = [];
  if (last > first && w === null) days = [[first * DAY_MS, last * DAY_MS]];
  else if (last > first && last - first <= 50_000) {
    const starts = w!.segments.map((s) => s.start);
    for (let d = first; d < last; d++) {
      const a = d * DAY_MS,
        b = a + DAY_MS;
      if (starts.some((s) => s > a && s < b) || w!.keyOf(a) !== w!.keyOf(b - 1)) continue;
      const prev = days[days.length - 1];
      if (prev !== undefined && prev[1] === a) prev[1] = b;
      else days.push([a, b]);
    }
  }
  if (days.length > 100) days = [];
  const buckets: Array<[number, number]> = [];
  let at = lo;
  for (const [a, b] of days) {
    if (a > at) buckets.push([at, a]);
    at = b;
  }
  if (hi > at) buckets.push([at, hi]);
  return { days, buckets };
}

/** The window key of a rollup row's bucket start `b` (`jsWindow`: through meter_window, see aggregate-sql.ts). */
function bucketWindow(plan: WindowPlan, jsWindow: boolean): string {
  return jsWindow ? 'meter_window(b)' : windowKeySql(plan, 'b', sqliteDialect);
}

/**
 * The SQL of a query over a rollup and its tail: its rows give the keys then resultColumns, as buildAggregateSql's
 * do, so readAggregateRow (mode 'exact') reads both. The tail's events are aggregated into 15-minute state rows
 * as a catch-up would, and merged with the rollup's.
 */
export function buildRollupSql(
  q: MeterQuery,
  plan: RollupPlan,
  rollup: StoredRollup,
  opts: { jsWindow: boolean; mode: MergeMode },
): { sql: string; params: Record<string, unknown> } {
  const params: Record<string, unknown> = {};
  const where = rangeSql('b', q, params);
  if (q.subjects.length > 0) where.push(`s IN (${boundList(q.subjects, 's', params)})`);
  q.filters.forEach((f, i) => where.push(`g${plan.filterIdx[i]} IN (${boundList(f.values, `fv${i}_`, params)})`));
  const cols: string[] = [];
  const keys: string[] = [];
  if (q.window) {
    cols.push(`${bucketWindow(q.window, opts.jsWindow)} AS w`);
    keys.push('w');
  }
  if (q.perSubject) {
    cols.push('s');
    keys.push('s');
  }
  plan.groupIdx.forEach((g, i) => {
    cols.push(`g${g} AS k${i}`);
    keys.push(`k${i}`);
  });
  const agg = q.meter.aggregation;
  const state = [...cols, ...STATE].join(', ');
  let parts: string[];
  if (servesHours(q)) {
    const hours = `${hoursOf(rollup.id)}${where.length ? ' WHERE ' + where.join(' AND ') : ''}`;
    // One stored row per window and subject, whose keys grow with (b, s): read in key order as it is.
    if (q.perSubject && rollup.top === rollup.seq) {
      return { sql: `SELECT ${[...cols, ...resultColumns(agg, 'exact')].join(', ')} FROM ${hours} ORDER BY b, s`, params };
    }
    parts = [`SELECT ${state} FROM ${hours}`];
  } else {
    // One SELECT per range, each an index range per subject: the primary key is (lvl, s, b, ...), and without a
    // subject filter every subject of the store is looked up (subject_rows lists them).
    const { days, buckets } = levelRanges(q, rollup);
    const table = tableOf(rollup.id);
    const subjects = q.subjects.length > 0 ? [] : ['s IN (SELECT DISTINCT subject FROM subject_rows)'];
    const select = (lvl: number, [a, b]: [number, number]) =>
      `SELECT ${state} FROM ${table} WHERE ` + [`lvl = ${lvl}`, ...subjects, ...where, `b >= ${a}`, `b < ${b}`].join(' AND ');
    parts = [...buckets.map((r) => select(0, r)), ...days.map((r) => select(1, r))];
    if (parts.length === 0) parts.push(`SELECT ${state} FROM ${table} WHERE 0`);
  }
  if (rollup.top > rollup.seq) parts.push(tailSql(plan.def, opts.mode, [...cols, ...STATE], where, params, rollup));
  const rows = parts.join(' UNION ALL ');
  const merged = mergeGroupSql(agg, opts.mode, rows, keys);
  const times = q.window ? [] : ['t0', 't1'];
  const order = keys.length ? ` ORDER BY ${keys.join(', ')}` : '';
  const sql = `SELECT ${[...keys, ...resultColumns(agg, opts.mode), ...times].join(', ')} FROM (${merged})${order}`;
  return { sql, params };
}

/** Rows of the hour table in one page of hourPageSql. */
export const HOUR_PAGE_ROWS = 2000;

/** The pages of a read of the hour table (hourPageSql): the SQL of a page and of one row, and the parameters. */
export interface HourPages {
  /**
   * The SQL of the first page (`after` false) or of the page after the key (@pb, @ps); `ordered`: with the order
   * written into the aggregates, which SQLite keeps only there (see hourRows in store.ts).
   */
  sql(after: boolean, ordered: boolean): string;
  /** The SQL of the first row, or of the row after the key (@pb, @ps), whole: `[b, subject, ...values]`. */
  row(after: boolean): string;
  params: Record<string, unknown>;
}

/**
 * The longest subject or value text (in bytes) a page holds: a longer one's row is left out of it (its subject
 * and that value null) and read on its own. A subject may be as long as an event (500 MiB), which a page of 2,000
 * of them could not hold: SQLite refuses a text over 1e9 bytes, and a text past V8's limit (2^29-24 characters)
 * would end the process. So a page's texts stay under 2,000 x 6 x 256 characters each (each escaped as \uXXXX at
 * worst).
 */
export const HOUR_PAGE_TEXT = 256;

/** Integers JSON carries exactly (a double's); a 64-bit integer beyond them goes as text. */
const JSON_SAFE = 'BETWEEN -9007199254740991 AND 9007199254740991';

/**
 * A read of the hour table as it is (servesHours, per subject, no tail) in pages of HOUR_PAGE_ROWS rows in key
 * order, or null for any other query. A page is one row of JSON arrays, a column each: b, the subject, then
 * resultColumns. A row whose subject or value is longer than HOUR_PAGE_TEXT has a null subject there. The window
 * key is b: every window of servesHours starts at a UTC hour, which is b.
 * Handing a row from SQLite to JavaScript costs about 1 us whatever it holds, and an array per column costs SQLite
 * and JSON.parse least: the 540,574 rows of the bench's hourly query take 0.53-0.70 s one at a time, 0.52-0.62 s
 * in pages of a JSON array per row, 0.29-0.31 s in pages of arrays per column.
 */
export function hourPageSql(q: MeterQuery, rollup: StoredRollup): HourPages | null {
  if (!servesHours(q) || !q.perSubject || rollup.top !== rollup.seq) return null;
  const params: Record<string, unknown> = {};
  const where = rangeSql('b', q, params);
  const columns = resultColumns(q.meter.aggregation, 'exact').map((c) => (c === 'CAST(iv AS TEXT)' ? 'iv' : c));
  const short = (c: string) => `octet_length(${c}) <= ${HOUR_PAGE_TEXT}`;
  const inPage = [
    'b',
    `iif(${short('s')} AND coalesce(${short('xv')}, 1), s, NULL)`,
    // A 64-bit integer beyond a double's exact integers goes as text.
    ...columns.map((c) => (c === 'iv' ? `iif(iv ${JSON_SAFE}, iv, CAST(iv AS TEXT))` : c === 'xv' ? `iif(${short('xv')}, xv, NULL)` : c)),
  ];
  const rows = (after: boolean, limit: number) => {
    const cond = [...where, ...(after ? ['(b, s) > (@pb, @ps)'] : [])];
    return `FROM ${hoursOf(rollup.id)}${cond.length ? ' WHERE ' + cond.join(' AND ') : ''} ORDER BY b, s LIMIT ${limit}`;
  };
  return {
    sql: (after, ordered) => {
      const arrays = inPage.map((c) => `json_group_array(${c}${ordered ? ' ORDER BY b, s' : ''})`);
      return `SELECT ${arrays.join(', ')} FROM (SELECT * ${rows(after, HOUR_PAGE_ROWS)})`;
    },
    row: (after) => `SELECT ${['b', 's', ...columns.map((c) => (c === 'iv' ? 'CAST(iv AS TEXT)' : c))].join(', ')} ${rows(after, 1)}`,
    params,
  };
}

/**
 * Whether a page of hourPageSql (its b and subject arrays) is seen in key order as SQLite orders it: (b, s)
 * growing, with subjects below U+D800, whose UTF-16 order (JavaScript's) is SQLite's byte order. Else the page is
 * read again with its order in the aggregates (see hourRows in store.ts).
 */
export function inKeyOrder(b: unknown[], s: unknown[]): boolean {
  let pb = -Infinity,
    ps = '';
  for (let i = 0; i < b.length; i++) {
    const bi = b[i] as number,
      si = s[i];
    if (typeof si !== 'string' || HIGH_UNITS.test(si) || !(bi > pb || (bi === pb && si > ps))) return false;
    pb = bi;
    ps = si;
  }
  return true;
}

/** Code units whose UTF-16 order is not UTF-8's: surrogates sort below U+E000-U+FFFF in UTF-16, above in UTF-8. */
const HIGH_UNITS = /[\ud800-\uffff]/;

/** The tail of a rollup (its events above the watermark, up to `top`) as 15-minute state rows, selected as `out`. */
function tailSql(
  def: RollupDef,
  mode: MergeMode,
  out: string[],
  where: string[],
  params: Record<string, unknown>,
  r: StoredRollup,
): string {
  params.tw = r.seq;
  params.tm = r.top;
  const states = eventGroupSql(def.aggregation, mode, eventRowsSql(def, 'tw', 'tm', params), ['s', 'b', ...gcols(def)]);
  return `SELECT ${out.join(', ')} FROM (${states})${where.length ? ' WHERE ' + where.join(' AND ') : ''}`;
}
