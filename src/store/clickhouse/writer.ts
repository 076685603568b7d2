/**
 * The write path of a ClickHouse store.
 *
 * Dedupe: each batch's keys are looked up in `event_keys` (and compared by source and id, so a hash collision
 * never loses an event); duplicates and conflicting duplicates are classified against the first stored copy, as
 * in SQLite, and only new events are inserted.
 *
 * Commits: the rows of a write group (the events between two commits, write-groups.ts) are streamed into one
 * INSERT while the group fills and become visible when it ends (one block). A failed or closed-without-commit
 * group is abandoned by ending the INSERT mid-row, which the server rejects whole. A writer killed mid-INSERT (or
 * a cut connection) makes the server keep the complete rows it received: those events are stored but were never
 * reported; running the same input again finishes the batch (re-ingesting is idempotent). Concurrent writers:
 * races.ts.
 *
 * Durability: a commit returns once the server has written the part (ClickHouse does not fsync by default);
 * power-loss durability comes from the server's configuration and replication, not from meter.
 */
import { once } from 'node:events';
import { fingerprintOf, type UsageEvent } from '../../core/event.js';
import { RowStatus, type WriteOutcome } from '../../core/ports.js';
import { describeError } from './errors.js';
import { emptyFlat, flattenData } from './flatten.js';
import type { Connection } from './http.js';
import { checkRaces, markBatch, othersOverlapped, type LostCopy } from './races.js';
import { encodeEventRow, EVENT_COLUMNS, RowBinaryWriter } from './rowbinary.js';
import { addToGroup, findInGroup, newGroup, type Group } from './write-groups.js';

/** A write group older than this is committed at the end of the next call, so no INSERT stays open long. */
const GROUP_MAX_MS = 20_000;

/** The first stored copy of a key, as the look-up returns it. */
interface KeyRow {
  key: string;
  src: string;
  eid: string;
  first_fp: string;
}

export class Writer {
  private seq = 0;
  private batchNo = 0;
  private group: Group | null = null;
  /** Bytes per encoded row in the last batch, to size the next buffer. */
  private rowBytes = 256;
  private readonly scratch = emptyFlat();

  /** `run`: this process's writer id, so rows of concurrent writers differ. */
  constructor(
    private readonly conn: Connection,
    private readonly run: string,
  ) {}

  async writeBatch(events: UsageEvent[], ingestedMs: number, opts: { commit?: boolean } = {}): Promise<WriteOutcome> {
    const status = new Uint8Array(events.length);
    let inserted = 0,
      duplicates = 0,
      conflicts = 0;
    if (this.group === null) {
      // The server's clock at the start of the group: batches of other writers closed before it cannot race us.
      const now = await this.conn.rows<{ t: string }>('SELECT toString(toUInt32(now())) AS t', 'reading the server time');
      const g = newGroup(++this.batchNo, Number(now[0]!.t));
      // Marked open before any of its rows can be visible (a writer killed mid-INSERT leaves the rows it sent).
      await markBatch(this.conn, this.run, g, 0);
      this.group = g;
    }
    const g: Group = this.group;
    const call = g.calls++;
    const keys = events.map((e) => e.key);
    // Look the keys up while this thread encodes the rows (all of them: duplicates are left out afterwards).
    const lookup = this.lookup([...new Set(keys.filter((k) => !g.first.has(k)))]);
    lookup.catch(() => {});
    // A writer per call: its rows are kept as views until the group is committed.
    const w = new RowBinaryWriter(Math.max(1 << 16, events.length * (this.rowBytes + 64)));
    const seq0 = this.seq;
    this.seq += events.length;
    const start = new Array<number>(events.length);
    const end = new Array<number>(events.length);
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      start[i] = w.length;
      encodeEventRow(
        w,
        keys[i]!,
        e.source,
        e.id,
        e.type,
        e.subject,
        e.timeMs,
        e.data,
        fingerprintOf(e),
        ingestedMs,
        this.run,
        seq0 + i,
        flattenData(e.data, this.scratch),
      );
      end[i] = w.length;
    }
    const stored = await lookup;
    const fresh: Buffer[] = [];
    let run = -1;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      const k = keys[i]!;
      const j = findInGroup(g, k, e.source, e.id);
      let firstFp: number | null = j >= 0 ? g.fp[j]! : null;
      if (firstFp === null) {
        const r = stored.get(k)?.find((x) => x.src === e.source && x.eid === e.id);
        if (r !== undefined) firstFp = Number(r.first_fp);
      }
      if (firstFp !== null) {
        const same = firstFp === fingerprintOf(e);
        status[i] = same ? RowStatus.duplicate : RowStatus.conflict;
        if (same) duplicates++;
        else conflicts++;
        continue;
      }
      addToGroup(g, k, e.source, e.id, fingerprintOf(e), seq0 + i, call, i);
      inserted++;
      // Contiguous rows are copied as one piece.
      if (run >= 0 && end[run] === start[i]) end[run] = end[i]!;
      else {
        if (run >= 0) fresh.push(w.view(start[run]!, end[run]!));
        run = i;
      }
    }
    if (run >= 0) fresh.push(w.view(start[run]!, end[run]!));
    if (events.length > 0) this.rowBytes = Math.ceil(w.length / events.length);
    g.rows += inserted;
    await this.send(g, fresh);
    const out: WriteOutcome = { inserted, duplicates, conflicts, status };
    // A slow input (stdin) must not keep an INSERT open for long: such groups are committed early.
    if (opts.commit !== false || Date.now() - g.openedMs > GROUP_MAX_MS) {
      const lost = await this.commit();
      // Copies of this group that lost a race with another writer: counted as duplicates, not inserted.
      for (const l of lost) {
        out.inserted--;
        if (l.conflict) out.conflicts++;
        else out.duplicates++;
        if (l.call === call) status[l.index] = l.conflict ? RowStatus.conflict : RowStatus.duplicate;
      }
    }
    return out;
  }

  /** Commits the open group, if any. */
  async sync(): Promise<void> {
    if (this.group !== null) await this.commit();
  }

  /** The first stored copy of each key (several rows per key only after races; collisions: several sources/ids). */
  private async lookup(keys: number[]): Promise<Map<number, KeyRow[]>> {
    const found = new Map<number, KeyRow[]>();
    if (keys.length === 0) return found;
    const rows = await this.conn.withKeys(
      keys,
      `SELECT toString(k), source, id, toString(argMin(fp, (ingested_ms, run, seq))) FROM ${this.conn.db}.event_keys ` +
        `PREWHERE k IN _keys GROUP BY k, source, id`,
      4,
      'looking up stored events',
    );
    for (const [key, src, eid, fp] of rows) {
      const k = Number(key);
      const r: KeyRow = { key: key!, src: src!, eid: eid!, first_fp: fp! };
      const list = found.get(k);
      if (list) list.push(r);
      else found.set(k, [r]);
    }
    return found;
  }

  /**
   * Streams rows into the group's INSERT (opened on the first rows). ClickHouse parses them as they come and
   * writes them when the body ends (one block: max_insert_block_size is set above any batch), so an aborted
   * insert writes nothing.
   */
  private async send(g: Group, rows: Buffer[]): Promise<void> {
    if (rows.length === 0) return;
    if (g.insert === null) {
      g.insert = this.conn.openInsert(`INSERT INTO ${this.conn.db}.events (${EVENT_COLUMNS}) FORMAT RowBinary`, {
        max_insert_block_size: '1000000000',
      });
    }
    const ins = g.insert;
    for (const b of rows) {
      if (ins.error !== undefined) throw describeError(this.conn.target, ins.error, 'inserting events');
      if (!ins.body.write(b)) await Promise.race([once(ins.body, 'drain'), ins.done]).catch(() => {});
    }
    if (ins.error !== undefined) throw describeError(this.conn.target, ins.error, 'inserting events');
  }

  /** Ends the open group's INSERT; returns its copies that lost a race with another writer. */
  private async commit(): Promise<LostCopy[]> {
    const g = this.group;
    this.group = null;
    if (g === null) return [];
    let lost: LostCopy[] = [];
    if (g.insert !== null) {
      try {
        g.insert.body.end();
        await g.insert.done;
      } catch (e) {
        throw describeError(this.conn.target, e, 'inserting events');
      }
      if (await othersOverlapped(this.conn, this.run, g.startedAt)) lost = await checkRaces(this.conn, this.run, g.first.allKeys(), g);
    }
    await markBatch(this.conn, this.run, g, 1);
    return lost;
  }

  /**
   * Drops the open group: its INSERT is ended in the middle of a row ("Cannot read all data"), so the server
   * rejects the whole insert (one block) and writes none of it. (Merely closing the connection would make the
   * server insert the complete rows it has; a poison such as a huge length can crash an 18.16 server.)
   */
  async abandon(): Promise<void> {
    const g = this.group;
    this.group = null;
    if (g === null) return;
    if (g.insert !== null) {
      // Three bytes of an eight-byte key.
      g.insert.body.end(Buffer.from([0, 0, 0]));
      await g.insert.done.catch(() => {});
    }
    await markBatch(this.conn, this.run, g, 1).catch(() => {});
  }
}
