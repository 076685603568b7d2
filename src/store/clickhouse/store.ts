/**
 * The ClickHouse store (scale-out): the same Store as SQLite, on a ClickHouse server (18.16 and later), over HTTP,
 * with the same answers. All ClickHouse SQL of the project lives in this folder:
 *   store.ts          this facade: opening, the reads, and the Store interface (src/core/ports.ts)
 *   writer.ts         the write path: dedupe look-ups, write groups streamed into one INSERT, commit, abandon
 *   races.ts          concurrent writers: batch marks, the race check, `dropped`, and how reads deduplicate
 *   write-groups.ts   a write group's entries and its key index
 *   schema.ts         the tables, the schema version and the upgrade from version 1
 *   aggregate-sql.ts  the SQL of a meter query and the reading of its rows
 *   flatten.ts        `data` read at ingest into the path/value arrays below; order-key.ts their exact order
 *   rowbinary.ts      how rows travel to the server; tsv.ts how answers come back
 *   literals.ts       the only escaper of ClickHouse SQL; url.ts the --db URL; http.ts the connection;
 *                     errors.ts what a failure means for the user
 *
 * Reader's guide to the columns of `events` (one row per stored copy of an event):
 *   k            the dedupe key: a 53-bit hash of source and id (compared by source and id too, so a collision
 *                never loses an event)
 *   source, id   the two strings k hashes
 *   type, subject, time_ms   the event; time_ms is epoch milliseconds (Int64)
 *   data         the event's data as the compact canonical JSON text it came with, NULL when absent
 *   fp           the content fingerprint: equal key and different fp is a conflicting duplicate
 *   ingested_ms, run, seq    when, by which writer (a random id per process) and in which order the copy was
 *                stored; the least (ingested_ms, run, seq) is the first copy, the one that counts
 *   jp  "JSON path": every addressable path in data ($.a, $.a.b, $.a[0])
 *   js  "JSON string": that path's text as a group-by, filter and UNIQUE_COUNT value
 *   jk  "JSON kind": 0 null, 1 scalar, 2 object or array
 *   np  "number path": every path holding a usable number (a number, or a numeric string)
 *   nt  "number text": its canonical decimal text (what MIN, MAX and LATEST show; what sums add when too large)
 *   nk  "number key": its exact order key, what argMin/argMax compare (order-key.ts)
 *   ni  "number integer part", nf "number fraction" (18 digits), both Int64: what SUM and AVG add as Decimal128
 *   nx  "number exact": 1 when ni/nf hold the number, 0 when they cannot (then nt is summed in JS)
 * jp/js/jk are parallel arrays, as are np/nt/nk/ni/nf/nx: a value is found by indexOf(jp or np, path). Details in
 * flatten.ts.
 */
import { randomBytes } from 'node:crypto';
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
import { aggregateColumns, buildAggregateSql, readAggregateRow } from './aggregate-sql.js';
import { describeError } from './errors.js';
import { Connection } from './http.js';
import { i64, sqlInt, sqlString } from './literals.js';
import { closeStaleBatches, currentDedupeMode, dedupeCondition, type DedupeMode } from './races.js';
import { prepareSchema } from './schema.js';
import { parseClickHouseUrl } from './url.js';
import { Writer } from './writer.js';

export class ClickHouseStore implements Store {
  readonly location: string;
  /** Conflicts are told apart in SQL, by fingerprint. */
  readonly needsFingerprints = true;
  private readonly db: string;
  /** This process's writer id, so rows of concurrent writers differ. */
  private readonly run: string;
  private readonly writer: Writer;
  private dedupeMode: DedupeMode | null = null;

  private constructor(private readonly conn: Connection) {
    this.location = conn.target.location;
    this.db = conn.db;
    this.run = BigInt('0x' + randomBytes(8).toString('hex')).toString();
    this.writer = new Writer(conn, this.run);
  }

  static async open(spec: string, opts: { readonly?: boolean }): Promise<Store> {
    const target = parseClickHouseUrl(spec);
    const conn = Connection.create(target);
    const store = new ClickHouseStore(conn);
    const readonly = opts.readonly ?? false;
    try {
      await prepareSchema(conn, store.run, readonly);
      if (!readonly) await closeStaleBatches(conn);
    } catch (e) {
      await conn.close(true);
      throw describeError(target, e, 'opening the store');
    }
    return store;
  }

  // -- writing (writer.ts)

  writeBatch(events: UsageEvent[], ingestedMs: number, opts: WriteOptions = {}): Promise<WriteOutcome> {
    return this.writer.writeBatch(events, ingestedMs, opts);
  }

  /** Writes and commits at once: ClickHouse's inserts are appends already. */
  async stage(events: UsageEvent[], ingestedMs: number): Promise<void> {
    await this.writer.writeBatch(events, ingestedMs, { commit: true });
  }

  /** Nothing is deferred (see stage). */
  async settle(): Promise<void> {}

  /** Commits the open group. (ClickHouse acknowledges an insert once written, not fsynced: see writer.ts.) */
  sync(): Promise<void> {
    return this.writer.sync();
  }

  // -- reading

  /** How reads must deduplicate; asked once per command, so that its reads see one consistent rule. */
  private async dedupe(): Promise<DedupeMode> {
    if (this.dedupeMode === null) this.dedupeMode = await currentDedupeMode(this.conn);
    return this.dedupeMode;
  }

  private async where(conds: string[]): Promise<string> {
    const dd = dedupeCondition(this.db, await this.dedupe());
    const all = dd ? [...conds, dd] : conds;
    return all.length ? ' WHERE ' + all.join(' AND ') : '';
  }

  async *events(f: EventFilter): AsyncIterable<StoredEvent> {
    const conds: string[] = [];
    if (f.type !== undefined) conds.push(`type = ${sqlString(f.type)}`);
    if (f.subjects.length > 0) conds.push(`subject IN (${f.subjects.map(sqlString).join(', ')})`);
    if (f.fromMs !== undefined) conds.push(`time_ms >= ${i64(sqlInt(f.fromMs))}`);
    if (f.toMs !== undefined) conds.push(`time_ms < ${i64(sqlInt(f.toMs))}`);
    const sql =
      `SELECT id, source, type, subject, time_ms, isNull(data), ifNull(data, ''), ingested_ms FROM ${this.db}.events` +
      `${await this.where(conds)} ORDER BY time_ms DESC, ingested_ms DESC, seq DESC LIMIT ${sqlInt(f.limit)}`;
    for await (const batch of this.conn.tsv(sql, 8, 'listing events')) {
      for (const r of batch) {
        yield {
          id: r[0]!,
          source: r[1]!,
          type: r[2]!,
          subject: r[3]!,
          timeMs: Number(r[4]),
          data: r[5] === '1' ? null : r[6]!,
          ingestedMs: Number(r[7]),
        };
      }
    }
  }

  async stats(): Promise<StoreStats> {
    const w = await this.where([]);
    const totals = await this.conn.rows<{ n: string; first: string; last: string; subjects: string }>(
      `SELECT toString(count()) AS n, toString(min(time_ms)) AS first, toString(max(time_ms)) AS last, ` +
        `toString(uniqExact(subject)) AS subjects FROM ${this.db}.events${w}`,
      'counting events',
    );
    const t = totals[0]!;
    const n = Number(t.n);
    const byType = await this.conn.rows<{ key: string; events: string }>(
      `SELECT type AS key, toString(count()) AS events FROM ${this.db}.events${w} GROUP BY type ORDER BY count() DESC, key`,
      'counting events by type',
    );
    const bySubject = await this.conn.rows<{ key: string; events: string }>(
      `SELECT subject AS key, toString(count()) AS events FROM ${this.db}.events${w} GROUP BY subject ORDER BY count() DESC, key LIMIT 10`,
      'counting events by subject',
    );
    const size = await this.conn.rows<{ b: string }>(
      `SELECT toString(sum(bytes_on_disk)) AS b FROM system.parts WHERE database = ${sqlString(this.conn.target.database)} AND active`,
      'measuring the store',
    );
    return {
      location: this.location,
      events: n,
      byType: byType.map((r) => ({ key: r.key, events: Number(r.events) })),
      bySubject: bySubject.map((r) => ({ key: r.key, events: Number(r.events) })),
      subjects: Number(t.subjects),
      firstMs: n === 0 ? null : Number(t.first),
      lastMs: n === 0 ? null : Number(t.last),
      sizeBytes: Number(size[0]?.b ?? 0),
    };
  }

  async subjects(): Promise<SubjectSummary[]> {
    const rows = await this.conn.rows<{ subject: string; n: string; lo: string; hi: string }>(
      `SELECT subject, toString(count()) AS n, toString(min(time_ms)) AS lo, toString(max(time_ms)) AS hi ` +
        `FROM ${this.db}.events${await this.where([])} GROUP BY subject ORDER BY subject`,
      'listing subjects',
    );
    return rows.map((r) => ({ subject: r.subject, events: Number(r.n), firstMs: Number(r.lo), lastMs: Number(r.hi) }));
  }

  async timeExtent(eventType: string | null): Promise<{ minMs: number; maxMs: number } | null> {
    const conds = eventType === null ? [] : [`type = ${sqlString(eventType)}`];
    const r = await this.conn.rows<{ n: string; lo: string; hi: string }>(
      `SELECT toString(count()) AS n, toString(min(time_ms)) AS lo, toString(max(time_ms)) AS hi FROM ${this.db}.events${await this.where(conds)}`,
      'reading the time range',
    );
    const x = r[0]!;
    return Number(x.n) === 0 ? null : { minMs: Number(x.lo), maxMs: Number(x.hi) };
  }

  async *aggregate(q: MeterQuery): AsyncIterable<AggregateRow> {
    const sql = buildAggregateSql(q, this.db, await this.dedupe());
    for await (const batch of this.conn.tsv(sql, aggregateColumns(q), 'running the query')) {
      for (const r of batch) yield readAggregateRow(q, r);
    }
  }

  async close(): Promise<void> {
    // An uncommitted group is dropped, as a rolled-back transaction.
    await this.writer.abandon();
    await this.conn.close();
  }
}
