/**
 * The SQLite store on its own, with hand-made events: what ingest cannot easily produce, such as two different
 * (source, id) under one 53-bit key (a hash collision), and the bookkeeping of subject_rows.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import type { Meter } from '../src/core/meter.js';
import type { MeterQuery } from '../src/store/store.js';
import { SqliteStore } from '../src/store/sqlite/store.js';
import { keyedEvent } from './fixtures.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meter-sqlite-store-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;
const newStore = () => SqliteStore.open(path.join(dir, `s${n++}.db`));

const ev = keyedEvent;

async function stored(store: SqliteStore): Promise<string[]> {
  const ids: string[] = [];
  for await (const e of store.events({ subjects: [], limit: 1000 })) ids.push(`${e.subject}/${e.id}`);
  return ids.sort();
}

describe('SQLite store: hash collisions stay exact', () => {
  test('two events under one key are both stored, and each copy is found again', async () => {
    const s = newStore();
    try {
      const first = await s.writeBatch([ev('a', 7), ev('b', 7), ev('c', 7, { subject: 'globex' })], 0);
      assert.deepEqual([first.inserted, first.duplicates, first.conflicts], [3, 0, 0]);
      assert.deepEqual(await stored(s), ['acme/a', 'acme/b', 'globex/c']);
      // Copies: the same content is a duplicate, other content a conflict, whether the key holder or a collider.
      const again = await s.writeBatch([ev('b', 7), ev('a', 7), ev('c', 7, { data: '{"tokens":2}' })], 0);
      assert.deepEqual([...again.status], [1, 1, 2]);
      // In a batch that also inserts: a collider's copy, another time, a new collider and its copy, a copy of the
      // key holder with other data.
      const mixed = await s.writeBatch(
        [ev('c', 7, { subject: 'globex' }), ev('b', 7, { timeMs: 1 }), ev('d', 7), ev('d', 7), ev('e', 8), ev('a', 7, { data: null })],
        0,
      );
      assert.deepEqual([...mixed.status], [1, 2, 0, 1, 0, 2]);
      assert.deepEqual(await stored(s), ['acme/a', 'acme/b', 'acme/d', 'acme/e', 'globex/c']);
    } finally {
      await s.close();
    }
  });

  test('copies and conflicts write nothing: the stored rows and the file stay as they were', async () => {
    const s = newStore();
    try {
      await s.writeBatch([ev('a', 1), ev('b', 2), ev('c', 2)], 0);
      const reader = new Database(s.location, { readonly: true });
      try {
        const version = () => reader.pragma('data_version', { simple: true });
        const before = version();
        const r = await s.writeBatch([ev('a', 1), ev('a', 1, { data: '{"tokens":9}' }), ev('b', 2, { subject: 'globex' }), ev('c', 2)], 0);
        assert.deepEqual([...r.status], [1, 2, 2, 1]);
        assert.equal(version(), before, 'a batch of copies and conflicts changed the store');
      } finally {
        reader.close();
      }
    } finally {
      await s.close();
    }
  });

  test('an event without a time matches a copy without a time, whatever the ingestion time', async () => {
    const s = newStore();
    try {
      await s.writeBatch([ev('a', 1, { timeMissing: true, timeMs: 1000 })], 0);
      const r = await s.writeBatch([ev('a', 1, { timeMissing: true, timeMs: 2000 }), ev('a', 1, { timeMs: 1000 })], 0);
      assert.deepEqual([...r.status], [1, 2]);
    } finally {
      await s.close();
    }
  });
});

describe('SQLite store: sources and types written into statements', () => {
  test('hostile, long and many sources and types are stored exactly, and their copies found again', async () => {
    const odd = [
      "'",
      "''",
      "') OR 1=1 --",
      "x'; DROP TABLE events; --",
      'é ü 中文 😀',
      '\u2028',
      '\ud800',
      'a\nb',
      '?',
      ':name',
      'x'.repeat(500),
    ];
    // More pairs than get their own statement (16), each used twice in a row and once more later.
    const pairs = [
      ...odd.map((v) => [v, 'prompt']),
      ...odd.map((v) => ['src', v]),
      ...Array.from({ length: 10 }, (_, i) => [`s${i}`, `t${i}`]),
    ];
    const events = pairs.flatMap(([source, type], i) => [
      ev(`a${i}`, 1000 + 2 * i, { source, type }),
      ev(`b${i}`, 1001 + 2 * i, { source, type }),
    ]);
    const s = newStore();
    try {
      const first = await s.writeBatch([...events, events[0]!], 0);
      assert.equal(first.inserted, events.length);
      assert.equal(first.duplicates, 1);
      const again = await s.writeBatch([...events].reverse(), 0);
      assert.equal(again.duplicates, events.length);
      const conflict = await s.writeBatch([{ ...events[5]!, type: 'other' }], 0);
      assert.equal(conflict.conflicts, 1);
      const stored: Array<[string, string]> = [];
      for await (const e of s.events({ subjects: [], limit: 10_000 })) stored.push([e.source, e.type]);
      // Exactly what a bound parameter stores (a lone surrogate comes back as replacement characters).
      const bound = new Database(':memory:');
      const roundTrip = bound.prepare('SELECT ?').pluck();
      const expected = events.map((e) => [e.source, e.type].map((v) => roundTrip.get(v) as string));
      bound.close();
      assert.deepEqual(stored.sort(), expected.sort());
    } finally {
      await s.close();
    }
  });
});

describe('SQLite store: subject_rows', () => {
  test('lists every stored row once per commit, and none of a rolled back batch', async () => {
    const s = newStore();
    const file = s.location;
    try {
      await s.writeBatch([ev('a', 1), ev('b', 2, { subject: 'globex', timeMs: 5 }), ev('c', 3, { timeMs: 9 })], 0, { commit: false });
      await s.writeBatch([ev('a', 1), ev('d', 4)], 0);
      await s.writeBatch([ev('e', 5, { subject: 'globex' })], 0);
      // A batch that fails (NULL subject breaks a constraint) leaves nothing behind, in events or in subject_rows.
      await assert.rejects(s.writeBatch([ev('f', 6), ev('g', 7, { subject: null as unknown as string })], 0));
      assert.deepEqual(
        (await s.subjects()).map((r) => [r.subject, r.events, r.firstMs, r.lastMs]),
        [
          ['acme', 3, 9, 1_790_000_000_000],
          ['globex', 2, 5, 1_790_000_000_000],
        ],
      );
    } finally {
      await s.close();
    }
    const db = new Database(file, { readonly: true });
    try {
      const rows = db.prepare('SELECT subject, n, seqs FROM subject_rows ORDER BY subject, first_seq').raw(true).all();
      assert.deepEqual(rows, [
        ['acme', 3, '[1,3,4]'],
        ['globex', 1, '[2]'],
        ['globex', 1, '[5]'],
      ]);
    } finally {
      db.close();
    }
  });
});

describe('SQLite store: exact values (issue "Exact everywhere")', () => {
  const meter = (aggregation: Meter['aggregation'], groupBy: Meter['groupBy'] = []): Meter => ({
    slug: 'm',
    eventType: 'prompt',
    aggregation,
    valueProperty: aggregation === 'COUNT' ? undefined : '$.v',
    groupBy,
  });
  const query = (m: Meter, over: Partial<MeterQuery> = {}): MeterQuery => ({
    meter: m,
    window: null,
    subjects: [],
    groupBy: m.groupBy.map((g) => ({ key: g.key, path: g.path })),
    filters: [],
    perSubject: true,
    ...over,
  });
  async function values(s: SqliteStore, q: MeterQuery): Promise<Array<[string | null, ...string[], string | null]>> {
    const out: Array<[string | null, ...string[], string | null]> = [];
    for await (const r of s.aggregate(q)) out.push([r.subject, ...r.groups, r.value]);
    return out;
  }
  let k = 1000;
  const data = (subject: string, d: string) => ev(`x${k}`, k++, { subject, data: d });

  test('MIN and MAX follow the exact decimal order, never a double comparison; LATEST shows the exact value', async () => {
    const s = newStore();
    try {
      // Values equal as doubles, in random order, with the extreme among them.
      const big = ['9223372036854775807', '"9223372036854775808"', '9223372036854775806', '"9223372036854775807.5"'];
      const small = ['-9223372036854775808', '"-9223372036854775809"', '-9223372036854775807'];
      const shuffled = [...big, ...small].sort(() => Math.random() - 0.5);
      await s.writeBatch(
        shuffled.map((v) => data('acme', `{"v":${v}}`)),
        0,
      );
      assert.deepEqual(await values(s, query(meter('MAX'))), [['acme', '9223372036854775808']]);
      assert.deepEqual(await values(s, query(meter('MIN'))), [['acme', '-9223372036854775809']]);
      // Decimals past double precision, and numeric strings in other spellings (printed canonical).
      await s.writeBatch(
        [
          data('globex', '{"v":0.1000000000000000000001}'),
          data('globex', '{"v":"0.10000000000000000000010"}'),
          data('globex', '{"v":"1e-1"}'),
        ],
        0,
      );
      assert.deepEqual(await values(s, query(meter('MAX'), { subjects: ['globex'] })), [['globex', '0.1000000000000000000001']]);
      assert.deepEqual(await values(s, query(meter('MIN'), { subjects: ['globex'] })), [['globex', '0.1']]);
      // LATEST: all at one time: the later stored wins, shown exactly.
      assert.deepEqual(await values(s, query(meter('LATEST'), { subjects: ['globex'] })), [['globex', '0.1']]);
      await s.writeBatch([data('initech', '{"v":"12345678901234567890.50"}')], 0);
      assert.deepEqual(await values(s, query(meter('LATEST'), { subjects: ['initech'] })), [['initech', '12345678901234567890.5']]);
    } finally {
      await s.close();
    }
  });

  test('numbers group and count by value: 2, 2.0 and "2" are one value, "2.0" is another', async () => {
    const s = newStore();
    try {
      // Stored data is canonical (ingest makes it so): 2.0 arrives as 2. Strings keep their spelling.
      await s.writeBatch(
        [
          data('a', '{"v":2,"t":1}'),
          data('a', '{"v":"2","t":1}'),
          data('a', '{"v":"2.0","t":10000000000000000000001}'),
          data('a', '{"v":true,"t":0.5}'),
        ],
        0,
      );
      assert.deepEqual(await values(s, query(meter('UNIQUE_COUNT'))), [['a', '3']]);
      const byT = query(meter('COUNT', [{ key: 't', path: '$.t' }]));
      assert.deepEqual(await values(s, byT), [
        ['a', '0.5', '1'],
        ['a', '1', '2'],
        ['a', '10000000000000000000001', '1'],
      ]);
      assert.deepEqual(await values(s, { ...byT, filters: [{ dimension: byT.groupBy[0]!, values: ['10000000000000000000001'] }] }), [
        ['a', '10000000000000000000001', '1'],
      ]);
    } finally {
      await s.close();
    }
  });

  test('no events, no row: every aggregation, across subjects or for a subject with no events', async () => {
    const s = newStore();
    try {
      await s.writeBatch([data('acme', '{"v":1}')], 0);
      for (const agg of ['SUM', 'COUNT', 'AVG', 'MIN', 'MAX', 'UNIQUE_COUNT', 'LATEST'] as const) {
        assert.deepEqual(await values(s, query(meter(agg), { subjects: ['nobody'] })), [], agg);
        assert.deepEqual(await values(s, query(meter(agg), { perSubject: false, subjects: ['nobody'] })), [], agg);
        assert.deepEqual(await values(s, query(meter(agg), { perSubject: false, fromMs: 0, toMs: 1 })), [], agg);
        assert.deepEqual(await values(s, query({ ...meter(agg), eventType: 'other' }, { perSubject: false })), [], agg);
      }
    } finally {
      await s.close();
    }
  });

  test('a SUM that restarts on the exact path reads the snapshot it started with, while another process commits', async () => {
    const file = path.join(dir, `snap${n++}.db`);
    const writer = SqliteStore.open(file);
    await writer.writeBatch([data('s1', '{"v":1}'), data('s3', '{"v":0.5}')], 0);
    const reader = SqliteStore.open(file, { readonly: true });
    try {
      const rows: string[] = [];
      for await (const r of reader.aggregate(query(meter('SUM')))) {
        rows.push(`${r.subject}=${r.value}`);
        // After the first row, a subject that sorts before it arrives: the restarted query must not see it.
        if (rows.length === 1) await writer.writeBatch([data('s0', '{"v":7}'), data('s2', '{"v":9}')], 0);
      }
      assert.deepEqual(rows, ['s1=1', 's3=0.5']);
      const again: string[] = [];
      for await (const r of reader.aggregate(query(meter('SUM')))) again.push(`${r.subject}=${r.value}`);
      assert.deepEqual(again, ['s0=7', 's1=1', 's2=9', 's3=0.5']);
    } finally {
      await reader.close();
      await writer.close();
    }
  });
});
