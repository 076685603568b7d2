/**
 * Crash safety: `meter ingest` killed with SIGKILL at random moments, then re-run with the same command, ends with
 * exactly the unique events of the input (first copy wins), and every query total equals the one computed here
 * from the input alone.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { generateLines } from '../bench/generate.js';
import { TOKENS_AND_COUNT_METERS } from './fixtures.js';
import { subjectRowsListing, Workdir } from './helpers.js';

const EVENTS = 200_000;
const KILLS = 6;
const BATCH = 5000;
const DAY_MS = 86_400_000;

interface Expected {
  lines: number;
  /** source \0 id -> the first copy's tokens, subject and time. */
  first: Map<string, { tokens: number; subject: string; timeMs: number }>;
  sum: bigint;
  bySubject: Map<string, bigint>;
  byDay: Map<string, bigint>;
}

const w = new Workdir('crash');
const INPUT = 'usage.ndjson';
const ARGS = ['ingest', INPUT, '--db', 'store.db', '--batch-size', String(BATCH), '--json', '--quiet'];
let expected: Expected;

before(() => {
  // A realistic log with exact re-deliveries, plus conflicting duplicates (same source and id, other tokens):
  // the first copy must win however often the run is killed and restarted.
  const out = fs.openSync(w.path(INPUT), 'w');
  const first: Expected['first'] = new Map();
  let buf: string[] = [];
  let lines = 0;
  const add = (l: string) => {
    buf.push(l);
    lines++;
    const e = JSON.parse(l) as { source: string; id: string; subject: string; time: string; data: { tokens: number } };
    const k = `${e.source}\u0000${e.id}`;
    if (!first.has(k)) first.set(k, { tokens: e.data.tokens, subject: e.subject, timeMs: Date.parse(e.time) });
    if (buf.length >= 5000) {
      fs.writeSync(out, buf.join('\n') + '\n');
      buf = [];
    }
  };
  let i = 0;
  let previous = '';
  for (const l of generateLines({
    events: EVENTS,
    duplicateRate: 0.05,
    subjects: 40,
    seed: 20261128,
    startMs: Date.parse('2026-10-01T00:00:00Z'),
    withBadLines: false,
  })) {
    add(l);
    if (++i % 997 === 0 && previous) add(previous.replace(/"tokens":\d+/, '"tokens":777777'));
    previous = l;
  }
  if (buf.length) fs.writeSync(out, buf.join('\n') + '\n');
  fs.closeSync(out);

  let sum = 0n;
  const bySubject = new Map<string, bigint>();
  const byDay = new Map<string, bigint>();
  for (const v of first.values()) {
    const t = BigInt(v.tokens);
    sum += t;
    bySubject.set(v.subject, (bySubject.get(v.subject) ?? 0n) + t);
    const day = new Date(Math.floor(v.timeMs / DAY_MS) * DAY_MS).toISOString().replace('.000Z', 'Z');
    byDay.set(day, (byDay.get(day) ?? 0n) + t);
  }
  expected = { lines, first, sum, bySubject, byDay };
  w.write('meter.yaml', TOKENS_AND_COUNT_METERS);
});

after(() => w.remove());

/** Opens the store as the next run would (recovering a hot WAL) and checks it is whole and first-copy-wins. */
function checkStore(label: string): number {
  const db = new Database(w.path('store.db'));
  try {
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok', `${label}: integrity_check`);
    const hasTable = db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'events'").pluck().get() === 1;
    if (!hasTable) {
      // Killed before the schema was committed: an empty store, which the next run sets up.
      assert.equal(db.pragma('user_version', { simple: true }), 0, `${label}: schema version without tables`);
      return 0;
    }
    const n = db.prepare('SELECT count(*) FROM events').pluck().get() as number;
    const distinct = db.prepare('SELECT count(*) FROM (SELECT DISTINCT source, id FROM events)').pluck().get() as number;
    assert.equal(distinct, n, `${label}: an event is stored twice`);
    let wrong = 0;
    for (const r of db.prepare('SELECT source, id, subject, data FROM events').iterate() as Iterable<{
      source: string;
      id: string;
      subject: string;
      data: string;
    }>) {
      const e = expected.first.get(`${r.source}\u0000${r.id}`);
      if (e === undefined || e.subject !== r.subject || (JSON.parse(r.data) as { tokens: number }).tokens !== e.tokens) wrong++;
    }
    assert.equal(wrong, 0, `${label}: ${wrong} stored rows are not the first copy of an input event`);
    // subject_rows lists every stored row once, under its own subject, with the right time span.
    assert.deepEqual(
      subjectRowsListing(db),
      { n, d: n, found: n, right: n === 0 ? null : n },
      `${label}: subject_rows does not match the events`,
    );
    assert.equal(db.prepare('SELECT coalesce(sum(n), 0) FROM subject_rows').pluck().get(), n, `${label}: subject_rows counts`);
    return n;
  } finally {
    db.close();
  }
}

function csvValues(text: string): Map<string, string> {
  const rows = text
    .trimEnd()
    .split('\n')
    .slice(1)
    .map((l) => l.split(','));
  return new Map(rows.map((r) => [r[2] === '' ? r[0]! : r[2]!, r.at(-1)!]));
}

/** Events committed so far in a store another process is writing (0 while it does not exist yet). */
function committed(file: string): number {
  if (!fs.existsSync(file)) return 0;
  try {
    const db = new Database(file, { readonly: true });
    try {
      return db.prepare('SELECT count(*) FROM events').pluck().get() as number;
    } finally {
      db.close();
    }
  } catch {
    return 0; // the schema is being created
  }
}

describe('crash safety', () => {
  test(`SIGKILL at ${KILLS} random moments, re-run each time: exactly the unique events, exact totals`, async (t) => {
    const unique = expected.first.size;
    assert.ok(expected.lines - unique > 10_000, 'the input holds many duplicates');
    // Kill moments: one per stratum of the first ~3.2 s of a run (a full run of this input takes longer), random
    // within it and later each time, so that each run gets past what the previous ones stored: the kills land at
    // different points (opening the store, re-reading stored events, mid-batch, between batches, near the end).
    const STEP = 3200 / KILLS;
    const strata = Array.from({ length: KILLS }, (_, i) => 150 + i * STEP);
    const kills: Array<{ afterMs: number; stored: number }> = [];
    let stored = 0;
    for (let k = 0; kills.length < KILLS; k++) {
      assert.ok(k < KILLS * 3, `only ${kills.length} of ${KILLS} runs could be killed before they finished`);
      const lo = strata[kills.length]!;
      const delay = Math.round(lo + Math.random() * STEP * 0.8);
      const { child, done } = w.spawn(ARGS);
      await sleep(delay);
      child.kill('SIGKILL');
      const r = await done;
      if (r.signal !== 'SIGKILL') {
        // It finished first: then it must have finished properly; shorten the remaining kill moments.
        assert.equal(r.code, 0, r.describe());
        for (let i = kills.length; i < strata.length; i++) strata[i] = strata[i]! / 2;
        continue;
      }
      const n = checkStore(`after the kill at ${delay} ms`);
      assert.ok(n >= stored, `the store lost events: ${stored} -> ${n}`);
      stored = n;
      kills.push({ afterMs: delay, stored: n });
    }
    t.diagnostic(`kills (ms after start -> events stored): ${kills.map((k) => `${k.afterMs}->${k.stored}`).join(', ')}`);
    assert.equal(new Set(kills.map((k) => k.afterMs)).size, KILLS, 'different kill moments');

    const last = w.run(ARGS);
    assert.equal(last.code, 0, last.describe());
    const summary = JSON.parse(last.stdout);
    assert.equal(summary.read, expected.lines, last.describe());
    assert.equal(summary.rejected, 0);
    assert.equal(
      summary.inserted + stored,
      unique,
      `final run inserted ${summary.inserted}, the kills left ${stored}: ${JSON.stringify(kills)}`,
    );

    // The store, checked independently of meter.
    assert.equal(checkStore('after the final run'), unique);
    const db = new Database(w.path('store.db'), { readonly: true });
    const sum = db.prepare("SELECT sum(json_extract(data, '$.tokens')) FROM events").safeIntegers(true).pluck().get() as bigint;
    db.close();
    assert.equal(sum, expected.sum);

    // Query totals: overall, per subject, per day.
    const all = w.run(['query', '--db', 'store.db', '-m', 'tokens', '--all-subjects', '--format', 'csv']);
    assert.equal(all.code, 0, all.describe());
    assert.equal(all.stdout.trimEnd().split('\n')[1]!.split(',').at(-1), expected.sum.toString(), all.describe());
    const count = w.run(['query', '--db', 'store.db', '-m', 'events', '--all-subjects', '--format', 'csv']);
    assert.equal(count.stdout.trimEnd().split('\n')[1]!.split(',').at(-1), String(unique), count.describe());
    const per = w.run(['query', '--db', 'store.db', '-m', 'tokens', '--format', 'csv']);
    assert.equal(per.code, 0, per.describe());
    assert.deepEqual(csvValues(per.stdout), new Map([...expected.bySubject].map(([s, v]) => [s, v.toString()])));
    const daily = w.run(['query', '--db', 'store.db', '-m', 'tokens', '--all-subjects', '--window', 'day', '--format', 'csv']);
    assert.equal(daily.code, 0, daily.describe());
    assert.deepEqual(csvValues(daily.stdout), new Map([...expected.byDay].map(([d, v]) => [d, v.toString()])));

    // Running it once more changes nothing.
    const again = w.run(ARGS);
    assert.equal(again.code, 0, again.describe());
    assert.equal(JSON.parse(again.stdout).inserted, 0);
  });

  test('SIGTERM stops after the current batch: exit 130, the store whole, a re-run finishes the job', async () => {
    const v = new Workdir('crash-term');
    try {
      fs.copyFileSync(w.path(INPUT), v.path(INPUT));
      const { child, done } = v.spawn(['ingest', INPUT, '--db', 'store.db', '--batch-size', String(BATCH), '--json']);
      // Signal once the first batch is committed (a fixed delay raced a fast run to its end on a quiet machine).
      for (let waited = 0; committed(v.path('store.db')) < BATCH; waited += 10) {
        assert.ok(waited < 60_000, 'no batch was committed within 60 s');
        await sleep(10);
      }
      child.kill('SIGTERM');
      const r = await done;
      assert.equal(r.code, 130, r.describe());
      assert.match(r.stderr, /interrupted/);
      const s = JSON.parse(r.stdout);
      assert.equal(s.interrupted, true);
      const db = new Database(v.path('store.db'), { readonly: true });
      const n = db.prepare('SELECT count(*) FROM events').pluck().get() as number;
      db.close();
      // Everything reported as inserted is committed, and nothing more.
      assert.equal(n, s.inserted, r.describe());
      const rest = v.run(['ingest', INPUT, '--db', 'store.db', '--batch-size', String(BATCH), '--json']);
      assert.equal(rest.code, 0, rest.describe());
      assert.equal(JSON.parse(rest.stdout).inserted + n, expected.first.size);
    } finally {
      v.remove();
    }
  });

  test('signals: one stops after the current batch, two in a row stop at once rolling it back; exit 130 always, whole batches, a re-run completes', async () => {
    // Unique events, so committed rows count whole batches: after each interrupt the store must hold exactly
    // the first k * B input events, and the same command then stores exactly the rest.
    const seed = Number(process.env.METER_TEST_SEED ?? Date.now() % 2 ** 31);
    let state = seed >>> 0;
    const rand = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const N = 400_000;
    const B = 27_000; // not a multiple of the parse worker's 5,000-event chunks
    const v = new Workdir('crash-signals');
    try {
      const lines = Array.from({ length: N }, (_, i) =>
        JSON.stringify({
          specversion: '1.0',
          id: `u${i}`,
          source: 's',
          type: 'prompt',
          subject: `c${i % 50}`,
          time: new Date(Date.parse('2026-10-01T00:00:00Z') + i * 1000).toISOString(),
          data: { tokens: i % 1000 },
        }),
      );
      v.write('u.ndjson', lines);
      const args = ['ingest', 'u.ndjson', '--db', 'u.db', '--batch-size', String(B), '--json'];
      const kinds: Array<[NodeJS.Signals, NodeJS.Signals | null]> = [
        ['SIGTERM', 'SIGTERM'],
        ['SIGINT', 'SIGINT'],
        ['SIGINT', 'SIGTERM'],
        ['SIGTERM', null],
        ['SIGINT', null],
      ];
      let stored = 0;
      let stoppedAtOnce = 0;
      for (const [first, second] of kinds) {
        const label = `seed ${seed} (METER_TEST_SEED to replay): ${first}${second ? ' + ' + second : ''} after ${stored} stored`;
        const { child, done } = v.spawn(args);
        // Signal once this run committed a batch of its own, at a random number of batches in.
        const target = stored + B * (1 + Math.floor(rand() * 2));
        for (let waited = 0; committed(v.path('u.db')) < target; waited += 5) {
          assert.ok(waited < 60_000, `${label}: no batch was committed within 60 s`);
          await sleep(5);
        }
        // The second signal follows once the first is acknowledged: two sent back to back can reach the process
        // as one (a pending signal is not queued twice).
        const acknowledged = new Promise<void>((resolve) =>
          child.stderr.on('data', (d: Buffer) => d.toString().includes('stopping after') && resolve()),
        );
        child.kill(first);
        if (second) {
          await acknowledged;
          child.kill(second);
        }
        const r = await done;
        assert.equal(r.code, 130, `${label}\n${r.describe()}`);
        // Two signals stop at once unless the first one's batch was committed before the second arrived.
        const atOnce = second !== null && /stopped at once, the open batch was rolled back/.test(r.stderr);
        if (atOnce) stoppedAtOnce++;
        // --json prints the summary either way, stopped at once too (with what was kept as inserted).
        assert.equal(JSON.parse(r.stdout).interrupted, true, `${label}\n${r.describe()}`);
        const db = new Database(v.path('u.db'), { readonly: true });
        const ids = (db.prepare('SELECT id FROM events').pluck().all() as string[]).map((id) => Number(id.slice(1))).sort((a, b) => a - b);
        db.close();
        assert.ok(ids.length >= target && ids.length < N, `${label}: ${ids.length} stored\n${r.describe()}`);
        assert.equal(ids.length % B, 0, `${label}: ${ids.length} stored, not whole batches of ${B}`);
        assert.ok(
          ids.every((id, i) => id === i),
          `${label}: the stored events are not the first ${ids.length} of the input`,
        );
        const s = JSON.parse(r.stdout) as { read: number; inserted: number; duplicates: number; conflicts: number; rejected: number };
        assert.equal(s.inserted, ids.length - stored, `${label}: the summary's inserted`);
        if (!atOnce) {
          // Every record the summary says it read has its outcome in it: none read after the last commit is counted.
          assert.equal(s.read, s.inserted + s.duplicates + s.conflicts + s.rejected, `${label}: the summary's read`);
        }
        stored = ids.length;
      }
      assert.ok(stoppedAtOnce > 0, `seed ${seed}: no second signal arrived while a batch was open`);
      const rest = v.run(args);
      assert.equal(rest.code, 0, rest.describe());
      assert.equal(JSON.parse(rest.stdout).inserted, N - stored);
      const db = new Database(v.path('u.db'), { readonly: true });
      assert.equal(db.prepare('SELECT count(DISTINCT id) FROM events').pluck().get(), N);
      db.close();
    } finally {
      v.remove();
    }
  });
});
