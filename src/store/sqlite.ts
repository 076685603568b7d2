/**
 * The SQLite store: one file, WAL mode, every (source, id) stored once. All SQLite SQL of the project lives here.
 *
 * Dedupe key: a 53-bit hash of (source, id) under a UNIQUE index, which is far smaller and faster to probe than a
 * text key. On a hash hit the stored source and id are compared, so a hash collision never loses an event: the
 * colliding event is stored with a NULL key and found again through the `collisions` table.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { contentFingerprint, fingerprintOf, type UsageEvent } from '../core/event.js';
import { Decimal, decimalText } from '../core/decimal.js';
import { canonicalOrSame } from '../core/json.js';
import { StoreError } from '../errors.js';
import { windowKeySql, type WindowDialect } from './sql-dialect.js';
import {
  RowStatus,
  type AggregateRow,
  type Dimension,
  type EventFilter,
  type MeterQuery,
  type Store,
  type StoredEvent,
  type StoreStats,
  type SubjectSummary,
  type WriteOutcome,
} from './store.js';

/**
 * 2: a subject's rows are found through `subject_rows` instead of an index on (subject, time_ms).
 * 3: `data` is in canonical form (see core/json.ts).
 */
export const SCHEMA_VERSION = 3;

/**
 * Where each subject's rows are: one row per subject per commit, listing the seq of every event of that subject
 * the commit stored. Written in the same transaction as the events. It serves what an index on
 * (subject, time_ms) served (one-subject queries, the subject list) at a fraction of its cost at ingest: an index
 * gets one entry inserted at a random place per event, this gets one row per subject per commit.
 */
const SUBJECT_ROWS = `CREATE TABLE IF NOT EXISTS subject_rows (
  subject TEXT NOT NULL,
  first_seq INTEGER NOT NULL,
  n INTEGER NOT NULL,
  min_time INTEGER NOT NULL,
  max_time INTEGER NOT NULL,
  seqs TEXT NOT NULL,
  PRIMARY KEY (subject, first_seq)
) WITHOUT ROWID;`;

/** Version 1 -> 2: the subject index becomes subject_rows (one row per subject per 200,000 events). */
const MIGRATE_1_TO_2 = `${SUBJECT_ROWS}
INSERT INTO subject_rows (subject, first_seq, n, min_time, max_time, seqs)
  SELECT subject, min(seq), count(*), min(time_ms), max(time_ms), json_group_array(seq)
  FROM (SELECT subject, seq, time_ms FROM events ORDER BY subject, seq) GROUP BY subject, seq / 200000;
DROP INDEX IF EXISTS events_subject_time;
`;

/**
 * Version 2 -> 3: `data` is made canonical (meter_canon keeps what it cannot read). Rows of version 1 hold a
 * content fingerprint of the old text in `fp`: it becomes what it is since version 2 (whether the event had a
 * time: 0 given, 1 missing, as TIME_GIVEN and TIME_MISSING) first, while the fingerprint can still be checked.
 */
const MIGRATE_2_TO_3 = `UPDATE events SET fp = CASE
    WHEN fp = meter_fp(type, subject, time_ms, data) THEN 0 WHEN fp = meter_fp(type, subject, NULL, data) THEN 1 ELSE fp END
  WHERE fp NOT IN (0, 1);
UPDATE events SET data = meter_canon(data) WHERE data IS NOT NULL AND data IS NOT meter_canon(data);`;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY,
  k INTEGER,
  source TEXT NOT NULL,
  id TEXT NOT NULL,
  type TEXT NOT NULL,
  subject TEXT NOT NULL,
  time_ms INTEGER NOT NULL,
  data TEXT,
  fp INTEGER NOT NULL, -- 0: the event had a time, 1: it had none (in rows of version 1: a content fingerprint)
  ingested_ms INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_k ON events(k);
${SUBJECT_ROWS}
CREATE TABLE IF NOT EXISTS collisions (
  source TEXT NOT NULL,
  id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (source, id)
);
`;

/** Options of opening a SQLite store. */
export interface SqliteOptions {
  /** Open for reading only: never creates the file. */
  readonly?: boolean;
  /** Milliseconds to wait for another writer before failing. */
  busyTimeoutMs?: number;
}

/**
 * SQLite gives a store's -wal and -shm files the mode of the store file (a store made 0444 got a 0444 WAL); they
 * hold the same customer data, so they are made owner-only whatever the store's mode. Files of another user are
 * left as they are (they are not ours to change).
 */
function ownerOnlyWal(file: string): void {
  for (const suffix of ['-wal', '-shm']) {
    try {
      const st = fs.statSync(file + suffix);
      if ((st.mode & 0o777) !== 0o600 && st.uid === process.getuid?.()) fs.chmodSync(file + suffix, 0o600);
    } catch {
      // absent, or not ours
    }
  }
}

/** Whether a SQLite file's header says WAL mode (its write version, byte 18, is 2): only such a file gets a -wal. */
function inWalMode(file: string): boolean {
  const head = Buffer.alloc(20);
  const fd = fs.openSync(file, 'r');
  try {
    return fs.readSync(fd, head, 0, 20, 0) === 20 && head[18] === 2;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Makes a writer's -wal and -shm owner-only from their first byte. SQLite creates each with the store file's mode
 * and chmods an empty one it opens to that mode, but leaves a non-empty one as it is; so, for a store whose mode is
 * not 0600, an absent -wal or -shm is created here (exclusively, 0600) holding one byte. SQLite reads a WAL shorter
 * than its 32-byte header as empty, and the first connection truncates and rebuilds the -shm, so the byte is never
 * read as data. ownerOnlyWal still mends files that another process created.
 */
function precreateOwnerOnlyWal(file: string): void {
  const st = fs.statSync(file);
  if ((st.mode & 0o777) === 0o600 || st.uid !== process.getuid?.() || !inWalMode(file)) return;
  for (const suffix of ['-wal', '-shm']) {
    let fd: number;
    try {
      fd = fs.openSync(file + suffix, 'wx', 0o600);
    } catch {
      continue; // exists (another connection's), or the folder is not writable: SQLite decides
    }
    try {
      fs.fchmodSync(fd, 0o600); // whatever the umask
      fs.writeSync(fd, Buffer.of(0));
    } finally {
      fs.closeSync(fd);
    }
  }
}

/**
 * A copy of the store and its WAL in a private temporary folder (0700), for a reader that SQLite cannot let read
 * the store in place: in WAL mode every reader needs the -shm file, and in a read-only folder without one, or
 * with one it may not open, it has none. The copy is opened normally, so SQLite recovers the WAL into it and the
 * reader sees the last commit; the WAL is copied right after the store, and a commit made between the two copies
 * is either wholly in the copied WAL or not in it (frames count only up to a complete commit). The folder is
 * removed when the process exits. This costs a copy of the file on the temporary disk, not memory.
 */
function readableCopy(file: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meter-ro-'));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const copy = path.join(dir, 'store.db');
  try {
    fs.copyFileSync(file, copy);
    fs.chmodSync(copy, 0o600);
    if (fs.existsSync(file + '-wal')) {
      fs.copyFileSync(file + '-wal', copy + '-wal');
      fs.chmodSync(copy + '-wal', 0o600);
    }
  } catch (e) {
    throw new StoreError(`${file}: cannot read the store (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); check the file's permissions`, e);
  }
  return copy;
}

/** Turns a SQLite failure into a StoreError that names the file and says what to do. */
export function describeSqliteError(file: string, e: unknown): StoreError {
  const err = e as { code?: string; message?: string };
  const code = err.code ?? '';
  const msg = err.message ?? String(e);
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT' || /not a database|malformed/.test(msg)) {
    return new StoreError(`${file}: not a meter store or damaged (${msg}); restore it from a backup or use another --db`, e);
  }
  if (code === 'SQLITE_READONLY' || code.startsWith('SQLITE_READONLY') || /readonly/.test(msg)) {
    return new StoreError(`${file}: store is read-only (${msg}); check the file's and folder's permissions`, e);
  }
  if (code === 'SQLITE_FULL' || /full/.test(msg)) {
    return new StoreError(`${file}: disk or store is full (${msg}); nothing of the failed batch was written`, e);
  }
  if (code === 'SQLITE_CANTOPEN' || /unable to open/.test(msg)) {
    return new StoreError(`${file}: cannot open store (${msg}); does the folder exist and is it writable?`, e);
  }
  if (code === 'SQLITE_BUSY' || /locked|busy/.test(msg)) {
    return new StoreError(`${file}: store is busy (another process held it too long: ${msg}); try again`, e);
  }
  return new StoreError(`${file}: ${msg}`, e);
}

const sqliteDialect: WindowDialect = {
  cases: (branches, otherwise) =>
    `CASE ${branches.map(([c, v]) => `WHEN ${c} THEN ${v}`).join(' ')} ELSE ${otherwise} END`,
  greatest: (a, b) => `max(${a}, ${b})`,
  intDiv: (a, b) => `(${a} / ${b})`,
  monthOfDay: (day) => `CAST(strftime('%Y%m', ${day} * 86400, 'unixepoch') AS INTEGER)`,
};

/** Past this many offset segments the window key is computed by a JS function instead of a CASE. */
const MAX_CASE_SEGMENTS = 48;

/**
 * SQL that keeps the rows of the given subjects: their seqs from subject_rows (only lists whose time span meets
 * @from..@to when those are set), so SQLite fetches those rows by seq instead of scanning the table.
 */
function subjectsSql(subjects: string[], params: Record<string, unknown>, subjectRows: boolean): string {
  const list = subjects.map((s, i) => ((params[`s${i}`] = s), `@s${i}`)).join(', ');
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
function dimensionSql(dim: Dimension, p: string): string {
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
const EXACT_VALUES = ['json_type(data, @vp) AS t', 'data ->> @vp AS x', 'data -> @vp AS j'];
/** A value for the integer fast paths: the integer, or a REAL 0.0 for any other value that may count. */
const FAST_VALUE = `CASE json_type(data, @vp) WHEN 'integer' THEN data ->> @vp WHEN 'real' THEN 0.0 WHEN 'text' THEN 0.0 END AS v`;
/** The value's text: a string's own, a number's literal. */
const LITERAL = `CASE t WHEN 'text' THEN x ELSE j END`;
/** A JSON integer SQLite holds as a 64-bit integer (not one past 2^63, which it reads as a double). */
const INT64 = `t = 'integer' AND typeof(x) = 'integer'`;
const NUMERIC = `t IN ('integer', 'real', 'text')`;

/** SQL of a meter value's exact decimal text, NULL when it does not count (see decimalText). */
function exactTextSql(p: string): string {
  return `meter_dec(CASE json_type(data, ${p}) WHEN 'text' THEN data ->> ${p} WHEN 'integer' THEN data -> ${p} WHEN 'real' THEN data -> ${p} END)`;
}

/**
 * How SUM, AVG, MIN and MAX are computed: 'fast' takes integers in SQLite and only checks that nothing else is
 * there; 'exact' takes every other number in decimal; 'decimal' sums everything in decimal (past 2^63).
 */
export type SumMode = 'fast' | 'exact' | 'decimal';

/** Thrown by a 'fast' sum that met a value it cannot sum exactly. */
class NeedsExactSum extends Error {}

/** Builds the SQL and parameters of a meter query. Exported for tests that assert the SQL. */
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
  if (q.fromMs !== undefined) {
    params.from = q.fromMs;
    where.push('time_ms >= @from');
  }
  if (q.toMs !== undefined) {
    params.to = q.toMs;
    where.push('time_ms < @to');
  }
  if (q.subjects.length > 0) where.push(subjectsSql(q.subjects, params, opts.subjectRows ?? true));
  q.filters.forEach((f, i) => {
    if ('path' in f.dimension) params[`fp${i}`] = f.dimension.path;
    params[`fv${i}`] = f.value;
    where.push(`${dimensionSql(f.dimension, `@fp${i}`)} = @fv${i}`);
  });
  const cols: string[] = [];
  const keys: string[] = [];
  if (q.window) {
    cols.push(`${opts.jsWindow ? 'meter_window(time_ms)' : windowKeySql(q.window, 'time_ms', sqliteDialect)} AS w`);
    keys.push('w');
  }
  if (q.perSubject) {
    cols.push('subject AS s');
    keys.push('s');
  }
  q.groupBy.forEach((g, i) => {
    if ('path' in g) params[`g${i}`] = g.path;
    cols.push(`${dimensionSql(g, `@g${i}`)} AS g${i}`);
    keys.push(`g${i}`);
  });
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
    // their JSON (19% faster for 1M rows, hourly by subject and model).
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

/**
 * Exact value of a SUM or AVG from its parts: the integer sum and count (SQLite's), and meter_dsum's
 * "sum count" of the other values.
 */
function exactValue(agg: string, isum: string | null, dsum: unknown, icount: unknown): string | null {
  let count = Number(icount ?? 0);
  if (dsum === null || dsum === undefined) {
    // The common case, integers only: no decimal arithmetic needed for a sum.
    if (agg === 'SUM') return isum ?? '0';
    if (count === 0) return null;
    return Decimal.parse(isum!)!.divide(count).toString();
  }
  const [text, n] = String(dsum).split(' ');
  let total = Decimal.parse(text!)!;
  if (isum !== null) total = total.add(Decimal.parse(isum)!);
  if (agg === 'SUM') return total.toString();
  count += Number(n);
  return count === 0 ? null : total.divide(count).toString();
}

/** MIN or MAX from its parts: the 64-bit integers' (SQLite's) and the other values' (meter_dmin/meter_dmax). */
function extreme(agg: 'MIN' | 'MAX', int: bigint | null, other: string | null): string | null {
  if (other === null) return int === null ? null : int.toString();
  if (int === null) return other;
  const a = Decimal.from(int), b = Decimal.parse(other)!;
  return a.compare(b) === (agg === 'MIN' ? -1 : 1) ? a.toString() : b.toString();
}

function scalarText(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return Decimal.from(v).toString();
  return String(v);
}

/** The rows of one subject that the open transaction stored. */
interface PendingRows {
  seqs: number[];
  minTime: number;
  maxTime: number;
}

/** Rows listed in memory before their subject_rows are written (within the transaction). */
const MAX_PENDING_ROWS = 1 << 20;

/**
 * What dedupe needs of a stored event: k, source, id, type, subject, time_ms, data, fp (TIME_GIVEN or TIME_MISSING;
 * a version 1 row holds the content fingerprint instead). An array: a re-ingest reads one per event, and arrays
 * cost SQLite's driver less to build than objects.
 */
type StoredKey = [k: number | null, source: string, id: string, type: string, subject: string, timeMs: number, data: string | null, fp: number];

/** The `fp` column of a row: whether its event had a time (since version 2), else a content fingerprint. */
const TIME_GIVEN = 0, TIME_MISSING = 1;

/** The `fp` column of a new row. */
function timeColumn(e: UsageEvent): number {
  return e.timeMissing ? TIME_MISSING : TIME_GIVEN;
}

/**
 * Every event is written with this one statement. A new (source, id) is inserted. A key already taken by an
 * exact copy (same source, id and content, as sameContent decides) changes nothing: SQLite compares the stored
 * row itself, so a re-ingested event costs no row read into JavaScript. Any other event whose key is taken (a copy
 * with other content, a true hash collision) changes nothing either, but calls meter_taken(), which tells
 * writeBatch to look at it (classify). The update's condition is never true: the stored row is never rewritten.
 */
const UPSERT = `INSERT INTO events (k, source, id, type, subject, time_ms, data, fp, ingested_ms)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (k) DO UPDATE SET k = events.k WHERE CASE WHEN
  events.source = excluded.source AND events.id = excluded.id AND events.type = excluded.type
  AND events.subject = excluded.subject AND events.data IS excluded.data
  AND CASE events.fp
    WHEN ${TIME_GIVEN} THEN excluded.fp = ${TIME_GIVEN} AND events.time_ms = excluded.time_ms
    WHEN ${TIME_MISSING} THEN excluded.fp = ${TIME_MISSING}
    ELSE events.fp = meter_fp(excluded.type, excluded.subject, iif(excluded.fp = ${TIME_MISSING}, NULL, excluded.time_ms), excluded.data)
  END
THEN 0 ELSE meter_taken() END`;

/**
 * UPSERT with a source and a type written into it as SQL string literals: binding them is most of the cost of
 * two of its nine parameters, and an ingest sees few of each. (A quote is doubled; see ownStatement for which
 * strings qualify.)
 */
function upsertWith(source: string, type: string): string {
  const literal = (v: string) => `'${v.replace(/'/g, "''")}'`;
  return UPSERT.replace('VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)', `VALUES (?, ${literal(source)}, ?, ${literal(type)}, ?, ?, ?, ?, ?)`);
}

/** (source, type) pairs that get their own statement (see upsertWith); other events use UPSERT. */
const MAX_OWN_STATEMENTS = 16, MAX_LITERAL_LENGTH = 200;

/** Whether a copy has the content (type, subject, time, data) of the stored event. */
function sameContent(e: UsageEvent, [, , , type, subject, timeMs, data, fp]: StoredKey): boolean {
  if (fp !== TIME_GIVEN && fp !== TIME_MISSING) return fp === fingerprintOf(e); // a version 1 row
  // Without a time, an event's time is its ingestion time: not part of its content.
  const sameTime = fp === TIME_MISSING ? e.timeMissing : !e.timeMissing && timeMs === e.timeMs;
  return sameTime && type === e.type && subject === e.subject && data === e.data;
}

export class SqliteStore implements Store {
  readonly location: string;
  /** Copies are compared by content (see sameContent). */
  readonly needsFingerprints = false;
  private readonly db: Database.Database;
  private readonly insertCollision: Database.Statement;
  private readonly upsert: Database.Statement;
  private readonly byKey: Database.Statement;
  private readonly collisionSeq: Database.Statement;
  private readonly bySeq: Database.Statement;
  private readonly insertSubjectRows: Database.Statement | null;
  /** The rows stored by the open transaction, per subject, for subject_rows. */
  private pending = new Map<string, PendingRows>();
  private pendingRows = 0;

  private constructor(
    file: string,
    db: Database.Database,
    /** False for a version 1 store read as it is. */
    private readonly hasSubjectRows: boolean,
  ) {
    this.location = file;
    this.db = db;
    this.registerFunctions();
    this.upsert = db.prepare(UPSERT);

    this.insertCollision = db.prepare('INSERT INTO collisions (source, id, seq) VALUES (?, ?, ?)');
    const content = 'k, source, id, type, subject, time_ms, data, fp'; // a StoredKey
    this.byKey = db.prepare(`SELECT ${content} FROM events WHERE k = ?`).raw(true);
    this.collisionSeq = db.prepare('SELECT seq FROM collisions WHERE source = ? AND id = ?').pluck();
    this.bySeq = db.prepare(`SELECT ${content} FROM events WHERE seq = ?`).raw(true);
    this.insertSubjectRows = hasSubjectRows
      ? db.prepare('INSERT INTO subject_rows (subject, first_seq, n, min_time, max_time, seqs) VALUES (?, ?, ?, ?, ?, ?)')
      : null;
  }

  /** Opens (creating when allowed) the store at `file`. */
  static open(file: string, opts: SqliteOptions = {}): SqliteStore {
    const exists = fs.existsSync(file);
    // SQLite reports a folder as a "disk I/O error".
    if (exists && fs.statSync(file).isDirectory()) throw new StoreError(`${file}: is a directory, not a store file; pass --db <folder>/meter.db`);
    if (!exists) {
      if (opts.readonly) throw new StoreError(`${file}: no store here yet (run \`meter ingest\` first, or pass --db)`);
      const dir = path.dirname(path.resolve(file));
      if (!fs.existsSync(dir)) throw new StoreError(`${file}: folder ${dir} does not exist`);
      try {
        // Customer usage data: owner-only from the first byte (SQLite gives its -wal and -shm files the same mode).
        fs.closeSync(fs.openSync(file, 'a', 0o600));
      } catch (e) {
        throw describeSqliteError(file, e);
      }
    }
    let db: Database.Database;
    let version = 0;
    try {
      try {
        if (!opts.readonly) precreateOwnerOnlyWal(file);
        db = new Database(file, { readonly: opts.readonly ?? false, fileMustExist: true });
        if (opts.readonly) db.pragma('user_version');
      } catch (e) {
        // A reader that cannot use the store's -shm file (a read-only folder without one, or one it may not open:
        // another user's 0600 file) reads a private copy instead: see readableCopy.
        const code = (e as { code?: string }).code ?? '';
        if (!opts.readonly || !/^SQLITE_(CANTOPEN|READONLY|IOERR)/.test(code)) throw e;
        db = new Database(readableCopy(file), { readonly: false, fileMustExist: true });
      }
      db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 60_000}`);
      // Before anything that writes (even journal_mode changes the file header): is this our store? The version
      // and the tables are read in one statement, so from one state of the file: another meter creating the store
      // at this moment is seen either before its schema or after it, never half-way.
      const head = db
        .prepare("SELECT user_version, (SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%') FROM pragma_user_version")
        .raw(true)
        .get() as [number, number];
      version = head[0];
      if (version > SCHEMA_VERSION) {
        throw new StoreError(`${file}: store schema version ${version} is newer than this meter (${SCHEMA_VERSION}); upgrade meter`);
      }
      // A SQLite file of something else: never add our tables to it.
      if (version === 0 && head[1] > 0) {
        throw new StoreError(`${file}: not a meter store (a SQLite database with other tables); use another --db`);
      }
      // 64 KiB pages: fewer, larger B-tree pages make random key inserts and scans cheaper (takes effect on a new file).
      if (!exists) db.pragma('page_size = 65536');
      if (!opts.readonly) {
        db.pragma('journal_mode = WAL');
        // NORMAL in WAL: a commit survives a crash of the process; the last commit of a run is made FULL.
        db.pragma('synchronous = NORMAL');
        const maxPages = process.env.METER_SQLITE_MAX_PAGE_COUNT;
        if (maxPages) db.pragma(`max_page_count = ${Number(maxPages) | 0}`);
      }
      // 128 MiB: holds the key index of a few million events and the pages being appended to, and keeps a whole
      // ingest (both threads) under 400 MB of memory at 10M events (at 160 MiB it peaked at 399 MB).
      db.pragma('cache_size = -131072');
      // Queries read through a memory map: a subject's rows lie scattered over the file, and copying a 64 KiB page
      // per row fetched (pread) made a one-subject month at 10M events 5x slower. Writers keep plain I/O.
      if (opts.readonly) db.pragma('mmap_size = 17179869184');
      if (version < SCHEMA_VERSION && !(opts.readonly && version >= 1)) {
        if (opts.readonly) throw new StoreError(`${file}: not a meter store (schema version ${version})`);
        db.transaction(() => {
          // Again inside the write lock: another process may have created or upgraded the store meanwhile.
          const now = db.pragma('user_version', { simple: true }) as number;
          if (now === 0) db.exec(SCHEMA);
          if (now === 1) db.exec(MIGRATE_1_TO_2);
          if (now === 1 || now === 2) {
            db.function('meter_canon', { deterministic: true }, (d: unknown) => canonicalOrSame(d as string));
            db.function('meter_fp', { deterministic: true }, (type: unknown, subject: unknown, time: unknown, data: unknown) =>
              contentFingerprint(type as string, subject as string, time as number | null, data as string | null),
            );
            db.exec(MIGRATE_2_TO_3);
          }
          db.pragma(`user_version = ${SCHEMA_VERSION}`);
        }).immediate();
        version = SCHEMA_VERSION;
      }
    } catch (e) {
      if (e instanceof StoreError) throw e;
      throw describeSqliteError(file, e);
    }
    // The -wal and -shm files exist by now: the store was read (and written when new or upgraded).
    ownerOnlyWal(file);
    // An older store opened read-only is read as it is (version 1: through its index on (subject, time_ms)).
    return new SqliteStore(file, db, version >= 2);
  }

  private registerFunctions(): void {
    // Not deterministic: called for its effect, once per event that UPSERT finds under a taken key.
    this.db.function('meter_taken', { deterministic: false }, () => {
      this.taken++;
      return 0;
    });
    // The content fingerprint of version 1 rows (see UPSERT).
    this.db.function('meter_fp', { deterministic: true }, (type: unknown, subject: unknown, time: unknown, data: unknown) =>
      contentFingerprint(type as string, subject as string, time as number | null, data as string | null),
    );
    // The exact decimal text of a value's literal (a number's JSON text or a string), NULL when it does not count.
    this.db.function('meter_dec', { deterministic: true }, (v: unknown) => (typeof v === 'string' ? decimalText(v) : null));
    // Exact decimal sum of the values SQLite cannot sum exactly, from their literal text: reals, numeric strings,
    // integers past 2^63. Result: "sum count".
    this.db.aggregate('meter_dsum', {
      start: () => ({ sum: Decimal.ZERO, n: 0 }),
      step: (acc: { sum: Decimal; n: number }, v: unknown) => {
        const text = typeof v === 'string' ? decimalText(v) : null;
        if (text !== null) {
          acc.sum = acc.sum.add(Decimal.parse(text)!);
          acc.n++;
        }
        return acc;
      },
      result: (acc: { sum: Decimal; n: number }) => `${acc.sum.toString()} ${acc.n}`,
    });
    // The least and greatest of such values by exact decimal order, as canonical text.
    for (const [name, sign] of [['meter_dmin', -1], ['meter_dmax', 1]] as const) {
      this.db.aggregate(name, {
        start: () => null,
        step: (best: Decimal | null, v: unknown) => {
          const text = typeof v === 'string' ? decimalText(v) : null;
          if (text === null) return best;
          const d = Decimal.parse(text)!;
          return best === null || d.compare(best) === sign ? d : best;
        },
        result: (best: Decimal | null) => (best === null ? null : best.toString()),
      });
    }
  }

  /** True while a transaction opened by writeBatch({commit: false}) is open. */
  private inTransaction = false;

  /** Events UPSERT found under a key taken by another event or other content (see UPSERT). */
  private taken = 0;

  /**
   * Writes a batch inside the open transaction (opening one when none is), and commits when `commit` is set.
   * Each event costs one statement (UPSERT): a new event is inserted, an exact copy of a stored one changes
   * nothing, and only the rare rest (copies with other content, hash collisions) is looked at again here.
   */
  async writeBatch(events: UsageEvent[], ingestedMs: number, opts: { commit?: boolean } = {}): Promise<WriteOutcome> {
    const status = new Uint8Array(events.length);
    let inserted = 0, duplicates = 0, conflicts = 0;
    try {
      if (!this.inTransaction) {
        this.db.exec('BEGIN IMMEDIATE');
        this.inTransaction = true;
      }
      for (let i = 0; i < events.length; i++) {
        const e = events[i]!;
        const seq = this.insertRow(e, e.key, ingestedMs);
        const s = seq === null
          ? this.classify(e, this.byKey.get(e.key) as StoredKey, ingestedMs)
          : seq === 0 ? RowStatus.duplicate : RowStatus.inserted;
        status[i] = s;
        if (s === RowStatus.inserted) inserted++;
        else if (s === RowStatus.duplicate) duplicates++;
        else conflicts++;
      }
      if (opts.commit !== false) this.commit();
    } catch (e) {
      this.rollback();
      throw describeSqliteError(this.location, e);
    }
    return { inserted, duplicates, conflicts, status };
  }

  /** An event whose key is taken: a copy of the stored one (same or other content), or a true hash collision. */
  private classify(e: UsageEvent, hit: StoredKey, ingestedMs: number): RowStatus {
    if (hit[1] === e.source && hit[2] === e.id) return sameContent(e, hit) ? RowStatus.duplicate : RowStatus.conflict;
    // Another (source, id) with the same 53-bit key: exact dedupe through the collisions table.
    const seq = this.collisionSeq.get(e.source, e.id) as number | undefined;
    if (seq !== undefined) return sameContent(e, this.bySeq.get(seq) as StoredKey) ? RowStatus.duplicate : RowStatus.conflict;
    this.insertCollision.run(e.source, e.id, this.insertRow(e, null, ingestedMs)!);
    return RowStatus.inserted;
  }

  /**
   * Writes an event under `key` (null: a hash collision, found through `collisions`, never taken) through UPSERT:
   * its new seq (noted for subject_rows), 0 for an exact copy of the stored event, or null for any other event
   * whose key is taken (UPSERT called meter_taken).
   */
  private insertRow(e: UsageEvent, key: number | null, ingestedMs: number): number | null {
    const taken = this.taken;
    const own = this.ownStatement(e.source, e.type);
    const r = own !== null
      ? own.run(key, e.id, e.subject, e.timeMs, e.data, timeColumn(e), ingestedMs)
      : this.upsert.run(key, e.source, e.id, e.type, e.subject, e.timeMs, e.data, timeColumn(e), ingestedMs);
    if (r.changes === 0) return this.taken === taken ? 0 : null;
    const seq = r.lastInsertRowid as number;
    this.stored(e, seq);
    return seq;
  }

  /** The statements of upsertWith, by source and type (null: use UPSERT). */
  private readonly own = new Map<string, Database.Statement | null>();
  private lastSource = '';
  private lastType = '';
  private lastOwn: Database.Statement | null = null;

  private ownStatement(source: string, type: string): Database.Statement | null {
    if (source === this.lastSource && type === this.lastType) return this.lastOwn;
    const id = `${source}\u0000${type}`;
    let st = this.own.get(id);
    if (st === undefined) {
      // Not with U+0000 or any surrogate: SQL text would encode a lone surrogate otherwise than a bound string.
      const fits = (v: string) => v.length <= MAX_LITERAL_LENGTH && !/[\u0000\ud800-\udfff]/.test(v);
      st = this.own.size < MAX_OWN_STATEMENTS && fits(source) && fits(type)
        ? this.db.prepare(upsertWith(source, type))
        : null;
      this.own.set(id, st);
    }
    this.lastSource = source;
    this.lastType = type;
    return (this.lastOwn = st);
  }

  /** Notes a row the open transaction stored, for subject_rows. */
  private stored(e: UsageEvent, seq: number): void {
    // A long transaction (a large --batch-size) writes its lists as it goes, so memory stays bounded.
    if (++this.pendingRows > MAX_PENDING_ROWS) this.writeSubjectRows();
    const p = this.pending.get(e.subject);
    if (p === undefined) this.pending.set(e.subject, { seqs: [seq], minTime: e.timeMs, maxTime: e.timeMs });
    else {
      p.seqs.push(seq);
      if (e.timeMs < p.minTime) p.minTime = e.timeMs;
      else if (e.timeMs > p.maxTime) p.maxTime = e.timeMs;
    }
  }

  private commit(): void {
    if (!this.inTransaction) return;
    // subject_rows in the same transaction as the rows it lists: both are committed, or neither.
    this.writeSubjectRows();
    this.db.exec('COMMIT');
    this.inTransaction = false;
  }

  private writeSubjectRows(): void {
    for (const [subject, p] of this.pending) {
      this.insertSubjectRows!.run(subject, p.seqs[0], p.seqs.length, p.minTime, p.maxTime, JSON.stringify(p.seqs));
    }
    this.pending.clear();
    this.pendingRows = 0;
  }

  private rollback(): void {
    this.pending.clear();
    this.pendingRows = 0;
    if (this.inTransaction && this.db.inTransaction) this.db.exec('ROLLBACK');
    this.inTransaction = false;
  }

  /** Makes every commit so far durable against power loss (synchronous=NORMAL alone survives process crashes). */
  async sync(): Promise<void> {
    try {
      this.commit();
      // A checkpoint fsyncs the WAL before copying it into the database file, and then the database file.
      this.db.pragma('wal_checkpoint(PASSIVE)');
    } catch (e) {
      throw describeSqliteError(this.location, e);
    }
  }

  async *events(f: EventFilter): AsyncIterable<StoredEvent> {
    const where: string[] = [];
    const params: Record<string, unknown> = { limit: f.limit };
    if (f.type !== undefined) {
      where.push('type = @type');
      params.type = f.type;
    }
    if (f.fromMs !== undefined) {
      where.push('time_ms >= @from');
      params.from = f.fromMs;
    }
    if (f.toMs !== undefined) {
      where.push('time_ms < @to');
      params.to = f.toMs;
    }
    if (f.subjects.length > 0) where.push(subjectsSql(f.subjects, params, this.hasSubjectRows));
    const sql =
      `SELECT id, source, type, subject, time_ms AS timeMs, data, ingested_ms AS ingestedMs FROM events` +
      `${where.length ? ' WHERE ' + where.join(' AND ') : ''} ORDER BY time_ms DESC, seq DESC LIMIT @limit`;
    yield* this.iterate<StoredEvent>(sql, params);
  }

  private *iterate<T>(sql: string, params: Record<string, unknown>, raw = false, safeIntegers = false): Generator<T> {
    try {
      const stmt = this.db.prepare(sql);
      if (raw) stmt.raw(true).safeIntegers(safeIntegers);
      for (const row of stmt.iterate(params)) yield row as T;
    } catch (e) {
      throw describeSqliteError(this.location, e);
    }
  }

  private exec(sql: string): void {
    try {
      this.db.exec(sql);
    } catch (e) {
      throw describeSqliteError(this.location, e);
    }
  }

  private get<T>(sql: string, ...params: unknown[]): T {
    try {
      return this.db.prepare(sql).get(...params) as T;
    } catch (e) {
      throw describeSqliteError(this.location, e);
    }
  }

  private all<T>(sql: string, ...params: unknown[]): T[] {
    try {
      return this.db.prepare(sql).all(...params) as T[];
    } catch (e) {
      throw describeSqliteError(this.location, e);
    }
  }

  /** The rows per subject: subject_rows, or the events themselves in a version 1 store. */
  private get subjectTotals(): string {
    return this.hasSubjectRows
      ? 'SELECT subject, sum(n) AS events, min(min_time) AS firstMs, max(max_time) AS lastMs FROM subject_rows GROUP BY subject'
      : 'SELECT subject, count(*) AS events, min(time_ms) AS firstMs, max(time_ms) AS lastMs FROM events GROUP BY subject';
  }

  async stats(): Promise<StoreStats> {
    const totals = this.get<{ n: number; first: number | null; last: number | null; subjects: number }>(
      `SELECT coalesce(sum(events), 0) AS n, min(firstMs) AS first, max(lastMs) AS last, count(*) AS subjects FROM (${this.subjectTotals})`,
    );
    const size = this.get<{ size: number }>(
      'SELECT page_count * page_size AS size FROM pragma_page_count(), pragma_page_size()',
    );
    return {
      location: this.location,
      events: totals.n,
      byType: this.all<{ key: string; events: number }>(
        'SELECT type AS key, count(*) AS events FROM events GROUP BY type ORDER BY events DESC, key',
      ),
      bySubject: this.all<{ key: string; events: number }>(
        `SELECT subject AS key, events FROM (${this.subjectTotals}) ORDER BY events DESC, key LIMIT 10`,
      ),
      subjects: totals.subjects,
      firstMs: totals.first,
      lastMs: totals.last,
      sizeBytes: size.size,
    };
  }

  async subjects(): Promise<SubjectSummary[]> {
    return this.all<SubjectSummary>(`${this.subjectTotals} ORDER BY subject`);
  }

  async timeExtent(eventType: string | null): Promise<{ minMs: number; maxMs: number } | null> {
    const r =
      eventType === null
        ? this.get<{ lo: number | null; hi: number | null }>(
            this.hasSubjectRows
              ? 'SELECT min(min_time) AS lo, max(max_time) AS hi FROM subject_rows'
              : 'SELECT min(time_ms) AS lo, max(time_ms) AS hi FROM events',
          )
        : this.get<{ lo: number | null; hi: number | null }>(
            'SELECT min(time_ms) AS lo, max(time_ms) AS hi FROM events WHERE type = ?',
            eventType,
          );
    return r.lo === null || r.hi === null ? null : { minMs: r.lo, maxMs: r.hi };
  }

  async *aggregate(q: MeterQuery): AsyncIterable<AggregateRow> {
    const jsWindow = q.window !== null && q.window.segments.length > MAX_CASE_SEGMENTS;
    if (jsWindow) {
      const plan = q.window!;
      this.db.function('meter_window', { deterministic: true }, (t: unknown) => plan.keyOf(Number(t)));
    }
    // Each mode that fails over to the next (see SumMode) restarts the query and skips the rows already given:
    // those were exact, and every mode gives the same rows in the same order, because every attempt reads the
    // same snapshot: one read transaction holds it while an ingest commits meanwhile.
    const agg = q.meter.aggregation;
    const modes: SumMode[] =
      agg === 'SUM' ? ['fast', 'exact', 'decimal'] : agg === 'AVG' ? ['exact', 'decimal'] : agg === 'MIN' || agg === 'MAX' ? ['fast', 'exact'] : ['exact'];
    const own = !this.db.inTransaction;
    if (own) this.exec('BEGIN');
    try {
      let yielded = 0;
      for (let m = 0; ; m++) {
        let skip = yielded;
        try {
          for (const row of this.aggregateRows(q, jsWindow, modes[m]!)) {
            if (skip > 0) {
              skip--;
              continue;
            }
            yielded++;
            yield row;
          }
          return;
        } catch (e) {
          const retry = e instanceof NeedsExactSum || /integer overflow/.test(String((e as Error).message));
          if (!retry || m + 1 >= modes.length) throw e;
        }
      }
    } finally {
      if (own && this.db.inTransaction) this.exec('COMMIT');
    }
  }

  private *aggregateRows(q: MeterQuery, jsWindow: boolean, mode: SumMode): Generator<AggregateRow> {
    const { sql, params } = buildAggregateSql(q, { jsWindow, mode, subjectRows: this.hasSubjectRows });
    const agg = q.meter.aggregation;
    const nGroups = q.groupBy.length;
    // MIN, MAX and LATEST may return integers past 2^53: only they need BigInt.
    const bigints = agg === 'MIN' || agg === 'MAX' || agg === 'LATEST';
    for (const r of this.iterate<unknown[]>(sql, params, true, bigints)) {
      let i = 0;
      const windowStart = q.window ? q.window.startOfKey(Number(r[i++])) : null;
      const subject = q.perSubject ? (r[i++] as string) : null;
      const groups: string[] = [];
      for (let g = 0; g < nGroups; g++) groups.push(String(r[i++] ?? ''));
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
      yield { windowStart, subject, groups, value, firstMs: Number(r[i] ?? NaN), lastMs: Number(r[i + 1] ?? NaN) };
    }
  }

  async close(): Promise<void> {
    if (!this.db.open) return;
    // Whatever is still uncommitted was never reported: roll it back, never commit half a batch.
    this.rollback();
    this.db.close();
  }
}
