/**
 * The SQLite store: one file, WAL mode, every (source, id) stored once. All SQLite SQL of the project lives in
 * this folder, one concern per file:
 * - store.ts (this file): the Store port's methods; the reads (events, stats, subjects) are here.
 * - connection.ts: opening a file (is it a meter store? settings, upgrade); schema.ts: tables and migrations.
 * - writer.ts: the write path (one UPSERT per event is the dedupe, subject_rows, transactions); staging.ts: the
 *   server's cheap commits, merged through the writer before any read.
 * - aggregate-sql.ts and aggregate-rows.ts: the SQL of a meter query and the reading of its rows, exactly.
 * - rollup.ts, rollup-catchup.ts and rollup-sql.ts: pre-aggregated state rows per meter, caught up by queries and read with the events above
 *   their watermark.
 * - functions.ts: the JavaScript functions that SQL calls; files.ts: -wal/-shm modes and the read-only copy;
 *   errors.ts: SQLite failures as StoreErrors.
 *
 * Dedupe key: a 53-bit hash of (source, id) under a UNIQUE index, which is far smaller and faster to probe than a
 * text key. On a hash hit the stored source and id are compared, so a hash collision never loses an event: the
 * colliding event is stored with a NULL key and found again through the `collisions` table.
 */
import fs from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';
import type { UsageEvent } from '../../core/event.js';
import type {
  AggregateRow,
  EventFilter,
  MeterQuery,
  Store,
  StoredEvent,
  StoreStats,
  SubjectSummary,
  WriteOptions,
  WriteOutcome,
} from '../../core/ports.js';
import { readAggregateRow } from './aggregate-rows.js';
import { buildAggregateSql, MAX_CASE_SEGMENTS, NeedsExactSum, rangeSql, subjectsSql, type SumMode } from './aggregate-sql.js';
import { openDatabase, type SqliteOptions } from './connection.js';
import { emptyLargeWal, readableCopy } from './files.js';
import { StoreError } from '../../errors.js';
import { describeSqliteError, isIntegerOverflow } from './errors.js';
import { registerDecimalFunctions } from './functions.js';
import { asAsync } from '../../core/iterate.js';
import {
  buildRollupSql,
  HOUR_PAGE_ROWS,
  type HourPages,
  hourPageSql,
  inKeyOrder,
  planRollup,
  rollupPays,
  startsRollup,
  storedRollup,
  type RollupPlan,
} from './rollup.js';
import { type CatchUpProgress, catchUp } from './rollup-catchup.js';
import { SCHEMA_VERSION } from './schema.js';
import { ANY_STAGED, MERGE_AT, Staging } from './staging.js';
import { SqliteWriter } from './writer.js';

export type { SqliteOptions } from './connection.js';

/** Opening a store: the connection's options, and who is told how a long rollup catch-up advances (a terminal). */
export interface SqliteStoreOptions extends SqliteOptions {
  onCatchUp?: CatchUpProgress;
}
export { SCHEMA_VERSION } from './schema.js';

/** Whether a failure to catch a rollup up means only that this process cannot write the store now. */
function lockedOrUnwritable(e: unknown): boolean {
  if (e instanceof StoreError) return true;
  return /^SQLITE_(BUSY|LOCKED|READONLY|CANTOPEN|PERM|FULL|IOERR|AUTH)/.test(String((e as { code?: string }).code ?? ''));
}

/** How long a query's rollup catch-up waits for another writer's lock before reading the rollup as it is. */
const CATCH_UP_BUSY_MS = 200;

/** The first schema version with staging (schema.ts). */
const STAGING_VERSION = 4;

/** Whether a store of `version` holds events a server staged and has not merged (staging.ts). */
function hasStaged(db: Database.Database, version: number): boolean {
  return version >= STAGING_VERSION && (db.prepare(ANY_STAGED).pluck().get() as number) > 0;
}

/** Whether this process may write the store file and create its journal files beside it. */
function mayWrite(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.W_OK);
    fs.accessSync(path.dirname(path.resolve(file)), fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * A reader's connection to a store that holds staged events, with those merged: a read-only connection cannot
 * merge them. When this process may write the store, a short-lived writer merges them in place (waiting for
 * another writer as long as any write does; a failure, such as a full disk, is an error rather than an answer
 * without them). Otherwise they are merged into a private copy of the store (readableCopy), which the reader
 * reads instead: the answer is exact, at the cost of copying the file.
 */
function mergedForReader(file: string, db: Database.Database, version: number): Database.Database {
  const copy = path.resolve(db.name) !== path.resolve(file);
  if (!copy) {
    if (mayWrite(file)) {
      SqliteStore.open(file).closeNow();
      return db;
    }
    db.close();
    db = openDatabase(readableCopy(file), {}).db;
  }
  // A private copy is this process's own to write.
  new Staging(db, new SqliteWriter(db, file, version >= 2)).merge();
  return db;
}

export class SqliteStore implements Store {
  readonly location: string;
  /** Copies are compared by content (see sameContent in writer.ts). */
  readonly needsFingerprints = false;
  private readonly db: Database.Database;
  private readonly writer: SqliteWriter;
  /** Staged events (staging.ts), in a store this process writes; null in an older store read as it is. */
  private readonly staging: Staging | null;
  /** Told how a long rollup catch-up advances (SqliteStoreOptions.onCatchUp). */
  private onCatchUp: CatchUpProgress | undefined;

  private constructor(
    file: string,
    db: Database.Database,
    /** False for a version 1 store read as it is. */
    private readonly hasSubjectRows: boolean,
    /** The store's schema version: rollups are kept in a current store only. */
    private readonly version: number,
    private readonly readonly: boolean,
  ) {
    this.location = file;
    this.db = db;
    registerDecimalFunctions(db);
    this.writer = new SqliteWriter(db, file, hasSubjectRows);
    this.staging = !readonly && version >= STAGING_VERSION ? new Staging(db, this.writer) : null;
  }

  /**
   * Opens (creating when allowed) the store at `file`, with every staged event merged (see staging.ts): through
   * this connection, or for a read-only one as mergedForReader says.
   */
  static open(file: string, opts: SqliteStoreOptions = {}): SqliteStore {
    let { db, version } = openDatabase(file, opts);
    try {
      if (opts.readonly && hasStaged(db, version)) db = mergedForReader(file, db, version);
      // An older store opened read-only is read as it is (version 1: through its index on (subject, time_ms)).
      const store = new SqliteStore(file, db, version >= 2, version, opts.readonly ?? false);
      store.onCatchUp = opts.onCatchUp;
      store.mergeStaged();
      return store;
    } catch (e) {
      if (db.open) db.close();
      throw e instanceof StoreError ? e : describeSqliteError(file, e);
    }
  }

  /**
   * Commits the events, as writeBatch does, but leaves their dedupe for later (staging.ts): for a server's many
   * small commits. Every read of the store (in any process that may write it) sees them merged.
   */
  async stage(events: UsageEvent[], ingestedMs: number): Promise<void> {
    // With MERGE_AT events due, the commit merges what waits and writes its own events behind them, in one
    // transaction, instead of staging them first and merging them straight after.
    if (this.staging === null || this.writer.writing || this.staging.waiting + events.length >= MERGE_AT) {
      await this.writeBatch(events, ingestedMs, { commit: true });
      return;
    }
    // The append in a transaction of its own, opened once the write lock is free (see SqliteWriter.lock).
    await this.writer.lock(() => this.db.exec('BEGIN IMMEDIATE'));
    try {
      this.staging.append(events, ingestedMs);
      this.db.exec('COMMIT');
    } catch (e) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      this.staging.unappend();
      throw describeSqliteError(this.location, e);
    }
  }

  async settle(): Promise<void> {
    this.mergeStaged();
  }

  /** Merges the staged events into the events (staging.ts), when any are waiting and no transaction is open. */
  private mergeStaged(): void {
    if (this.staging === null || this.writer.writing || this.db.inTransaction || !this.staging.pending()) return;
    try {
      this.staging.merge();
    } catch (e) {
      throw e instanceof StoreError ? e : describeSqliteError(this.location, e);
    }
  }

  /**
   * Writes a batch inside the open transaction (opening one when none is), and commits when `commit` is set.
   * See SqliteWriter.
   */
  writeBatch(events: UsageEvent[], ingestedMs: number, opts: WriteOptions = {}): Promise<WriteOutcome> {
    return this.writer.writeBatch(events, ingestedMs, opts);
  }

  /** Makes every commit so far durable against power loss (synchronous=NORMAL alone survives process crashes). */
  sync(): Promise<void> {
    // Staged events are committed rows: the checkpoint makes them durable without merging them.
    return this.writer.sync();
  }

  events(f: EventFilter): AsyncIterable<StoredEvent> {
    return asAsync(this.eventRows(f));
  }

  private *eventRows(f: EventFilter): Generator<StoredEvent> {
    this.mergeStaged();
    const where: string[] = [];
    const params: Record<string, unknown> = { limit: f.limit };
    if (f.type !== undefined) {
      where.push('type = @type');
      params.type = f.type;
    }
    where.push(...rangeSql('time_ms', f, params));
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
    this.sqlite(() => this.db.exec(sql));
  }

  private get<T>(sql: string, ...params: unknown[]): T {
    return this.sqlite(() => this.db.prepare(sql).get(...params) as T);
  }

  private all<T>(sql: string, ...params: unknown[]): T[] {
    return this.sqlite(() => this.db.prepare(sql).all(...params) as T[]);
  }

  /** The rows per subject: subject_rows, or the events themselves in a version 1 store. */
  private get subjectTotals(): string {
    return this.hasSubjectRows
      ? 'SELECT subject, sum(n) AS events, min(min_time) AS firstMs, max(max_time) AS lastMs FROM subject_rows GROUP BY subject'
      : 'SELECT subject, count(*) AS events, min(time_ms) AS firstMs, max(time_ms) AS lastMs FROM events GROUP BY subject';
  }

  async stats(): Promise<StoreStats> {
    this.mergeStaged();
    const totals = this.get<{ n: number; first: number | null; last: number | null; subjects: number }>(
      `SELECT coalesce(sum(events), 0) AS n, min(firstMs) AS first, max(lastMs) AS last, count(*) AS subjects FROM (${this.subjectTotals})`,
    );
    const size = this.get<{ size: number }>('SELECT page_count * page_size AS size FROM pragma_page_count(), pragma_page_size()');
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
    this.mergeStaged();
    return this.all<SubjectSummary>(`${this.subjectTotals} ORDER BY subject`);
  }

  async timeExtent(eventType: string | null): Promise<{ minMs: number; maxMs: number } | null> {
    this.mergeStaged();
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

  aggregate(q: MeterQuery): AsyncIterable<AggregateRow> {
    return asAsync(this.aggregateRows(q));
  }

  private *aggregateRows(q: MeterQuery): Generator<AggregateRow> {
    this.mergeStaged();
    const jsWindow = q.window !== null && q.window.segments.length > MAX_CASE_SEGMENTS;
    if (jsWindow) {
      const plan = q.window!;
      this.db.function('meter_window', { deterministic: true }, (t: unknown) => plan.keyOf(Number(t)));
    }
    const rollup = this.version === SCHEMA_VERSION ? planRollup(q) : null;
    if (rollup !== null && this.tryRead(() => startsRollup(this.db, q, rollup.def)) !== false) this.catchUp(rollup);
    const agg = q.meter.aggregation;
    // MIN, MAX and LATEST may return integers past 2^53: only they need BigInt.
    const bigints = agg === 'MIN' || agg === 'MAX' || agg === 'LATEST';
    const own = !this.db.inTransaction;
    if (own) this.exec('BEGIN');
    try {
      // Read in the snapshot whose max(seq) bounds the rollup's tail: every event is in the rollup or in the tail.
      const stored = rollup === null ? null : this.tryRead(() => storedRollup(this.db, rollup.def));
      if (rollup !== null && stored !== null && rollupPays(q, stored)) {
        const pages = hourPageSql(q, stored);
        if (pages !== null) {
          yield* this.hourRows(q, pages);
          return;
        }
        const rows = (mode: SumMode) => {
          const { sql, params } = buildRollupSql(q, rollup, stored, { jsWindow, mode: mode === 'decimal' ? 'decimal' : 'exact' });
          return this.rows(q, sql, params, 'exact', bigints);
        };
        yield* this.withModes(['exact', 'decimal'], rows);
        return;
      }
      // SUM starts with the cheapest mode (see SumMode).
      const modes: SumMode[] =
        agg === 'SUM'
          ? ['fast', 'exact', 'decimal']
          : agg === 'AVG'
            ? ['exact', 'decimal']
            : agg === 'MIN' || agg === 'MAX'
              ? ['fast', 'exact']
              : ['exact'];
      yield* this.withModes(modes, (mode) => {
        const { sql, params } = buildAggregateSql(q, { jsWindow, mode, subjectRows: this.hasSubjectRows });
        return this.rows(q, sql, params, mode, bigints);
      });
    } finally {
      if (own && this.db.inTransaction) this.exec('COMMIT');
    }
  }

  /**
   * Rows of the first mode that does not fail over to the next (see SumMode). Each retry restarts the query and
   * skips the rows already given: those were exact, and every mode gives the same rows in the same order, because
   * every attempt reads the same snapshot (the caller's read transaction holds it while an ingest commits).
   */
  private *withModes(modes: SumMode[], rows: (mode: SumMode) => Generator<AggregateRow>): Generator<AggregateRow> {
    let yielded = 0;
    for (let m = 0; ; m++) {
      let skip = yielded;
      try {
        for (const row of rows(modes[m]!)) {
          if (skip > 0) {
            skip--;
            continue;
          }
          yielded++;
          yield row;
        }
        return;
      } catch (e) {
        const retry = e instanceof NeedsExactSum || isIntegerOverflow(e);
        if (!retry || m + 1 >= modes.length) throw e;
      }
    }
  }

  private *rows(q: MeterQuery, sql: string, params: Record<string, unknown>, mode: SumMode, bigints: boolean): Generator<AggregateRow> {
    for (const r of this.iterate<unknown[]>(sql, params, true, bigints)) yield readAggregateRow(q, mode, r);
  }

  /**
   * The hour table's rows, a page at a time (hourPageSql), in the caller's read transaction. SQLite hands an
   * aggregate its rows in the order it reads them, but promises no order: a page whose rows are not seen here in
   * key order (growing (b, s), with subjects below U+D800, whose UTF-16 order is SQLite's byte order) is read again
   * with the order written into the aggregate.
   */
  private *hourRows(q: MeterQuery, pages: HourPages): Generator<AggregateRow> {
    const agg = q.meter.aggregation;
    const bigint = agg === 'MIN' || agg === 'MAX',
      sum = agg === 'SUM';
    const params = { ...pages.params };
    const statements = new Map<string, Database.Statement>();
    const statement = (sql: string) => {
      let st = statements.get(sql);
      if (st === undefined) statements.set(sql, (st = this.db.prepare(sql)));
      return st;
    };
    // The key of the last row given, whole (a page leaves a long subject out).
    let key: [number, string] | null = null;
    for (;;) {
      let page = this.page(statement, pages.sql(key !== null, false), params);
      if (!inKeyOrder(page[0]!, page[1]!)) page = this.page(statement, pages.sql(key !== null, true), params);
      const [bs, ss] = page as [number[], Array<string | null>];
      for (let i = 0; i < bs.length; i++) {
        let r: unknown[];
        if (ss[i] === null) {
          // Left out of the page for its length (HOUR_PAGE_TEXT): read on its own, after the row before it.
          const one = key === null ? params : { ...params, pb: key[0], ps: key[1] };
          r = this.sqlite(
            () =>
              statement(pages.row(key !== null))
                .raw(true)
                .get(one) as unknown[],
          );
        } else {
          const iv = page[2]![i];
          // The usual SUM row, an integer sum with no other values, is that integer (as readAggregateRow reads it).
          if (sum && typeof iv === 'number' && page[3]![i] === null) {
            key = [bs[i]!, ss[i]!];
            yield { windowStart: bs[i]!, subject: ss[i]!, groups: [], value: String(iv), firstMs: NaN, lastMs: NaN };
            continue;
          }
          r = [bs[i], ss[i]];
          for (let c = 2; c < page.length; c++) r.push(page[c]![i]);
        }
        key = [r[0] as number, r[1] as string];
        // MIN and MAX read a 64-bit integer as a bigint (see readAggregateRow); JSON gave a number or its text.
        if (bigint && r[2] !== null) r[2] = BigInt(r[2] as string | number);
        yield readAggregateRow(q, 'exact', r);
      }
      if (bs.length < HOUR_PAGE_ROWS) return;
      params.pb = key![0];
      params.ps = key![1];
    }
  }

  /** One page of hourRows: its columns' arrays. */
  private page(statement: (sql: string) => Database.Statement, sql: string, params: Record<string, unknown>): unknown[][] {
    const texts = this.sqlite(() => statement(sql).raw(true).get(params) as string[]);
    return texts.map((t) => JSON.parse(t) as unknown[]);
  }

  /** `read`, with a SQLite error told as the store's. */
  private sqlite<T>(read: () => T): T {
    try {
      return read();
    } catch (e) {
      throw describeSqliteError(this.location, e);
    }
  }

  private tryRead<T>(read: () => T): T | null {
    try {
      return read();
    } catch {
      return null;
    }
  }

  /**
   * Brings a rollup up to date before a query, when this process may write the store: through this connection
   * when it is a writer between transactions, else through a short-lived writing connection. Best effort: a store
   * it may not write, or another writer holding the lock for more than a moment, leaves the rollup as it is (the
   * query then reads it with its tail, or the events when the tail is long).
   */
  private catchUp(plan: RollupPlan): void {
    if (!this.readonly) {
      if (this.db.inTransaction) return;
      // As a reader's short-lived writer below: another writer holding the lock leaves the rollup as it is after a
      // moment (the query reads its tail), where waiting would hold the query, and a server's every route, with it.
      const timeout = this.db.pragma('busy_timeout', { simple: true }) as number;
      this.db.pragma(`busy_timeout = ${Math.min(timeout, CATCH_UP_BUSY_MS)}`);
      try {
        catchUp(this.db, plan.def, this.onCatchUp);
      } catch (e) {
        if (!lockedOrUnwritable(e)) throw describeSqliteError(this.location, e);
      } finally {
        this.db.pragma(`busy_timeout = ${timeout}`);
      }
      return;
    }
    // A reader of a private copy (see readableCopy) has no store to write to.
    if (path.resolve(this.db.name) !== path.resolve(this.location)) return;
    const stored = this.tryRead(() => storedRollup(this.db, plan.def));
    if (stored !== null && stored.seq === stored.top) return;
    if (!mayWrite(this.location)) return;
    let writer: Database.Database | undefined;
    try {
      writer = openDatabase(this.location, { busyTimeoutMs: CATCH_UP_BUSY_MS }).db;
      registerDecimalFunctions(writer);
      catchUp(writer, plan.def, this.onCatchUp);
      emptyLargeWal(writer, this.location);
    } catch (e) {
      // The rollup stays as it is; storedRollup decides whether it is read (with its tail).
      if (!lockedOrUnwritable(e)) throw e instanceof StoreError ? e : describeSqliteError(this.location, e);
    } finally {
      writer?.close();
    }
  }

  async close(): Promise<void> {
    this.closeNow();
  }

  /** close(), synchronously. */
  closeNow(): void {
    if (!this.db.open) return;
    // Whatever is still uncommitted was never reported: roll it back, never commit half a batch.
    this.writer.rollback();
    this.db.close();
  }
}
