/**
 * A query over a range of millennia (year 1 to 9999, which any client of `meter serve` may send, portal tokens
 * included) in a zone with DST: its window plan covers the data, not the range, so that it costs milliseconds
 * rather than seconds of the server's only thread, and its answer is the same. A report over such a range (whose
 * windows are all drawn) is refused before it is planned.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { Meter } from '../src/core/meter.js';
import type { MeterQuery } from '../src/core/ports.js';
import { runQuery, type ResultRow } from '../src/core/query.js';
import { buildReport } from '../src/core/report.js';
import { UsageError } from '../src/errors.js';
import { SqliteStore } from '../src/store/sqlite/store.js';
import { keyedEvent } from './fixtures.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meter-query-range-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const meter: Meter = { slug: 'tokens', eventType: 'prompt', aggregation: 'SUM', valueProperty: '$.tokens', groupBy: [] };

/** The rows of a query of `meter` over every subject together, in `window` windows of `tz`. */
async function queryRows(store: SqliteStore, window: string, tz: string, from: string, to: string) {
  const result = await runQuery(store, {
    meters: [meter],
    meter: 'tokens',
    window,
    tz,
    from,
    to,
    subjects: [],
    groupBy: [],
    filters: [],
    fill: false,
    allSubjects: true,
  });
  const rows: ResultRow[] = [];
  for await (const r of result.rows) rows.push(r);
  return { result, rows };
}

test('a DAY query from year 1 to 9999 in Europe/Budapest plans the data, not the millennia, and answers the same', async () => {
  const store = SqliteStore.open(path.join(dir, 'range.db'));
  try {
    // Either side of the autumn DST change of 2026 (25 October), so that the plan needs its offset segments.
    await store.writeBatch(
      [
        keyedEvent('a', 1, { timeMs: Date.parse('2026-10-24T22:30:00Z'), data: '{"tokens":2}' }),
        keyedEvent('b', 2, { timeMs: Date.parse('2026-10-26T00:30:00Z'), data: '{"tokens":3}' }),
      ],
      Date.now(),
      { commit: true },
    );
    const segments: number[] = [];
    const aggregate = store.aggregate.bind(store);
    store.aggregate = (q: MeterQuery) => {
      segments.push(q.window!.segments.length);
      return aggregate(q);
    };
    const ask = async (from: string, to: string) => {
      const t0 = performance.now();
      const { result, rows } = await queryRows(store, 'DAY', 'Europe/Budapest', from, to);
      return {
        rows: rows.map((r) => [result.formatTime(r.windowStart), result.formatTime(r.windowEnd), r.value]),
        ms: performance.now() - t0,
      };
    };
    const wide = await ask('0001-01-01T00:00:00Z', '9999-12-31T00:00:00Z');
    const narrow = await ask('2026-10-01T00:00:00Z', '2026-11-01T00:00:00Z');
    assert.deepEqual(wide.rows, [
      ['2026-10-25T00:00:00+02:00', '2026-10-26T00:00:00+01:00', '2'],
      ['2026-10-26T00:00:00+01:00', '2026-10-27T00:00:00+01:00', '3'],
    ]);
    assert.deepEqual(wide.rows, narrow.rows);
    // Two offsets around the data (and a change or two within its two days of margin), not 16,000 of ten millennia.
    assert.ok(segments[0]! <= 4, `the wide query planned ${segments[0]} offset segments`);
    assert.ok(wide.ms < 2000, `the wide query took ${Math.round(wide.ms)} ms`);
  } finally {
    await store.close();
  }
});

test('a long range over no data of the meter answers no rows at once', async () => {
  const store = SqliteStore.open(path.join(dir, 'empty.db'));
  try {
    const { rows } = await queryRows(store, 'HOUR', 'Australia/Lord_Howe', '0001-01-01T00:00:00Z', '9999-12-31T00:00:00Z');
    assert.deepEqual(rows, []);
  } finally {
    await store.close();
  }
});

test('a report of day windows from year 1 to 9999 in Australia/Lord_Howe is refused before its windows are planned', async () => {
  const store = SqliteStore.open(path.join(dir, 'report.db'));
  try {
    for (const [window, tz] of [
      ['day', 'Australia/Lord_Howe'],
      ['month', 'Europe/Budapest'],
    ] as const) {
      const t0 = performance.now();
      await assert.rejects(
        buildReport(store, {
          meters: [meter],
          meterSlugs: [],
          tz,
          from: '0001-01-01T00:00:00Z',
          to: '9999-12-31T00:00:00Z',
          window,
          subjects: [],
          top: 8,
        }),
        (e: unknown) => e instanceof UsageError && e.message.startsWith(`the range holds more than 10000 ${window} windows`),
      );
      const ms = performance.now() - t0;
      // Planning the range first took 5-8 s of the only thread on a 2-core machine.
      assert.ok(ms < 1500, `refusing the ${window} report took ${Math.round(ms)} ms`);
    }
  } finally {
    await store.close();
  }
});
