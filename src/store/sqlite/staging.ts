/**
 * Staging: how `meter serve` commits many small requests cheaply. A commit's events are appended to `staged`
 * (schema.ts) as one row, which writes a page or two at the table's end; writing them into `events` directly
 * would write, per event, a page of the dedupe key index at a random place (64 KiB, and as many as there are
 * events once the store is large). The staged events are merged into `events` later, many thousands in one
 * transaction (so that they share pages), through the same writer as any ingest, in their commit order: the
 * first copy of an event still wins, and the merge deletes what it merged in the same transaction.
 *
 * Every write transaction merges first (SqliteWriter.onBegin), so an event staged before another process's batch
 * is stored before it, as if it had been written directly: the first copy committed wins. Every read merges first
 * too (SqliteStore, before it reads; a read-only process through a short-lived writer, or in a private copy when
 * it may not write the store), so an answer counts every staged event exactly once. Staged events are committed
 * events: a crash of the process loses none, and the next process that opens the store merges them.
 */
import type Database from 'better-sqlite3';
import type { UsageEvent } from '../../core/event.js';
import { TIME_MISSING } from './schema.js';
import { timeColumn, type SqliteWriter } from './writer.js';

/**
 * A store merges its staged events once this many are waiting, so that a merge shares pages among many: a merge
 * rewrites nearly every page of the key index whatever its size, so the fewer merges the better, up to the pause a
 * merge makes (about 0.2 s at this size) and the memory of the commits held for it.
 */
export const MERGE_AT = 50_000;

/** One row when any event is staged (by this process or another), else zero. */
export const ANY_STAGED = 'SELECT count(*) FROM (SELECT 1 FROM staged LIMIT 1)';

/** Staged rows (commits) read into memory at a time by a merge. */
const CHUNK = 500;

/** An event in a staged row: [k, source, id, type, subject, time_ms, data, fp]. */
type StagedEvent = [k: number, source: string, id: string, type: string, subject: string, timeMs: number, data: string | null, fp: number];

/** One staged commit. */
interface Commit {
  events: UsageEvent[];
  ingestedMs: number;
}

export class Staging {
  private readonly insert: Database.Statement;
  private readonly chunk: Database.Statement;
  private readonly any: Database.Statement;
  private readonly extent: Database.Statement;
  private readonly remove: Database.Statement;

  /** Events staged since the last merge, as far as this connection knows (another process may stage too). */
  waiting: number;
  /**
   * The commits this connection staged since its last merge, in memory: a merge writes them from here instead of
   * reading them back, when the table holds exactly them: every row is this connection's, and as many as `held`
   * (a merge deletes every row up to a seq, so a row of `held` merged by another connection is missing then).
   */
  private held: Commit[] = [];

  constructor(
    db: Database.Database,
    private readonly writer: SqliteWriter,
  ) {
    this.insert = db.prepare('INSERT INTO staged (writer, ingested_ms, events) VALUES (?, ?, ?)');
    this.chunk = db.prepare(`SELECT seq, ingested_ms, events FROM staged WHERE seq > ? ORDER BY seq LIMIT ${CHUNK}`).raw(true);
    this.any = db.prepare(ANY_STAGED).pluck();
    this.remove = db.prepare('DELETE FROM staged WHERE seq <= ?');
    this.extent = db.prepare('SELECT max(seq), count(*), count(*) FILTER (WHERE writer = ?) FROM staged').raw(true);
    this.waiting = db.prepare('SELECT coalesce(sum(json_array_length(events)), 0) FROM staged').pluck().get() as number;
    writer.onBegin = () => this.mergeOpen();
  }

  /** Whether any event is staged, by this process or another. */
  pending(): boolean {
    return (this.any.get() as number) > 0;
  }

  /** Appends the events to `staged` as one row, in the caller's transaction (unappend() when it rolls back). */
  append(events: UsageEvent[], ingestedMs: number): void {
    const rows: StagedEvent[] = events.map((e) => [e.key, e.source, e.id, e.type, e.subject, e.timeMs, e.data, timeColumn(e)]);
    this.insert.run(this.writer.id, ingestedMs, JSON.stringify(rows));
    this.held.push({ events, ingestedMs });
    this.waiting += events.length;
  }

  /** Forgets the last append, whose transaction rolled back. */
  unappend(): void {
    const c = this.held.pop();
    if (c !== undefined) this.waiting -= c.events.length;
  }

  /** Merges every staged event in a write transaction of its own (see mergeOpen). */
  merge(): void {
    this.writer.begin(); // onBegin merges
    this.writer.commit();
  }

  /**
   * Moves every staged event into `events` through the writer, in commit order, and deletes them, inside the
   * writer's open transaction (its onBegin): they are merged when it commits, and stay staged when it rolls back.
   */
  private mergeOpen(): void {
    const [max, count, own] = this.extent.get(this.writer.id) as [number | null, number, number];
    if (max === null) return;
    if (this.held.length > 0 && count === this.held.length && own === count) {
      for (const c of this.held) this.writer.write(c.events, c.ingestedMs, { commit: false });
    } else {
      let last = 0;
      for (;;) {
        const rows = this.chunk.all(last) as Array<[number, number, string]>;
        if (rows.length === 0) break;
        for (const [, ingestedMs, text] of rows)
          this.writer.write((JSON.parse(text) as StagedEvent[]).map(toEvent), ingestedMs, { commit: false });
        last = rows[rows.length - 1]![0];
      }
    }
    this.remove.run(max);
    // Should the transaction roll back, the rows stay staged and a later merge reads them from the table.
    this.held = [];
    this.waiting = 0;
  }
}

function toEvent([k, source, id, type, subject, timeMs, data, fp]: StagedEvent): UsageEvent {
  return { key: k, source, id, type, subject, timeMs, timeMissing: fp === TIME_MISSING, data };
}
