/**
 * kill -9 at seeded random moments while clients send batches: every event acknowledged with 204 is in the store
 * exactly once after each crash, and re-sending everything afterwards stores exactly what was missing.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { prng } from '../bench/generate.js';
import { CH_PORT, useClickHouse } from './clickhouse-server.js';
import { Workdir } from './helpers.js';
import { SERVE_CONFIG, startServe, stopAll } from './serve-helpers.js';

const SEED = Number(process.env.METER_SEED ?? Date.now() % 1_000_000);
const TOTAL = 3000;
const ROUNDS = 4;
const CLIENTS = 6;

const CH_DB = `meter_serve_crash_${process.pid}_${Date.now() % 100000}`;

after(async () => {
  await stopAll();
  await fetch(`http://127.0.0.1:${CH_PORT}/`, { method: 'POST', body: `DROP DATABASE IF EXISTS \`${CH_DB}\`` }).catch(() => {});
});
// Registered after the hooks above, so that a server the tests started stops after the databases are dropped.
useClickHouse();

const BACKENDS = [
  { name: 'sqlite', db: (w: Workdir) => w.path('crash.db') },
  { name: 'clickhouse', db: () => `clickhouse://127.0.0.1:${CH_PORT}/${CH_DB}` },
];

/** Stored (source, id) pairs with their number of copies, through `meter events`. */
function storedCopies(w: Workdir, db: string): Map<string, number> {
  const r = w.run(['events', '--db', db, '--limit', String(TOTAL * 2), '--format', 'ndjson', '--from', '2000-01-01']);
  assert.equal(r.code, 0, r.describe());
  const copies = new Map<string, number>();
  for (const line of r.stdout.split('\n')) {
    if (!line) continue;
    const e = JSON.parse(line) as { id: string };
    copies.set(e.id, (copies.get(e.id) ?? 0) + 1);
  }
  return copies;
}

for (const backend of BACKENDS) {
  test(`SIGKILL during batched ingest (${backend.name}): acknowledged events survive exactly once (seed ${SEED})`, async () => {
    console.log(`serve-crash ${backend.name} seed ${SEED} (METER_SEED=${SEED} repeats it)`);
    const rand = prng(SEED);
    const w = new Workdir(`serve-crash-${backend.name}`);
    w.write('meter.yaml', SERVE_CONFIG);
    const db = backend.db(w);
    try {
      const events = Array.from({ length: TOTAL }, (_, i) => ({
        specversion: '1.0',
        id: `c${i}`,
        source: 'crash',
        type: 'prompt',
        subject: `s${i % 7}`,
        time: new Date(Date.UTC(2026, 10, 1) + i * 1000).toISOString(),
        data: { tokens: i, model: 'm' },
      }));
      // Batches of 1-60 events, in order.
      const batches: Array<typeof events> = [];
      for (let i = 0; i < TOTAL; ) {
        const n = 1 + Math.floor(rand() * 60);
        batches.push(events.slice(i, i + n));
        i += n;
      }
      const acked = new Set<string>();
      let next = 0;
      for (let round = 0; round < ROUNDS && next < batches.length; round++) {
        const server = await startServe(w, ['--db', db, '--config', w.path('meter.yaml')]);
        const killAfter = 1 + Math.floor(rand() * 12);
        let acks = 0;
        let killed = false;
        const client = async () => {
          while (!killed && next < batches.length) {
            const batch = batches[next++]!;
            try {
              const r = await fetch(`${server.url}/api/v1/events`, {
                method: 'POST',
                headers: { 'Content-Type': 'application/cloudevents-batch+json' },
                body: JSON.stringify(batch),
              });
              if (r.status === 204) for (const e of batch) acked.add(e.id);
              else assert.fail(`status ${r.status}: ${await r.text()}`);
            } catch (e) {
              if (!killed) throw e;
              return; // the server is gone: this batch was not acknowledged
            }
            if (++acks >= killAfter && !killed) {
              killed = true;
              server.child.kill('SIGKILL');
            }
          }
        };
        await Promise.all(Array.from({ length: CLIENTS }, client));
        const end = await server.kill();
        assert.ok(end.signal === 'SIGKILL' || end.code === 0, end.describe());
        const copies = storedCopies(w, db);
        for (const id of acked)
          assert.equal(copies.get(id), 1, `round ${round}: acknowledged event ${id} stored ${copies.get(id) ?? 0} time(s)`);
        for (const [id, n] of copies) assert.equal(n, 1, `round ${round}: ${id} stored ${n} times`);
      }
      assert.ok(acked.size > 0);
      // Everything again, on a fresh server: what was missing is stored, nothing twice.
      const server = await startServe(w, ['--db', db, '--config', w.path('meter.yaml')]);
      try {
        for (const batch of batches) {
          const r = await fetch(`${server.url}/api/v1/events`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/cloudevents-batch+json' },
            body: JSON.stringify(batch),
          });
          assert.equal(r.status, 204);
        }
        const stopped = await server.stop();
        assert.equal(stopped.code, 0, stopped.describe());
      } finally {
        await server.kill();
      }
      const copies = storedCopies(w, db);
      assert.equal(copies.size, TOTAL);
      for (const [id, n] of copies) assert.equal(n, 1, `${id} stored ${n} times`);
      const q = w.run(['query', '--db', db, '--config', w.path('meter.yaml'), '-m', 'tokens_total', '--all-subjects', '--format', 'json']);
      assert.equal(q.code, 0, q.describe());
      assert.equal((JSON.parse(q.stdout) as { data: Array<{ value: number }> }).data[0]!.value, (TOTAL * (TOTAL - 1)) / 2);
    } finally {
      w.remove();
    }
  });
}

test('SIGTERM while clients send: requests in flight get their committed answer, then exit 0', async () => {
  const w = new Workdir('serve-sigterm');
  w.write('meter.yaml', SERVE_CONFIG);
  const db = w.path('term.db');
  try {
    const server = await startServe(w, ['--db', db, '--config', w.path('meter.yaml')]);
    const acked = new Set<string>();
    const statuses = new Map<number, number>();
    let sent = 0;
    let stopping: Promise<unknown> | null = null;
    const client = async (c: number) => {
      for (let i = 0; i < 40; i++) {
        const batch = Array.from({ length: 20 }, (_, k) => ({
          specversion: '1.0',
          id: `t${c}-${i}-${k}`,
          source: 'term',
          type: 'prompt',
          subject: `s${c}`,
          time: '2026-11-01T00:00:00Z',
          data: { tokens: 1 },
        }));
        sent++;
        if (sent === 30) stopping = server.stop();
        let r: Response;
        try {
          r = await fetch(`${server.url}/api/v1/events`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/cloudevents-batch+json' },
            body: JSON.stringify(batch),
          });
        } catch {
          return; // refused: the server stopped accepting
        }
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status === 204) for (const e of batch) acked.add(e.id);
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, c) => client(c)));
    await stopping;
    const end = await server.done;
    assert.equal(end.code, 0, end.describe());
    assert.deepEqual(
      [...statuses.keys()].filter((s) => s !== 204),
      [],
      `statuses: ${JSON.stringify([...statuses])}`,
    );
    assert.ok(acked.size > 0);
    const r = w.run(['events', '--db', db, '--limit', '100000', '--format', 'ndjson']);
    assert.equal(r.code, 0, r.describe());
    const stored = new Set(
      r.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { id: string }).id),
    );
    for (const id of acked) assert.ok(stored.has(id), `acknowledged ${id} is not stored`);
  } finally {
    await stopAll();
    w.remove();
  }
});
