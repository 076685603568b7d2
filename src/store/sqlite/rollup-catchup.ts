/**
 * Building and catching up rollups (see rollup.ts for what they are and how queries read them): the catalogue
 * `rollups`, a rollup's table, and the catch-up from its watermark, a chunk of events at a time.
 */
import type Database from 'better-sqlite3';
import { DAY_MS, HOUR_MS } from '../../core/window.js';
import { dimensionSql } from './aggregate-sql.js';
import { InexactValue, isIntegerOverflow } from './errors.js';
import type { RollupDef } from './rollup.js';
import {
  BUCKET_MS,
  bucketSql,
  type EventMode,
  eventGroupSql,
  eventValuesSql,
  FAST_AGGREGATIONS,
  mergeGroupSql,
  STATE,
  type MergeMode,
} from './rollup-sql.js';

export const tableOf = (id: number) => `rollup_${id | 0}`;
/** The hour table of a rollup (see rollup-sql.ts): its state rows per UTC hour and subject, keyed in that order. */
export const hoursOf = (id: number) => `rollup_${id | 0}_h`;
export const gcols = (def: RollupDef) => def.dims.map((_, i) => `g${i}`);

const ROLLUPS = `CREATE TABLE IF NOT EXISTS rollups (
  id INTEGER PRIMARY KEY, def TEXT NOT NULL UNIQUE, seq INTEGER NOT NULL, min_time INTEGER, max_time INTEGER,
  events INTEGER NOT NULL DEFAULT 0, rows0 INTEGER NOT NULL DEFAULT 0, caught_at INTEGER NOT NULL DEFAULT 0,
  hours INTEGER NOT NULL DEFAULT 0)`;
const ROLLUPS_COLUMNS = 'id,def,seq,min_time,max_time,events,rows0,caught_at,hours';

/** The largest catch-up whose sorts and deltas are kept in memory (see catchUp). */
const IN_MEMORY_EVENTS = 1_500_000;

/**
 * How a catch-up is cut: after the first build, it aggregates at most `chunkEvents` events (by seq) at a time,
 * which bounds how long it holds the write lock (the merge of one chunk). A rollup not
 * caught up for `unusedMs` while new events arrived is dropped by the next catch-up of another rollup: its meter
 * definition is most likely gone, and a query that needs it again rebuilds it from the events. A catch-up of
 * `progressFrom` events or more (about a second of work) is told to its CatchUpProgress.
 */
export const catchUpLimits = { chunkEvents: 500_000, unusedMs: 62 * DAY_MS, progressFrom: 250_000 };

/**
 * Makes the rollups' catalogue the one this meter writes. Rollups are derived from the events, so a catalogue of
 * another layout (written by another build of meter) is dropped with every rollup table and rebuilt, never read.
 */
function ensureCatalogue(db: Database.Database): void {
  db.exec(ROLLUPS);
  const cols = (db.prepare("SELECT name FROM pragma_table_info('rollups')").pluck().all() as string[]).join(',');
  if (cols === ROLLUPS_COLUMNS) return;
  const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name GLOB 'rollup_[0-9]*'").pluck().all() as string[];
  for (const t of tables) if (/^rollup_\d+(_h)?$/.test(t)) db.exec(`DROP TABLE ${t}`);
  db.exec('DROP TABLE rollups');
  db.exec(ROLLUPS);
}

/** Runs `build(mode)` in 'exact' mode, and again in 'decimal' mode when a sum of 64-bit integers passed 2^63. */
function withOverflow<T>(build: (mode: MergeMode) => T): T {
  try {
    return build('exact');
  } catch (e) {
    if (!isIntegerOverflow(e)) throw e;
    return build('decimal');
  }
}

/**
 * Runs a chunk's 'fast' aggregation (see EventMode) into temp.rollup_d0: true when it holds exactly what 'exact'
 * mode would; else false, and nothing is left of it (the chunk then runs in 'exact' mode).
 */
function fastChunk(db: Database.Database, run: () => void): boolean {
  try {
    run();
    if (db.prepare('SELECT 1 FROM temp.rollup_d0 WHERE fx > 0 LIMIT 1').get() === undefined) return true;
  } catch (e) {
    // A sum past 2^63 is summed again in decimal, as in 'exact' mode.
    if (!(e instanceof InexactValue) && !isIntegerOverflow(e)) throw e;
  }
  db.exec('DROP TABLE IF EXISTS temp.rollup_d0');
  return false;
}

/**
 * The events of `def` whose seq is in (@lo, @hi], as the rows a state row is aggregated from: subject, 15-minute
 * bucket, group values, the values its aggregation reads and the time. Binds every parameter but lo and hi.
 */
export function eventRowsSql(def: RollupDef, lo: string, hi: string, params: Record<string, unknown>, mode: EventMode = 'exact'): string {
  const where = [`seq > @${lo}`, `seq <= @${hi}`];
  if (def.eventType !== null) {
    where.push('type = @type');
    params.type = def.eventType;
  }
  if (def.valueProperty !== undefined) params.vp = def.valueProperty;
  def.dims.forEach((d, i) => {
    if ('path' in d) params[`g${i}`] = d.path;
  });
  const cols = [
    'subject AS s',
    `${bucketSql('time_ms', BUCKET_MS)} AS b`,
    ...def.dims.map((d, i) => `${dimensionSql(d, `@g${i}`)} AS g${i}`),
  ];
  return `SELECT ${[...cols, ...eventValuesSql(def.aggregation, mode), 'time_ms'].join(', ')} FROM events WHERE ${where.join(' AND ')} LIMIT -1`;
}

/** The catalogue row of `def`, made (with its empty table) when absent. Runs in a write transaction. */
function catalogueRow(db: Database.Database, def: RollupDef): { id: number; seq: number } {
  ensureCatalogue(db);
  const r = db.prepare('SELECT id, seq FROM rollups WHERE def = ?').get(def.key) as { id: number; seq: number } | undefined;
  if (r !== undefined) return r;
  const id = Number(db.prepare('INSERT INTO rollups (def, seq, caught_at) VALUES (?, 0, ?)').run(def.key, Date.now()).lastInsertRowid);
  const g = gcols(def)
    .map((c) => `${c} TEXT NOT NULL, `)
    .join('');
  db.exec(
    `CREATE TABLE ${tableOf(id)} (lvl INTEGER NOT NULL, s TEXT NOT NULL, b INTEGER NOT NULL, ${g}` +
      `n INTEGER NOT NULL, t0 INTEGER NOT NULL, t1 INTEGER NOT NULL, iv INTEGER, cv INTEGER, xv TEXT, ` +
      `PRIMARY KEY (lvl, s, b${gcols(def)
        .map((c) => ', ' + c)
        .join('')})) WITHOUT ROWID`,
  );
  // An older build drops the catalogue it does not know with its own tables only: an hour table it left is stale.
  db.exec(`DROP TABLE IF EXISTS ${hoursOf(id)}`);
  db.exec(
    `CREATE TABLE ${hoursOf(id)} (b INTEGER NOT NULL, s TEXT NOT NULL, n INTEGER NOT NULL, t0 INTEGER NOT NULL, ` +
      't1 INTEGER NOT NULL, iv INTEGER, cv INTEGER, xv TEXT, PRIMARY KEY (b, s)) WITHOUT ROWID',
  );
  return { id, seq: 0 };
}

/** A catch-up's delta table and where its rows go: a level of the rollup table, or the hour table (`lvl` null). */
interface DeltaTarget {
  delta: string;
  table: string;
  keys: string[];
  /** The delta's key and state columns. */
  list: string;
  /** The target's columns, and what a SELECT of `list` gives for them. */
  columns: string;
  values: string;
  /** The stored rows of the delta's groups, as `list`; and a count of them. */
  storedRows: string;
  stored: string;
}

function deltaTarget(delta: string, table: string, lvl: number | null, keys: string[]): DeltaTarget {
  const list = [...keys, ...STATE].join(', ');
  const on = [...(lvl === null ? [] : [`o.lvl = ${lvl}`]), ...keys.map((k) => `o.${k} = d.${k}`)].join(' AND ');
  const join = `FROM ${delta} d JOIN ${table} o ON ${on}`;
  return {
    delta,
    table,
    keys,
    list,
    columns: lvl === null ? list : `lvl, ${list}`,
    values: lvl === null ? list : `${lvl}, ${list}`,
    storedRows: `SELECT ${[...keys, ...STATE].map((c) => 'o.' + c).join(', ')} ${join}`,
    stored: `SELECT count(*) ${join}`,
  };
}

/** Drops the rollups other than `keep` that no query has caught up for catchUpLimits.unusedMs while events arrived. */
function dropUnused(db: Database.Database, keep: number, top: number): void {
  const old = db
    .prepare('SELECT id FROM rollups WHERE id <> ? AND seq < ? AND caught_at < ?')
    .pluck()
    .all(keep, top, Date.now() - catchUpLimits.unusedMs) as number[];
  for (const id of old) {
    db.exec(`DROP TABLE IF EXISTS ${tableOf(id)}; DROP TABLE IF EXISTS ${hoursOf(id)}`);
    db.prepare('DELETE FROM rollups WHERE id = ?').run(id);
  }
}

/**
 * How a catch-up of at least catchUpLimits.progressFrom events advances: called as it starts (done 0), after each chunk
 * it merges, and once as it ends (done = total, also when it fails or another process took over).
 */
export type CatchUpProgress = (done: number, total: number) => void;

/**
 * Brings the rollup of `def` up to max(seq), a chunk of events at a time (catchUpLimits), and again a few times
 * when an ingest committed more meanwhile. Each chunk is aggregated into temporary tables outside any write
 * transaction (the rows up to max(seq) are committed and never change, so reading them needs no lock), then
 * merged into the rollup with its new watermark in one short write transaction (IMMEDIATE), which first checks
 * that no other process moved the watermark meanwhile (else the chunk is aggregated again from the new one). So a
 * concurrent ingest waits for one merge at most, never for a whole build. Throws SQLITE_BUSY when another writer
 * holds the lock past the busy timeout; the chunks merged until then stay.
 */
export function catchUp(db: Database.Database, def: RollupDef, progress?: CatchUpProgress): void {
  let r = db.transaction(() => catalogueRow(db, def)).immediate();
  const top = () => (db.prepare('SELECT coalesce(max(seq), 0) AS m FROM events').get() as { m: number }).m;
  let max = top();
  // Told only of a catch-up long enough to be waited for; done equals total at its end, or when it stops.
  const from = r.seq,
    told = progress !== undefined && max - from >= catchUpLimits.progressFrom;
  const tell = (done: number) => {
    if (told) progress(Math.min(done, max) - from, max - from);
  };
  tell(from);
  // Sorts and deltas stay in memory for a catch-up of up to IN_MEMORY_EVENTS events (a 1M-event build took 4.9 s
  // so, 7.4 s through temporary files), and spill to temporary files past the cache above it: a new rollup of 10M
  // events sorts about 7M state rows (1.22 GB of memory so, 340 MB through files, and no slower).
  db.pragma(`temp_store = ${max - r.seq <= IN_MEMORY_EVENTS ? 'MEMORY' : 'FILE'}`);
  const table = tableOf(r.id),
    hoursTable = hoursOf(r.id),
    agg = def.aggregation;
  const keys = ['s', 'b', ...gcols(def)];
  const base: Record<string, unknown> = {};
  const rows = eventRowsSql(def, 'w', 'm', base),
    fastRows = eventRowsSql(def, 'w', 'm', base, 'fast');
  // Whether the next chunk is tried in 'fast' mode: until one chunk holds a value that is not a 64-bit integer.
  let fast = FAST_AGGREGATIONS.has(agg);
  const days = `SELECT s, ${bucketSql('b', DAY_MS)} AS b, ${[...gcols(def), ...STATE].join(', ')} FROM temp.rollup_d0 LIMIT -1`;
  // The hour table's rows: the 15-minute rows of every group value merged per UTC hour and subject, in key order.
  const hours = `SELECT ${bucketSql('b', HOUR_MS)} AS b, s, ${STATE.join(', ')} FROM temp.rollup_d0 LIMIT -1`;
  // Where each delta goes: its level of the rollup table, or the hour table (no level).
  const targets = [
    deltaTarget('temp.rollup_d0', table, 0, keys),
    deltaTarget('temp.rollup_d1', table, 1, keys),
    deltaTarget('temp.rollup_dh', hoursTable, null, ['b', 's']),
  ];
  const [t0, , th] = targets as [DeltaTarget, DeltaTarget, DeltaTarget];
  const dropDeltas = () => db.exec(targets.map((t) => `DROP TABLE IF EXISTS ${t.delta};`).join(' '));
  try {
    for (let round = 0; r.seq < max; ) {
      // A new rollup is aggregated in one pass: its rows are then copied in key order (appended), where merging
      // chunk after chunk would rewrite rows all over the table.
      const w = r.seq,
        m = w === 0 ? max : Math.min(max, w + catchUpLimits.chunkEvents);
      dropDeltas();
      // The chunk's state rows per level, read without the write lock.
      const d0 = (mode: EventMode) =>
        db
          .prepare(`CREATE TEMP TABLE rollup_d0 AS ${eventGroupSql(agg, mode, mode === 'fast' ? fastRows : rows, keys)}`)
          .run({ ...base, w, m });
      if (fast) fast = fastChunk(db, () => d0('fast'));
      if (!fast) withOverflow(d0);
      withOverflow((mode) => db.exec(`CREATE TEMP TABLE rollup_d1 AS ${mergeGroupSql(agg, mode, days, keys)}`));
      withOverflow((mode) => db.exec(`CREATE TEMP TABLE rollup_dh AS ${mergeGroupSql(agg, mode, hours, ['b', 's'])}`));
      const id = r.id;
      r = db
        .transaction(() => {
          const now = catalogueRow(db, def);
          if (now.id !== id || now.seq !== w) return now;
          // New rows: the delta's rows less those whose group is stored already (none in a new rollup).
          const d0 = db.prepare(`SELECT count(*) AS c, coalesce(sum(n), 0) AS e, (${t0.stored}) AS old FROM ${t0.delta}`).get() as {
            c: number;
            e: number;
            old: number;
          };
          const dh = db.prepare(`SELECT count(*) AS c, (${th.stored}) AS old FROM ${th.delta}`).get() as { c: number; old: number };
          const added = { rows0: d0.c - d0.old, events: d0.e, hours: dh.c - dh.old };
          for (const t of targets) {
            if (w === 0) {
              // A new rollup: the deltas are its rows.
              db.exec(`INSERT INTO ${t.table} (${t.columns}) SELECT ${t.values} FROM ${t.delta}`);
              continue;
            }
            // Each delta row merged with the stored row of its group (found by primary key), which it replaces.
            const both = `SELECT ${t.list} FROM ${t.delta} UNION ALL ${t.storedRows}`;
            withOverflow((mode) =>
              db.exec(
                `INSERT OR REPLACE INTO ${t.table} (${t.columns}) SELECT ${t.values} FROM (${mergeGroupSql(agg, mode, both, t.keys)})`,
              ),
            );
          }
          db.prepare(
            'WITH d AS (SELECT min(t0) AS lo, max(t1) AS hi FROM temp.rollup_d1) UPDATE rollups SET seq = @m, caught_at = @at, ' +
              'events = events + @events, rows0 = rows0 + @rows0, hours = hours + @hours, ' +
              'min_time = coalesce(min(min_time, (SELECT lo FROM d)), min_time, (SELECT lo FROM d)), ' +
              'max_time = coalesce(max(max_time, (SELECT hi FROM d)), max_time, (SELECT hi FROM d)) WHERE id = @id',
          ).run({ m, at: Date.now(), id, ...added });
          dropUnused(db, id, max);
          return { id, seq: m };
        })
        .immediate();
      // Another process rebuilt the catalogue meanwhile: this rollup's table is another one now.
      if (r.id !== id) return;
      // Events that an ingest committed meanwhile are caught up too (a few rounds: an ingest may never stop).
      if (r.seq >= max && round++ < 3) max = top();
      if (r.seq < max) tell(r.seq);
    }
  } finally {
    dropDeltas();
    tell(max);
  }
}
