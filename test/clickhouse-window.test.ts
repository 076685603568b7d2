/**
 * The ClickHouse window key against the JS plan (WindowPlan.keyOf), on the real server: seeded random times from
 * year 0001 to 9999 (negative epochs included), every second boundary of a minute (around 32.768 s above all,
 * where an Int16 remainder wraps), every window size and zones with odd offsets and DST rules. All times of one
 * run go to the server in one query, so the test stays fast.
 *
 * Seed: METER_SEED (a number) or random; every failure message prints it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { clickhouseDialect } from '../src/store/clickhouse/aggregate-sql.js';
import { windowKeySql } from '../src/store/sql-dialect.js';
import { DAY_MS, WindowPlan, type WindowSize } from '../src/core/window.js';
import { prng } from '../bench/generate.js';
import { CH_HTTP, useClickHouse } from './clickhouse-server.js';

const SEED = process.env.METER_SEED !== undefined ? Number(process.env.METER_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0;

/** Runs SQL on the test server (long queries allowed); returns the body. */
async function ch(sql: string): Promise<string> {
  const r = await fetch(`${CH_HTTP}/?max_query_size=100000000&max_ast_elements=10000000&max_expanded_ast_elements=10000000`, {
    method: 'POST',
    body: sql,
  });
  const body = await r.text();
  if (!r.ok) throw new Error(`ClickHouse: ${body.slice(0, 2000)}`);
  return body;
}

useClickHouse();

const ZONES = ['UTC', 'Asia/Kathmandu', 'America/St_Johns', 'Europe/Budapest', 'Australia/Lord_Howe'];
const SIZES: WindowSize[] = ['MINUTE', 'HOUR', 'DAY', 'MONTH'];
const MIN_MS = -62135596800000; // 0001-01-01T00:00:00Z
const MAX_MS = 253402300799999; // 9999-12-31T23:59:59.999Z

/** A time span of a plan: around a random instant of years 1..9999, or of 1900..2100 where zones change most. */
function spans(rand: () => number, n: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const modernFrom = Date.UTC(1900, 0, 1),
    modernTo = Date.UTC(2100, 0, 1);
  for (let i = 0; i < n; i++) {
    const modern = i % 2 === 0;
    const lo = modern ? modernFrom : MIN_MS + 3 * DAY_MS;
    const hi = modern ? modernTo : MAX_MS - 100 * DAY_MS;
    const from = Math.floor(lo + rand() * (hi - lo));
    // Up to 80 days: long enough to hold a DST change now and then, short enough for few offset segments.
    const len = Math.floor((0.5 + rand() * 79.5) * DAY_MS);
    out.push([from, Math.min(from + len, MAX_MS - 3 * DAY_MS)]);
  }
  // Fixed spans over DST changes (Budapest, St John's, Lord Howe) and the epoch.
  out.push([Date.UTC(2026, 9, 20), Date.UTC(2026, 10, 5)]);
  out.push([Date.UTC(2026, 2, 1), Date.UTC(2026, 3, 15)]);
  out.push([Date.UTC(1969, 11, 20), Date.UTC(1970, 0, 10)]);
  return out;
}

/** Times in [from, to]: random ones, and every second boundary (±1 ms) of a random minute, 32.768 s above all. */
function times(rand: () => number, from: number, to: number): number[] {
  const out: number[] = [from, to];
  for (let i = 0; i < 40; i++) out.push(Math.floor(from + rand() * (to - from)));
  const minute = Math.floor((from + rand() * (to - from - 120_000)) / 60_000) * 60_000;
  for (let s = 0; s < 60; s++) for (const d of [-1, 0, 1]) out.push(minute + s * 1000 + d);
  for (const d of [32_767, 32_768, 32_769, 59_999, 60_000, 65_535, 65_536, 92_767, 92_768]) out.push(minute + d);
  return out.filter((t) => t >= from && t <= to);
}

describe('ClickHouse window keys equal WindowPlan.keyOf', () => {
  test(`minute, hour, day and month keys in five zones, years 0001-9999 (seed ${SEED})`, async () => {
    const rand = prng(SEED);
    const cases: Array<{ plan: WindowPlan; zone: string; size: WindowSize; ts: number[] }> = [];
    for (const zone of ZONES) {
      for (const size of SIZES) {
        for (const [from, to] of spans(rand, 6))
          cases.push({ plan: new WindowPlan(size, zone, from, to), zone, size, ts: times(rand, from, to) });
      }
    }
    // time_ms is an Int64 column in the store; here an Int64 subquery column of the same name. The times go as
    // strings: an array of number literals is typed by its values, and one span of a few weeks around the epoch
    // holds an Int32 (after -2^31 ms) and a UInt64 (past 2^32 ms), which have no common type.
    const selects = cases.map(
      (c, i) =>
        `SELECT ${i} AS c, toString(time_ms) AS t, toString(${windowKeySql(c.plan, 'time_ms', clickhouseDialect)}) AS k ` +
        `FROM (SELECT arrayJoin(arrayMap(x -> toInt64(x), [${c.ts.map((t) => `'${t}'`).join(',')}])) AS time_ms)`,
    );
    const body = await ch(`${selects.join(' UNION ALL ')} FORMAT TabSeparated`);
    const got = new Map<string, string>();
    for (const l of body.trimEnd().split('\n')) {
      const [c, t, k] = l.split('\t');
      got.set(`${c}|${t}`, k!);
    }
    let checked = 0;
    const wrong: string[] = [];
    cases.forEach((c, i) => {
      for (const t of c.ts) {
        const want = String(c.plan.keyOf(t));
        const k = got.get(`${i}|${t}`);
        checked++;
        if (k !== want && wrong.length < 10)
          wrong.push(`${c.size} ${c.zone} ${new Date(t).toISOString()} (${t}): ClickHouse ${k}, JS ${want}`);
      }
    });
    assert.deepEqual(wrong, [], `seed ${SEED}: window keys differ (first 10 shown)`);
    assert.ok(checked > 10_000, `seed ${SEED}: only ${checked} times checked`);
  });

  test("day and month keys over 130 years of DST (hundreds of offset segments) fit the server's default query size", async () => {
    const from = Date.UTC(1900, 0, 1),
      to = Date.UTC(2030, 0, 1);
    const ts: number[] = [];
    for (let t = from; t < to; t += 29 * DAY_MS + 3_600_123) ts.push(t);
    for (const zone of ['Europe/London', 'America/St_Johns', 'Australia/Lord_Howe']) {
      for (const size of ['DAY', 'MONTH'] as WindowSize[]) {
        const plan = new WindowPlan(size, zone, from, to);
        assert.ok(plan.segments.length > 50, `${zone}: ${plan.segments.length} segments`);
        // The server's own limits (256 KiB of query, its AST sizes), as a store's query meets them.
        const r = await fetch(`${CH_HTTP}/`, {
          method: 'POST',
          body:
            `SELECT toString(time_ms), toString(${windowKeySql(plan, 'time_ms', clickhouseDialect)}) ` +
            `FROM (SELECT arrayJoin([${ts.map((t) => `toInt64(${t})`).join(',')}]) AS time_ms) FORMAT TabSeparated`,
        });
        const body = await r.text();
        assert.ok(r.ok, `${size} ${zone}: ${body.slice(0, 300)}`);
        const wrong = body
          .trimEnd()
          .split('\n')
          .map((l) => l.split('\t'))
          .filter(([t, k]) => String(plan.keyOf(Number(t))) !== k);
        assert.deepEqual(wrong.slice(0, 5), [], `${size} ${zone}`);
      }
    }
  });

  test('the two events of issue 11 (10:23:32.768Z and 10:24:59.999Z) are in their own minutes', async () => {
    const t1 = Date.parse('2026-11-01T10:23:32.768Z'),
      t2 = Date.parse('2026-11-01T10:24:59.999Z');
    const plan = new WindowPlan('MINUTE', 'UTC', t1, t2);
    const body = await ch(
      `SELECT toString(${windowKeySql(plan, 'time_ms', clickhouseDialect)}) FROM (SELECT arrayJoin([toInt64(${t1}), toInt64(${t2})]) AS time_ms) FORMAT TabSeparated`,
    );
    assert.deepEqual(body.trim().split('\n'), [String(Date.parse('2026-11-01T10:23:00Z')), String(Date.parse('2026-11-01T10:24:00Z'))]);
  });
});
