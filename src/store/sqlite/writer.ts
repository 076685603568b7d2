/**
 * The SQLite store's write path. Every event is written by one UPSERT statement, which is also its dedupe: a new
 * (source, id) is inserted, an exact copy changes nothing, and only the rare rest (a copy with other content, a
 * true hash collision of the 53-bit key) is looked at again in JavaScript.
 */
import { randomInt } from 'node:crypto';
import type Database from 'better-sqlite3';
import { fingerprintOf, type UsageEvent } from '../../core/event.js';
import { RowStatus, type WriteOptions, type WriteOutcome } from '../../core/ports.js';
import { describeSqliteError } from './errors.js';
import { registerFingerprint } from './functions.js';
import { TIME_GIVEN, TIME_MISSING } from './schema.js';

/** The rows of one subject that the open transaction stored. */
interface PendingRows {
  seqs: number[];
  minTime: number;
  maxTime: number;
}

/** Rows listed in memory before their subject_rows are written (within the transaction). */
const MAX_PENDING_ROWS = 1 << 20;
/** Characters of the subjects listed before their subject_rows are written (a subject may be as long as an event). */
const MAX_PENDING_CHARS = 16 * 1024 * 1024;

/**
 * What dedupe needs of a stored event: k, source, id, type, subject, time_ms, data, fp (TIME_GIVEN or TIME_MISSING;
 * a version 1 row holds the content fingerprint instead). An array: a re-ingest reads one per event, and arrays
 * cost SQLite's driver less to build than objects.
 */
type StoredKey = [
  k: number | null,
  source: string,
  id: string,
  type: string,
  subject: string,
  timeMs: number,
  data: string | null,
  fp: number,
];

/** The `fp` column of a new row (see TIME_GIVEN in schema.ts). */
export function timeColumn(e: UsageEvent): number {
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

/** Longest string sqliteString writes into SQL (a longer one is bound). */
const MAX_LITERAL_LENGTH = 200;

/**
 * The only escaper of the project's SQLite SQL: a SQLite string literal holding exactly `v` (single quotes around
 * it, a quote doubled; SQLite has no other escapes), or null for a string that must be bound instead: one with
 * U+0000 (it would end the text), a surrogate (SQL text would encode a lone one otherwise than a bound string), or
 * over MAX_LITERAL_LENGTH characters. Only upsertWith uses it; every other value reaching SQLite is bound.
 */
export function sqliteString(v: string): string | null {
  if (v.length > MAX_LITERAL_LENGTH || /[\u0000\ud800-\udfff]/.test(v)) return null;
  return `'${v.replace(/'/g, "''")}'`;
}

/**
 * UPSERT with a source and a type written into it as SQL string literals, or null when either must be bound:
 * binding them is most of the cost of two of its nine parameters, and an ingest sees few of each.
 */
function upsertWith(source: string, type: string): string | null {
  const s = sqliteString(source),
    t = sqliteString(type);
  if (s === null || t === null) return null;
  return UPSERT.replace('VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)', `VALUES (?, ${s}, ?, ${t}, ?, ?, ?, ?, ?)`);
}

/** How many (source, type) pairs get their own statement (see upsertWith); other events use UPSERT. */
const MAX_OWN_STATEMENTS = 16;

/** Whether a copy has the content (type, subject, time, data) of the stored event. */
function sameContent(e: UsageEvent, [, , , type, subject, timeMs, data, fp]: StoredKey): boolean {
  if (fp !== TIME_GIVEN && fp !== TIME_MISSING) return fp === fingerprintOf(e); // a version 1 row
  // Without a time, an event's time is its ingestion time: not part of its content.
  const sameTime = fp === TIME_MISSING ? e.timeMissing : !e.timeMissing && timeMs === e.timeMs;
  return sameTime && type === e.type && subject === e.subject && data === e.data;
}

/**
 * The write path of the SQLite store: one transaction per batch (or per several, with `commit: false`), one UPSERT
 * per event, and the subject_rows lists of what the transaction stored.
 */
export class SqliteWriter {
  private readonly insertCollision: Database.Statement;
  private readonly upsert: Database.Statement;
  private readonly byKey: Database.Statement;
  private readonly collisionSeq: Database.Statement;
  private readonly bySeq: Database.Statement;
  private readonly insertSubjectRows: Database.Statement | null;
  /** The rows stored by the open transaction, per subject, for subject_rows. */
  private pending = new Map<string, PendingRows>();
  private pendingRows = 0;
  private pendingChars = 0;

  constructor(
    private readonly db: Database.Database,
    /** The store's file, for error messages. */
    private readonly location: string,
    /** False for a version 1 store (read as it is, never written): then there is no subject_rows. */
    hasSubjectRows: boolean,
  ) {
    // Not deterministic: called for its effect, once per event that UPSERT finds under a taken key.
    db.function('meter_taken', { deterministic: false }, () => {
      this.taken++;
      return 0;
    });
    registerFingerprint(db);
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

  /** A random id of this writer, which staging writes into the rows it stages (staging.ts). */
  readonly id = randomInt(1, 2 ** 48);

  /** True while a transaction opened by begin() or writeBatch({commit: false}) is open. */
  private inTransaction = false;

  /** Whether a write transaction is open (see begin). */
  get writing(): boolean {
    return this.inTransaction;
  }

  /** Events UPSERT found under a key taken by another event or other content (see UPSERT). */
  private taken = 0;

  /**
   * Writes a batch inside the open transaction (opening one when none is), and commits when `commit` is set.
   * Each event costs one statement (UPSERT): a new event is inserted, an exact copy of a stored one changes
   * nothing, and only the rare rest (copies with other content, hash collisions) is looked at again here.
   */
  async writeBatch(events: UsageEvent[], ingestedMs: number, opts: WriteOptions = {}): Promise<WriteOutcome> {
    await this.lock(() => this.begin(), opts.signal);
    return this.write(events, ingestedMs, opts);
  }

  /** The connection's busy timeout (ms), read once: lock() sets it to 0 while it tries, and back. */
  private busyTimeout: number | undefined;

  /**
   * Runs `open`, which opens a write transaction, unless this writer has one open: once the store's write lock is
   * free, waiting for another process's transaction in pauses of the event loop rather than in SQLite's busy
   * handler, which would hold the whole process (a server's every route, a Ctrl-C) until the other lets go. Gives
   * up as SQLite would, after the connection's busy timeout, or when `signal` is aborted.
   */
  async lock(open: () => void, signal?: AbortSignal): Promise<void> {
    if (this.inTransaction) return;
    const timeout = (this.busyTimeout ??= this.db.pragma('busy_timeout', { simple: true }) as number);
    const deadline = Date.now() + timeout;
    for (let pause = 1; ; pause = Math.min(2 * pause, 20)) {
      this.db.pragma('busy_timeout = 0');
      try {
        open();
        return;
      } catch (e) {
        const busy = /^SQLITE_BUSY/.test(String((e as { code?: string }).code ?? ''));
        if (!busy || Date.now() >= deadline) throw describeSqliteError(this.location, e);
      } finally {
        this.db.pragma(`busy_timeout = ${timeout}`);
      }
      if (signal?.aborted) throw new Error('stopped while waiting for the write lock');
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }

  /** writeBatch, synchronously (SQLite's driver is): for callers that cannot wait, such as opening a store. */
  write(events: UsageEvent[], ingestedMs: number, opts: { commit?: boolean } = {}): WriteOutcome {
    const status = new Uint8Array(events.length);
    let inserted = 0,
      duplicates = 0,
      conflicts = 0;
    try {
      this.begin();
      for (let i = 0; i < events.length; i++) {
        const e = events[i]!;
        const seq = this.insertRow(e, e.key, ingestedMs);
        const s =
          seq === null
            ? this.classify(e, this.byKey.get(e.key) as StoredKey, ingestedMs)
            : seq === 0
              ? RowStatus.duplicate
              : RowStatus.inserted;
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
    const r =
      own !== null
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
      const sql = this.own.size < MAX_OWN_STATEMENTS ? upsertWith(source, type) : null;
      st = sql === null ? null : this.db.prepare(sql);
      this.own.set(id, st);
    }
    this.lastSource = source;
    this.lastType = type;
    return (this.lastOwn = st);
  }

  /** Notes a row the open transaction stored, for subject_rows. */
  private stored(e: UsageEvent, seq: number): void {
    // A long transaction (a large --batch-size) writes its lists as it goes, so memory stays bounded.
    if (++this.pendingRows > MAX_PENDING_ROWS || this.pendingChars > MAX_PENDING_CHARS) this.writeSubjectRows();
    const p = this.pending.get(e.subject);
    if (p === undefined) {
      this.pending.set(e.subject, { seqs: [seq], minTime: e.timeMs, maxTime: e.timeMs });
      this.pendingChars += e.subject.length;
    } else {
      p.seqs.push(seq);
      if (e.timeMs < p.minTime) p.minTime = e.timeMs;
      else if (e.timeMs > p.maxTime) p.maxTime = e.timeMs;
    }
  }

  /**
   * Runs first in every write transaction this writer opens, before its writes: staging (staging.ts) merges what
   * a server staged there, so that events are stored in the order they were committed, whichever way they came.
   */
  onBegin: (() => void) | null = null;

  /** Opens the write transaction that the next writeBatch calls share, unless one is open. */
  begin(): void {
    if (this.inTransaction) return;
    this.db.exec('BEGIN IMMEDIATE');
    this.inTransaction = true;
    try {
      this.onBegin?.();
    } catch (e) {
      this.rollback();
      throw e;
    }
  }

  /** Commits the open transaction (and its subject_rows), if any. */
  commit(): void {
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
    this.pendingChars = 0;
  }

  /** Drops what the open transaction wrote (and its pending subject_rows). */
  rollback(): void {
    this.pending.clear();
    this.pendingRows = 0;
    this.pendingChars = 0;
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
}
