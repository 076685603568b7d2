/**
 * Staging: how `meter serve` commits many small requests cheaply. A request's events are appended to `staged`
 * (schema.ts) in one commit, which writes a page or two at the table's end; writing them into `events` directly
 * would write, per event, a page of the dedupe key index at a random place (64 KiB, and as many as there are
 * events once the store is large). The staged events are merged into `events` later, many thousands in one
 * transaction (so that they share pages), through the same writer as any ingest, in their arrival order: the
 * first copy of an event still wins, and the merge deletes what it merged in the same transaction.
 *
 * Every read settles first (SqliteStore merges before it reads, and a read-only process merges through a
 * short-lived writer when it opens the store), so an answer counts every staged event exactly as if it had been
 * written directly. Staged events are committed events: a crash of the process loses none, and the next process
 * that opens the store merges them.
 */
import type Database from 'better-sqlite3';
import type { UsageEvent } from '../../core/event.js';
import { TIME_MISSING, TIME_GIVEN } from './schema.js';
import type { SqliteWriter } from './writer.js';

/** A store merges its staged events once this many are waiting, so that a merge shares pages among many. */
export const MERGE_AT = 10_000;

/** Rows read into memory at a time by a merge. */
const CHUNK = 20_000;

const COLUMNS = 'k, source, id, type, subject, time_ms, data, fp, ingested_ms';

type StagedRow = [
  seq: number,
  k: number,
  source: string,
  id: string,
  type: string,
  subject: string,
  timeMs: number,
  data: string | null,
  fp: number,
  ingestedMs: number,
];

export class Staging {
  private readonly insert: Database.Statement;
  private readonly chunk: Database.Statement;
  private readonly any: Database.Statement;
  /** Events staged since the last merge, as far as this connection knows (another process may stage too). */
  waiting: number;

  constructor(private readonly db: Database.Database) {
    this.insert = db.prepare(`INSERT INTO staged (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.chunk = db.prepare(`SELECT seq, ${COLUMNS} FROM staged WHERE seq > ? ORDER BY seq LIMIT ${CHUNK}`).raw(true);
    this.any = db.prepare('SELECT count(*) FROM (SELECT 1 FROM staged LIMIT 1)').pluck();
    this.waiting = this.any.get() as number;
  }

  /** Whether any event is staged, by this process or another. */
  pending(): boolean {
    return (this.any.get() as number) > 0;
  }

  /** Appends the events to `staged` in one transaction: all are committed, or none. */
  append(events: UsageEvent[], ingestedMs: number): void {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      for (const e of events) {
        this.insert.run(e.key, e.source, e.id, e.type, e.subject, e.timeMs, e.data, e.timeMissing ? TIME_MISSING : TIME_GIVEN, ingestedMs);
      }
      this.db.exec('COMMIT');
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw err;
    }
    this.waiting += events.length;
  }

  /**
   * Moves every staged event into `events` through `writer`, in arrival order, and deletes them, in one write
   * transaction: all are merged, or none (a failure rolls it back and leaves them staged).
   */
  merge(writer: SqliteWriter): void {
    writer.begin();
    try {
      let last = 0;
      for (;;) {
        const rows = this.chunk.all(last) as StagedRow[];
        if (rows.length === 0) break;
        // A group commit's events share their ingestion time: one writeBatch per run of equal times.
        let start = 0;
        for (let i = 1; i <= rows.length; i++) {
          if (i < rows.length && rows[i]![9] === rows[start]![9]) continue;
          writer.write(rows.slice(start, i).map(toEvent), rows[start]![9], { commit: false });
          start = i;
        }
        last = rows[rows.length - 1]![0];
      }
      this.db.prepare('DELETE FROM staged WHERE seq <= ?').run(last);
      writer.commit();
    } catch (err) {
      writer.rollback();
      throw err;
    }
    this.waiting = 0;
  }
}

function toEvent([, k, source, id, type, subject, timeMs, data, fp]: StagedRow): UsageEvent {
  return { key: k, source, id, type, subject, timeMs, timeMissing: fp === TIME_MISSING, data };
}
