/**
 * Staging (store/sqlite/staging.ts): events committed through stage() and merged later give exactly the store that
 * writeBatch would have given, the first copy winning in arrival order, whenever the merge runs: on a read, at
 * MERGE_AT waiting events, or when the next process opens the store (read-only ones included).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import type { UsageEvent } from '../src/core/event.js';
import type { Meter } from '../src/core/meter.js';
import type { MeterQuery } from '../src/store/store.js';
import { MERGE_AT } from '../src/store/sqlite/staging.js';
import { SqliteStore } from '../src/store/sqlite/store.js';
import { keyedEvent } from './fixtures.js';
import { Rng, runSeed } from './gen.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meter-staging-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;
const newFile = () => path.join(dir, `s${n++}.db`);

const ev = keyedEvent;

/** Every stored event as one line, sorted: what two stores must agree on (their seqs may differ). */
async function contents(s: SqliteStore): Promise<string[]> {
  const out: string[] = [];
  for await (const e of s.events({ subjects: [], limit: 1_000_000 }))
    out.push(JSON.stringify([e.source, e.id, e.type, e.subject, e.timeMs, e.data, e.ingestedMs]));
  return out.sort();
}

const meter: Meter = { slug: 'm', eventType: 'prompt', aggregation: 'SUM', valueProperty: '$.tokens', groupBy: [] };
const query: MeterQuery = { meter, window: null, subjects: [], groupBy: [], filters: [], perSubject: true };
async function sums(s: SqliteStore): Promise<string[]> {
  const out: string[] = [];
  for await (const r of s.aggregate(query)) out.push(`${r.subject}=${r.value}`);
  return out;
}

/** The stored rows as the file holds them (the fp column too, which decides how later copies compare), sorted. */
const rows = (file: string) => {
  const db = new Database(file, { readonly: true });
  try {
    const all = db.prepare('SELECT source, id, type, subject, time_ms, data, fp, ingested_ms FROM events').raw(true).all();
    return all.map((r) => JSON.stringify(r)).sort();
  } finally {
    db.close();
  }
};

const stagedRows = (file: string) => {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare('SELECT coalesce(sum(json_array_length(events)), 0) FROM staged').pluck().get() as number;
  } finally {
    db.close();
  }
};

describe('staging', () => {
  test('random batches through stage() of two servers on one store equal the same batches through writeBatch: copies, conflicts, key collisions, events without time', async () => {
    const seed = runSeed();
    const rng = new Rng(seed);
    const staged = newFile(),
      direct = newFile();
    // Two stagers on one file (two servers), each merging at random moments, what the other staged too.
    const a = [SqliteStore.open(staged), SqliteStore.open(staged)];
    const b = SqliteStore.open(direct);
    try {
      for (let batch = 0; batch < 150; batch++) {
        const events: UsageEvent[] = [];
        for (let i = rng.int(1, 40); i > 0; i--) {
          const id = `e${rng.int(0, 300)}`;
          // A few ids share a key with another id (a 53-bit hash collision); the rest have their own.
          const key = rng.chance(0.05) ? 7 : 1000 + Number(id.slice(1));
          const missing = rng.chance(0.1);
          events.push(
            ev(id, key, {
              source: rng.pick(['src', 'other']),
              subject: rng.pick(['acme', 'globex', "it's"]),
              data: `{"tokens":${rng.pick(['1', '2', '0.5', '12345678901234567890'])}}`,
              timeMissing: missing,
              timeMs: missing ? 1_790_000_000_000 + batch : 1_790_000_000_000 + rng.int(0, 3) * 1000,
            }),
          );
        }
        const ingested = 1_800_000_000_000 + batch;
        await a[rng.int(0, 1)]!.stage(events, ingested);
        await b.writeBatch(events, ingested, { commit: true });
        const step = rng.int(0, 9);
        const which = rng.int(0, 1);
        if (step <= 1) await a[which]!.settle();
        if (step === 2) {
          // A crash before any merge: the staged events are committed, and the next opening merges them.
          a[which]!.closeNow();
          a[which] = SqliteStore.open(staged);
        }
        if (step === 3) assert.deepEqual(await sums(a[which]!), await sums(b), `seed ${seed}, batch ${batch}`);
      }
      assert.deepEqual(await contents(a[0]!), await contents(b), `seed ${seed}`);
      assert.deepEqual(await sums(a[1]!), await sums(b), `seed ${seed}`);
      assert.equal(stagedRows(staged), 0, `seed ${seed}: a read merged everything`);
    } finally {
      for (const s of a) s.closeNow();
      b.closeNow();
    }
    assert.deepEqual(rows(staged), rows(direct), `seed ${seed}`);
  });

  test('MERGE_AT waiting events are merged without a read; fewer wait in the staged table', async () => {
    const file = newFile();
    const s = SqliteStore.open(file);
    try {
      const batch = (from: number, count: number) => Array.from({ length: count }, (_, i) => ev(`x${from + i}`, 10 + from + i));
      await s.stage(batch(0, MERGE_AT - 1), 1);
      assert.equal(stagedRows(file), MERGE_AT - 1);
      await s.stage(batch(MERGE_AT - 1, 2), 2);
      assert.equal(stagedRows(file), 0);
      await s.stage(batch(MERGE_AT + 1, 5), 3);
      assert.equal(stagedRows(file), 5);
      assert.deepEqual(await sums(s), [`acme=${MERGE_AT + 6}`]);
    } finally {
      s.closeNow();
    }
  });

  test('a read-only process that may write the store merges what another left staged; one that may not reads what is merged', async () => {
    const file = newFile();
    const w = SqliteStore.open(file);
    await w.writeBatch([ev('a', 1)], 0);
    await w.stage([ev('b', 2), ev('a', 1, { data: '{"tokens":100}' })], 0);
    const reader = SqliteStore.open(file, { readonly: true });
    try {
      assert.deepEqual(await sums(reader), ['acme=2'], 'the staged event counts; the conflicting copy does not');
      assert.equal(stagedRows(file), 0);
      await w.stage([ev('c', 3)], 0);
    } finally {
      reader.closeNow();
      w.closeNow();
    }
    fs.chmodSync(file, 0o444);
    try {
      if (process.getuid?.() === 0) return; // root may write a 0444 file: nothing to check
      const ro = SqliteStore.open(file, { readonly: true });
      try {
        assert.deepEqual(await sums(ro), ['acme=2']);
        assert.equal(stagedRows(file), 1);
      } finally {
        ro.closeNow();
      }
    } finally {
      fs.chmodSync(file, 0o600);
    }
  });
});

describe('staging and other writers', () => {
  test("a batch of another process commits after what a server staged before it: the staged copy wins, the batch's is a conflict", async () => {
    const file = newFile();
    const server = SqliteStore.open(file);
    // An ingest that opened the store before the server staged anything (so its opening merged nothing).
    const ingest = SqliteStore.open(file);
    try {
      await server.stage([ev('a', 1, { data: '{"tokens":1}' })], 0);
      const r = await ingest.writeBatch([ev('a', 1, { data: '{"tokens":1000}' }), ev('b', 2)], 0);
      assert.deepEqual([r.inserted, r.duplicates, r.conflicts], [1, 0, 1]);
      assert.equal(stagedRows(file), 0, "the batch's transaction merged the staged events first");
      assert.deepEqual(await sums(server), ['acme=2']);
    } finally {
      server.closeNow();
      ingest.closeNow();
    }
  });

  test('a commit that brings MERGE_AT events merges them with its own; if that fails, none of it is stored and the staged stay', async () => {
    const file = newFile();
    const s = SqliteStore.open(file);
    try {
      const big = Array.from({ length: MERGE_AT - 1 }, (_, i) => ev(`x${i}`, 10 + i, { data: `{"tokens":1,"p":"${'y'.repeat(40)}"}` }));
      await s.stage(big, 0);
      // Room for one more staged commit, not for merging them all into the events table.
      s['db'].pragma(`max_page_count = ${(s['db'].pragma('page_count', { simple: true }) as number) + 2}`);
      await assert.rejects(s.stage([ev('last', 5)], 0), /full/);
      assert.equal(stagedRows(file), MERGE_AT - 1);
      assert.equal(s['db'].prepare('SELECT count(*) FROM events').pluck().get(), 0);
      s['db'].pragma('max_page_count = 1073741823');
      await s.stage([ev('last', 5)], 0);
      assert.equal(stagedRows(file), 0);
      assert.deepEqual(await sums(s), [`acme=${MERGE_AT}`]);
    } finally {
      s.closeNow();
    }
  });
});
