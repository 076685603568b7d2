/**
 * The store floor: the least SQLite itself takes to store the log's events in meter's schema. The events are
 * parsed into memory first (not timed); then one prepared INSERT per event, with source and type written into the
 * statement, into the store's own tables (migrate(): the events table and its unique key index, 64 KiB pages,
 * WAL, synchronous NORMAL), one transaction per 200,000 events like `meter ingest`. No dedupe logic, no
 * subject_rows, no thread handing events over: nothing `meter ingest`'s writer does can be cheaper. Prints the
 * seconds of the insert loop and its commits.
 *
 * Ingest runs the parse and the writes on two threads, so on two cores it cannot take less than the larger of
 * this floor and the parse floor (floor.ts).
 */
import fs from 'node:fs';
import Database from 'better-sqlite3';
import { eventKey } from '../src/core/event.js';
import { migrate } from '../src/store/sqlite/schema.js';

const [file, db] = [process.argv[2]!, process.argv[3]!];
const BATCH = 200_000;

interface Row {
  key: number;
  source: string;
  id: string;
  type: string;
  subject: string;
  timeMs: number;
  data: string | null;
}

const rows: Row[] = [];
const seen = new Set<number>();
for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
  if (line === '') continue;
  const e = JSON.parse(line) as { source: string; id: string; type: string; subject: string; time: string; data?: unknown };
  const key = eventKey(e.source, e.id);
  // The floor stores each event once: a duplicate line is what dedupe skips.
  if (seen.has(key)) continue;
  seen.add(key);
  rows.push({
    key,
    source: e.source,
    id: e.id,
    type: e.type,
    subject: e.subject,
    timeMs: Date.parse(e.time),
    data: e.data === undefined ? null : JSON.stringify(e.data),
  });
}
seen.clear();

for (const suffix of ['', '-wal', '-shm']) fs.rmSync(db + suffix, { force: true });
const conn = new Database(db);
conn.pragma('page_size = 65536');
conn.pragma('journal_mode = WAL');
conn.pragma('synchronous = NORMAL');
conn.pragma('cache_size = -131072');
migrate(conn);

const quote = (s: string) => `'${s.replace(/'/g, "''")}'`;
const statements = new Map<string, Database.Statement>();
const statement = (source: string, type: string) => {
  const id = `${source}\u0000${type}`;
  let st = statements.get(id);
  if (st === undefined) {
    st = conn.prepare(
      `INSERT INTO events (k, source, id, type, subject, time_ms, data, fp, ingested_ms) VALUES (?, ${quote(source)}, ?, ${quote(type)}, ?, ?, ?, 0, ?)`,
    );
    statements.set(id, st);
  }
  return st;
};

const now = Date.now();
const started = process.hrtime.bigint();
for (let i = 0; i < rows.length; i += BATCH) {
  conn.exec('BEGIN IMMEDIATE');
  for (let j = i; j < Math.min(rows.length, i + BATCH); j++) {
    const r = rows[j]!;
    statement(r.source, r.type).run(r.key, r.id, r.subject, r.timeMs, r.data, now);
  }
  conn.exec('COMMIT');
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
conn.close();
for (const suffix of ['', '-wal', '-shm']) fs.rmSync(db + suffix, { force: true });
process.stdout.write(`${seconds.toFixed(3)}\n`);
