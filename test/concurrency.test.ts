/**
 * Concurrent writers and readers on one SQLite store: 4 `meter ingest` runs at once on overlapping files never show
 * "database is locked" to the user and store every event exactly once; a `meter query` during an ingest succeeds
 * and sees a committed state, never half a batch.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { TOKENS_AND_COUNT_METERS } from './fixtures.js';
import { subjectRowsListing, type Workdir, line, type RunResult, workdirs } from './helpers.js';

const workdir = workdirs();

const METERS = TOKENS_AND_COUNT_METERS;

/** The event with number i: its tokens depend on i only, so every copy in every file is the same event. */
function ev(i: number): string {
  return line({
    id: `ev-${i}`,
    source: `src-${i % 3}`,
    subject: `customer-${i % 17}`,
    time: new Date(Date.parse('2026-10-01T00:00:00Z') + i * 37_000).toISOString(),
    data: { tokens: (i % 97) + 1, model: i % 2 ? 'gpt-4o' : 'o3-mini' },
  });
}

function tokensOf(i: number): number {
  return (i % 97) + 1;
}

function lastValue(r: RunResult): string {
  return r.stdout.trimEnd().split('\n')[1]?.split(',').at(-1) ?? '';
}

function assertNoLockError(r: RunResult): void {
  assert.doesNotMatch(r.stderr, /locked|busy|SQLITE_/i, r.describe());
}

/** Ingests four overlapping files at once and checks the store and the totals. */
async function fourWriters(w: Workdir, db: string, n: number, batch: number, alreadyStored = 0): Promise<void> {
  // File k holds events [k*n/5, k*n/5 + 2n/5), the last wraps around: every event is in two files, in another
  // order in each (the odd files are reversed), so the writers fight over the same keys.
  const files: string[] = [];
  let lines = 0;
  for (let k = 0; k < 4; k++) {
    const ids: number[] = [];
    const from = Math.floor((k * n) / 4),
      len = Math.floor(n / 2);
    for (let j = 0; j < len; j++) ids.push((from + j) % n);
    if (k % 2) ids.reverse();
    lines += ids.length;
    files.push(w.write(`part-${k}.ndjson`, ids.map(ev)));
  }
  const runs = files.map((f) => w.spawn(['ingest', f, '--db', db, '--batch-size', String(batch), '--json']));
  const results = await Promise.all(runs.map((r) => r.done));
  let inserted = 0,
    duplicates = 0;
  for (const r of results) {
    assert.equal(r.code, 0, r.describe());
    assertNoLockError(r);
    const s = JSON.parse(r.stdout);
    inserted += s.inserted;
    duplicates += s.duplicates;
    assert.equal(s.conflicts, 0, r.describe());
  }
  assert.equal(inserted, n - alreadyStored, 'each event inserted by exactly one of the writers');
  assert.equal(duplicates, lines - n + alreadyStored);

  const d = new Database(w.path(db), { readonly: true });
  const count = d.prepare('SELECT count(*) FROM events').pluck().get();
  const distinct = d.prepare('SELECT count(*) FROM (SELECT DISTINCT source, id FROM events)').pluck().get();
  const sum = d.prepare("SELECT sum(json_extract(data, '$.tokens')) FROM events").pluck().get();
  // Each writer's subject_rows list its own rows: together, every row once, under its subject.
  const listed = subjectRowsListing(d);
  d.close();
  assert.deepEqual(listed, { n, d: n, found: n, right: n });
  let expected = 0;
  for (let i = 0; i < n; i++) expected += tokensOf(i);
  assert.deepEqual([count, distinct, sum], [n, n, expected]);

  const q = w.run(['query', '--db', db, '-m', 'tokens', '--all-subjects', '--format', 'csv']);
  assert.equal(q.code, 0, q.describe());
  assert.equal(lastValue(q), String(expected), q.describe());
  const c = w.run(['query', '--db', db, '-m', 'events', '--all-subjects', '--format', 'csv']);
  assert.equal(lastValue(c), String(n), c.describe());
}

describe('concurrency', () => {
  test('4 ingests at once into a store that does not exist yet: all exit 0, no lock errors, exact totals', async () => {
    const w = workdir('conc-new');
    w.write('meter.yaml', METERS);
    await fourWriters(w, 'fresh.db', 40_000, 1000);
  });

  test('4 ingests at once into an existing store, default batch size: all exit 0, exact totals', async () => {
    const w = workdir('conc-existing');
    w.write('meter.yaml', METERS);
    w.write('seed.ndjson', [ev(0)]);
    const seed = w.run(['ingest', 'seed.ndjson', '--db', 'shared.db']);
    assert.equal(seed.code, 0, seed.describe());
    await fourWriters(w, 'shared.db', 120_000, 50_000, 1);
  });

  test('a query during an ingest succeeds and sees a committed state (a whole number of batches, or all)', async () => {
    const w = workdir('conc-query');
    w.write('meter.yaml', METERS);
    const N = 200_000;
    const BATCH = 1000;
    // Every event has 1 token, so a total counts events: a committed state is a multiple of the batch size.
    const lines: string[] = [];
    for (let i = 0; i < N; i++) {
      lines.push(
        `{"specversion":"1.0","id":"q-${i}","source":"s","type":"prompt","subject":"acme",` +
          `"time":"${new Date(Date.parse('2026-10-01T00:00:00Z') + i * 1000).toISOString()}","data":{"tokens":1}}`,
      );
    }
    w.write('big.ndjson', lines);
    // The store exists (empty) before the ingest starts, so every query finds one.
    w.write('empty.ndjson', '');
    assert.equal(w.run(['ingest', 'empty.ndjson', '--db', 'q.db']).code, 0);

    const ingest = w.spawn(['ingest', 'big.ndjson', '--db', 'q.db', '--batch-size', String(BATCH), '--json']);
    let finished = false;
    void ingest.done.then(() => (finished = true));
    const seen: number[] = [];
    const failures: string[] = [];
    while (!finished) {
      const q = w.spawn(['query', '--db', 'q.db', '-m', 'tokens', '--all-subjects', '--format', 'csv']);
      const r = await q.done;
      if (r.code !== 0 || /locked|busy/i.test(r.stderr)) {
        failures.push(r.describe());
        continue;
      }
      const v = lastValue(r);
      seen.push(v === '' || v === 'value' ? 0 : Number(v));
      await sleep(20);
    }
    const ing = await ingest.done;
    assert.equal(ing.code, 0, ing.describe());
    assertNoLockError(ing);
    assert.deepEqual(failures, [], 'queries during the ingest failed');
    assert.ok(seen.length >= 2, `only ${seen.length} queries ran during the ingest`);
    const partial = seen.filter((v) => v > 0 && v < N);
    assert.ok(partial.length >= 1, `no query saw the ingest half-way: ${seen.join(', ')}`);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! >= seen[i - 1]!, `totals went backwards: ${seen.join(', ')}`);
    const torn = seen.filter((v) => v !== N && v % BATCH !== 0);
    assert.deepEqual(torn, [], `totals that are not a whole number of --batch-size ${BATCH} batches: ${seen.join(', ')}`);
    const final = w.run(['query', '--db', 'q.db', '-m', 'tokens', '--all-subjects', '--format', 'csv']);
    assert.equal(lastValue(final), String(N));
  });

  test('events, subjects and stats during an ingest: exit 0, no lock errors', async () => {
    const w = workdir('conc-readers');
    const lines: string[] = [];
    for (let i = 0; i < 120_000; i++) lines.push(ev(i));
    w.write('big.ndjson', lines);
    w.write('empty.ndjson', '');
    assert.equal(w.run(['ingest', 'empty.ndjson', '--db', 'r.db']).code, 0);
    const ingest = w.spawn(['ingest', 'big.ndjson', '--db', 'r.db', '--batch-size', '2000', '--json']);
    let finished = false;
    void ingest.done.then(() => (finished = true));
    const failures: string[] = [];
    let rounds = 0;
    while (!finished || rounds === 0) {
      rounds++;
      const rs = await Promise.all(
        [
          ['events', '--db', 'r.db', '-n', '5'],
          ['subjects', '--db', 'r.db'],
          ['stats', '--db', 'r.db'],
        ].map((a) => w.spawn(a).done),
      );
      for (const r of rs) if (r.code !== 0 || /locked|busy/i.test(r.stderr)) failures.push(r.describe());
    }
    const ing = await ingest.done;
    assert.equal(ing.code, 0, ing.describe());
    assert.deepEqual(failures, []);
  });
});
