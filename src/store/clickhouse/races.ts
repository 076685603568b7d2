/**
 * Several writers at once: two processes may both find a key absent and both insert it. Each writer marks its
 * group open in `batches` before any row can be visible; after inserting, if another writer's group overlapped
 * its own, it checks its keys again, records every copy but the first in `dropped` (counting its own losing copies
 * as duplicates) and marks the group closed. Reads exclude `dropped`; while any group is open (a writer at work,
 * or one that died), reads deduplicate over all keys instead, so every query counts each (source, id) once at
 * any time. `meter ingest` closes groups left open for ten minutes by recording their losers. Per-run summaries
 * may count a raced copy as inserted in both runs; the stored data and every query stay exact. This needs an
 * acknowledged insert to be visible to the next query (one server; not Distributed tables, whose inserts are
 * asynchronous).
 *
 * The first copy of a (source, id) is the one with the least (ingested_ms, run, seq).
 */
import type { Connection } from './http.js';
import { sqlInt } from './literals.js';
import { tsvTuples } from './tsv.js';
import { findInGroup, type Group } from './write-groups.js';

/** Batches open longer than this are taken for writers that died; `meter ingest` closes them. */
const STALE_BATCH_SECONDS = 600;

/** How reads exclude copies that are not the first of their (source, id). */
export type DedupeMode = 'none' | 'dropped' | 'full';

/** The WHERE condition keeping only first copies, over the store's tables (db: quoted database). */
export function dedupeCondition(db: string, mode: DedupeMode): string | null {
  if (mode === 'none') return null;
  const dropped = `SELECT run, seq FROM ${db}.dropped`;
  if (mode === 'dropped') return `(run, seq) NOT IN (${dropped})`;
  return `(run, seq) NOT IN (${dropped} UNION ALL ${losersSql(db)})`;
}

/** (run, seq) of every stored copy that is not the first of its (source, id): a scan of all keys. */
export function losersSql(db: string): string {
  return (
    `SELECT tupleElement(x, 2) AS run, tupleElement(x, 3) AS seq FROM (SELECT arrayJoin(arrayPopFront(arraySort(groupArray(` +
    `(ingested_ms, run, seq))))) AS x FROM ${db}.event_keys WHERE k IN (SELECT k FROM ${db}.event_keys GROUP BY k HAVING count() > 1) ` +
    `GROUP BY k, source, id HAVING count() > 1)`
  );
}

/** How reads must deduplicate now: not at all, by `dropped`, or fully while a batch is open. */
export async function currentDedupeMode(conn: Connection): Promise<DedupeMode> {
  const r = await conn.rows<{ d: string; o: string }>(
    `SELECT toString((SELECT count() FROM ${conn.db}.dropped)) AS d, toString((SELECT count() FROM ` +
      `(SELECT run, batch FROM ${conn.db}.batches GROUP BY run, batch HAVING max(state) = 0))) AS o`,
    'checking for concurrent writes',
  );
  return Number(r[0]!.o) > 0 ? 'full' : Number(r[0]!.d) > 0 ? 'dropped' : 'none';
}

/** A copy of the writer's group that lost a race: where writeBatch reported it, and whether it conflicts. */
export interface LostCopy {
  call: number;
  index: number;
  conflict: boolean;
}

/** A key stored more than once: its copies as (ingested_ms, run, seq, fp), first first. */
interface RaceRow {
  key: string;
  src: string;
  eid: string;
  copies: Array<[string, string, string, string]>;
}

/** Marks writer `run`'s group open (0) or closed (1) in `batches`. */
export async function markBatch(conn: Connection, run: string, g: Group, state: 0 | 1): Promise<void> {
  await conn.insertValues('batches', 'run, batch, state', [`(${sqlInt(run)},${sqlInt(g.batch)},${sqlInt(state)})`], 'marking a batch');
}

/** True when another writer's batch was open at some time since `startedAt` (server seconds). */
export async function othersOverlapped(conn: Connection, run: string, startedAt: number): Promise<boolean> {
  const r = await conn.rows<{ n: string }>(
    `SELECT toString(count()) AS n FROM (SELECT run, batch, max(state) AS st, max(toUInt32(at)) AS last FROM ${conn.db}.batches ` +
      `WHERE run != ${sqlInt(run)} GROUP BY run, batch HAVING st = 0 OR last >= ${sqlInt(startedAt)})`,
    'checking for concurrent writers',
  );
  return Number(r[0]!.n) > 0;
}

/**
 * After an insert: finds keys stored more than once (another writer inserted the same (source, id) between
 * our lookup and our insert), records every copy but the first in `dropped`, and returns our losing copies.
 */
export async function checkRaces(conn: Connection, run: string, keys: number[], g: Group | null): Promise<LostCopy[]> {
  const losers: string[] = [];
  const ours: LostCopy[] = [];
  const rows = await conn.withKeys(
    keys,
    `SELECT toString(k), source, id, arraySort(groupArray((ingested_ms, run, seq, fp))) FROM ${conn.db}.event_keys ` +
      `PREWHERE k IN _keys GROUP BY k, source, id HAVING count() > 1`,
    4,
    'checking for concurrent writers',
  );
  for (const [key, src, eid, copies] of rows) {
    collectLosers(run, { key: key!, src: src!, eid: eid!, copies: tsvTuples(copies!) }, losers, ours, g);
  }
  if (losers.length > 0) await conn.insertValues('dropped', 'run, seq', losers, 'recording concurrent duplicates');
  return ours;
}

function collectLosers(run: string, r: RaceRow, losers: string[], ours: LostCopy[], g: Group | null): void {
  // arraySort ordered the copies by (ingested_ms, run, seq) as numbers; the first wins.
  const [winner, ...rest] = r.copies;
  for (const [, copyRun, seq, fp] of rest) {
    losers.push(`(${sqlInt(copyRun)},${sqlInt(seq)})`);
    if (g !== null && copyRun === run) {
      const j = findInGroup(g, Number(r.key), r.src, r.eid);
      if (j >= 0 && String(g.seq[j]) === seq) ours.push({ call: g.call[j]!, index: g.index[j]!, conflict: fp !== winner![3] });
    }
  }
}

/** Closes batches left open by writers that died between insert and check: records their losers. */
export async function closeStaleBatches(conn: Connection): Promise<void> {
  const stale = await conn.rows<{ r: string; b: string }>(
    `SELECT toString(run) AS r, toString(batch) AS b FROM ${conn.db}.batches GROUP BY run, batch ` +
      `HAVING max(state) = 0 AND max(at) < now() - ${STALE_BATCH_SECONDS}`,
    'looking for unfinished batches',
  );
  if (stale.length === 0) return;
  const losers = await conn.rows<{ r: string; s: string }>(
    `SELECT toString(run) AS r, toString(seq) AS s FROM (${losersSql(conn.db)})`,
    'deduplicating after an unfinished batch',
  );
  await conn.insertValues(
    'dropped',
    'run, seq',
    losers.map((l) => `(${sqlInt(l.r)},${sqlInt(l.s)})`),
    'recording duplicates',
  );
  await conn.insertValues(
    'batches',
    'run, batch, state',
    stale.map((s) => `(${sqlInt(s.r)},${sqlInt(s.b)},1)`),
    'closing batches',
  );
}
