/**
 * Value semantics of the ClickHouse store (spec-canonical.md) on the real server, with the store called directly:
 * seeded random events against a reference written here with Decimal (no SQL). SUM and AVG exact past double
 * precision, MIN/MAX/LATEST by exact order showing canonical text, UNIQUE_COUNT and group-by texts of numbers
 * canonical whatever the stored spelling, no row for a query without events, and the upgrade of a version 1 store.
 *
 * Seed: METER_SEED (a number) or random; every failure message prints it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { Decimal } from '../src/core/decimal.js';
import { contentFingerprint, eventKey, type UsageEvent } from '../src/core/event.js';
import type { Aggregation } from '../src/core/meter.js';
import { WindowPlan, type WindowSize } from '../src/core/window.js';
import { CLICKHOUSE_SCHEMA_VERSION } from '../src/store/clickhouse/schema.js';
import { ClickHouseStore } from '../src/store/clickhouse/store.js';
import type { AggregateRow, MeterQuery, Store } from '../src/core/ports.js';
import { prng } from '../bench/generate.js';
import { CH_HTTP, CH_PORT, useClickHouse } from './clickhouse-server.js';

const SEED = process.env.METER_SEED !== undefined ? Number(process.env.METER_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
const RUN_ID = randomBytes(4).toString('hex');
const databases: string[] = [];

async function ch(sql: string): Promise<string> {
  const r = await fetch(`${CH_HTTP}/`, { method: 'POST', body: sql });
  const body = await r.text();
  if (!r.ok) throw new Error(`ClickHouse: ${body}`);
  return body;
}

after(async () => {
  for (const d of databases) await ch(`DROP DATABASE IF EXISTS \`${d}\``).catch(() => {});
});
// Registered after the hooks above, so that a server the tests started stops after the databases are dropped.
useClickHouse();

function newDatabase(): string {
  const name = `meter_chvalues_${RUN_ID}_${databases.length}`;
  databases.push(name);
  return name;
}

const T0 = Date.parse('2026-11-01T10:00:00Z');

interface Ev {
  subject: string;
  timeMs: number;
  /** The data text exactly as the store gets it. */
  data: string | null;
}

function usageEvent(e: Ev, i: number): UsageEvent {
  const id = `e${i}`;
  return {
    id,
    source: 'test',
    type: 'prompt',
    subject: e.subject,
    timeMs: e.timeMs,
    timeMissing: false,
    data: e.data,
    key: eventKey('test', id),
  };
}

async function storeWith(events: Ev[]): Promise<{ store: Store; db: string }> {
  const db = newDatabase();
  const store = await ClickHouseStore.open(`clickhouse://127.0.0.1:${CH_PORT}/${db}`, {});
  if (events.length > 0) {
    const out = await store.writeBatch(events.map(usageEvent), Date.now());
    assert.equal(out.inserted, events.length);
  }
  return { store, db };
}

function query(agg: Aggregation, over: Partial<MeterQuery> = {}, valueProperty = '$.v'): MeterQuery {
  return {
    meter: { slug: 'm', eventType: 'prompt', aggregation: agg, valueProperty: agg === 'COUNT' ? undefined : valueProperty, groupBy: [] },
    window: null,
    subjects: [],
    groupBy: [],
    filters: [],
    perSubject: true,
    ...over,
  };
}

async function rows(store: Store, q: MeterQuery): Promise<AggregateRow[]> {
  const out: AggregateRow[] = [];
  for await (const r of store.aggregate(q)) out.push(r);
  return out;
}

/** Per subject (sorted), the value of each row. */
async function bySubject(store: Store, q: MeterQuery): Promise<Record<string, string | null>> {
  const o: Record<string, string | null> = {};
  for (const r of await rows(store, q)) o[r.subject!] = r.value;
  return o;
}

/** What a value in data stands for, in the reference: the exact decimal of a usable value, else null. */
type Gen = { json: string; usable: Decimal | null; text: string | null };

const NUMERIC_STRING = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** Random digits, skewed to long runs so that values pass double precision. */
function digits(rand: () => number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += String(Math.floor(rand() * 10));
  return s;
}

/**
 * A random meter value: canonical number literals (small, huge, long fractions, negative), numeric strings in
 * any spelling, and values that do not count. `text` is its group-by / UNIQUE_COUNT text per the spec.
 */
function genValue(rand: () => number): Gen {
  const r = rand();
  const canon = (lit: string): Gen => {
    const d = Decimal.parse(lit)!;
    return { json: d.toString(), usable: d, text: d.toString() };
  };
  if (r < 0.15) return canon(String(Math.floor(rand() * 2000) - 1000));
  if (r < 0.3) return canon((rand() < 0.5 ? '-' : '') + '1' + digits(rand, 15 + Math.floor(rand() * 25)));
  if (r < 0.45)
    return canon(
      (rand() < 0.5 ? '-' : '') + digits(rand, 1 + Math.floor(rand() * 3)) + '.' + digits(rand, 1 + Math.floor(rand() * 30)) + '1',
    );
  if (r < 0.55) return canon(rand() < 0.5 ? '9223372036854775807' : '-9223372036854775808');
  if (r < 0.75) {
    // A numeric string: counts as its decimal, groups as the string.
    const forms = [
      '1.50',
      '+2.5e1',
      '.5',
      '-0.0',
      '9223372036854775808',
      '0.1000000000000000055',
      '1e3',
      '12345678901234567890.000000000000000000001',
      '-7.',
      '00012',
    ];
    const s = forms[Math.floor(rand() * forms.length)]!;
    assert.ok(NUMERIC_STRING.test(s));
    return { json: JSON.stringify(s), usable: Decimal.parse(s), text: s };
  }
  const unusable: Array<[string, string | null]> = [
    ['null', null],
    ['"NaN"', 'NaN'],
    ['true', 'true'],
    ['" 5"', ' 5'],
    ['{"a":1}', null],
    ['[1,2]', null],
    ['"abc"', 'abc'],
  ];
  const [json, text] = unusable[Math.floor(rand() * unusable.length)]!;
  return { json, usable: null, text };
}

describe('ClickHouse values are exact (spec-canonical.md)', () => {
  test(`SUM and AVG are exact past double precision (seed ${SEED})`, async () => {
    const rand = prng(SEED);
    const events: Ev[] = [];
    const gens: Gen[] = [];
    for (let i = 0; i < 400; i++) {
      const g = genValue(rand);
      gens.push(g);
      const subject = `s${i % 4}`;
      events.push({ subject, timeMs: T0 + i * 1000, data: rand() < 0.05 ? null : `{"v":${g.json},"w":1}` });
    }
    // The two examples of issue 11, as their own subjects.
    events.push(
      { subject: 'big', timeMs: T0, data: '{"v":12345678901234567890}' },
      { subject: 'big', timeMs: T0, data: '{"v":1}' },
      { subject: 'big', timeMs: T0, data: '{"v":2}' },
    );
    events.push({ subject: 'frac', timeMs: T0, data: '{"v":0.1234567890123456789}' });
    // Sums that 18.16 cannot print as a Decimal128 (10^21 and more): 2,000 fractions of 0.5 (10^21 x 1e-18), and
    // 1,500 integer parts of 2^63 - 1.
    for (let i = 0; i < 2000; i++) events.push({ subject: 'halves', timeMs: T0 + i, data: '{"v":0.5}' });
    for (let i = 0; i < 1500; i++) events.push({ subject: 'ints', timeMs: T0 + i, data: '{"v":9223372036854775807}' });
    const { store } = await storeWith(events);
    try {
      const sum: Record<string, Decimal> = {},
        n: Record<string, number> = {};
      events.forEach((e, i) => {
        sum[e.subject] ??= Decimal.ZERO;
        n[e.subject] ??= 0;
        const d = i < gens.length ? (e.data === null ? null : gens[i]!.usable) : Decimal.parse(/"v":([^,}]+)/.exec(e.data!)![1]!);
        if (d !== null) {
          sum[e.subject] = sum[e.subject]!.add(d);
          n[e.subject]!++;
        }
      });
      const wantSum: Record<string, string> = {},
        wantAvg: Record<string, string | null> = {};
      for (const s of Object.keys(sum)) {
        wantSum[s] = sum[s]!.toString();
        wantAvg[s] = n[s] === 0 ? null : sum[s]!.divide(n[s]!).toString();
      }
      assert.equal(wantSum.big, '12345678901234567893');
      assert.equal(wantSum.frac, '0.1234567890123456789');
      assert.equal(wantSum.halves, '1000');
      assert.equal(wantSum.ints, '13835058055282163710500');
      assert.deepEqual(await bySubject(store, query('SUM')), wantSum, `seed ${SEED}: SUM`);
      assert.deepEqual(await bySubject(store, query('AVG')), wantAvg, `seed ${SEED}: AVG`);
    } finally {
      await store.close();
    }
  });

  test(`MIN, MAX and LATEST by exact order, shown as canonical text (seed ${SEED})`, async () => {
    const rand = prng(SEED ^ 0x5bd1e995);
    const events: Ev[] = [];
    const gens: Gen[] = [];
    for (let i = 0; i < 400; i++) {
      // Values equal as doubles side by side: the exact order must decide.
      const pairs = [
        ['9223372036854775807', '"9223372036854775808"'],
        ['9007199254740992', '9007199254740993'],
        ['0.1', '"0.1000000000000000055"'],
        ['-9223372036854775808', '"-9223372036854775809"'],
      ];
      let g: Gen;
      if (rand() < 0.3) {
        const p = pairs[Math.floor(rand() * pairs.length)]!;
        const json = p[Math.floor(rand() * 2)]!;
        const lit = json.startsWith('"') ? (JSON.parse(json) as string) : json;
        g = { json, usable: Decimal.parse(lit), text: lit };
      } else g = genValue(rand);
      gens.push(g);
      // Times repeat now and then: LATEST then takes the later stored event.
      events.push({ subject: `s${i % 5}`, timeMs: T0 + Math.floor(rand() * 50) * 1000, data: `{"v":${g.json}}` });
    }
    events.push(
      { subject: 'tie', timeMs: T0, data: '{"v":9223372036854775807}' },
      { subject: 'tie', timeMs: T0 + 1, data: '{"v":"9223372036854775808"}' },
    );
    gens.push(
      { json: '', usable: Decimal.parse('9223372036854775807'), text: null },
      { json: '', usable: Decimal.parse('9223372036854775808'), text: null },
    );
    const { store } = await storeWith(events);
    try {
      const min: Record<string, Decimal | null> = {},
        max: Record<string, Decimal | null> = {};
      const latest: Record<string, { t: number; d: Decimal } | null> = {};
      events.forEach((e, i) => {
        const d = gens[i]!.usable;
        if (!(e.subject in min)) min[e.subject] = max[e.subject] = latest[e.subject] = null;
        if (d === null) return;
        if (min[e.subject] === null || d.compare(min[e.subject]!) < 0) min[e.subject] = d;
        if (max[e.subject] === null || d.compare(max[e.subject]!) > 0) max[e.subject] = d;
        if (latest[e.subject] === null || e.timeMs >= latest[e.subject]!.t) latest[e.subject] = { t: e.timeMs, d };
      });
      const text = (o: Record<string, Decimal | null>) =>
        Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v === null ? null : v.toString()]));
      assert.equal(text(max).tie, '9223372036854775808');
      assert.deepEqual(await bySubject(store, query('MIN')), text(min), `seed ${SEED}: MIN`);
      assert.deepEqual(await bySubject(store, query('MAX')), text(max), `seed ${SEED}: MAX`);
      const wantLatest = Object.fromEntries(Object.entries(latest).map(([k, v]) => [k, v === null ? null : v.d.toString()]));
      assert.deepEqual(await bySubject(store, query('LATEST')), wantLatest, `seed ${SEED}: LATEST`);
    } finally {
      await store.close();
    }
  });

  test(`UNIQUE_COUNT and group-by texts: a number by its canonical decimal, whatever its stored spelling (seed ${SEED})`, async () => {
    const rand = prng(SEED ^ 0x27d4eb2f);
    // Spellings as the store may find them in old or directly written data; the spec's canonical data holds
    // only the first of each list.
    const spellings: Array<[json: string, text: string | null]> = [
      ['1', '1'],
      ['1.0', '1'],
      ['1e0', '1'],
      ['10e-1', '1'],
      ['"1"', '1'],
      ['"1.0"', '1.0'],
      ['1.5', '1.5'],
      ['1.50', '1.5'],
      ['15E-1', '1.5'],
      ['"1.50"', '1.50'],
      ['-0', '0'],
      ['0', '0'],
      ['0.0', '0'],
      ['12345678901234567890', '12345678901234567890'],
      ['1.2345678901234567890e19', '12345678901234567890'],
      ['1E+22', '10000000000000000000000'],
      ['1e-7', '0.0000001'],
      ['true', 'true'],
      ['"true"', 'true'],
      ['false', 'false'],
      ['null', null],
      ['{"a":1}', null],
      ['[1]', null],
      ['"x"', 'x'],
    ];
    const events: Ev[] = [];
    const texts: Array<string | null> = [];
    for (let i = 0; i < 300; i++) {
      const [json, t] = spellings[Math.floor(rand() * spellings.length)]!;
      const missing = rand() < 0.05;
      texts.push(missing ? null : t);
      events.push({ subject: `s${i % 3}`, timeMs: T0 + i, data: missing ? '{"n":1}' : `{"v":${json},"n":1}` });
    }
    const { store } = await storeWith(events);
    try {
      const uniq: Record<string, Set<string>> = {};
      const groups = new Map<string, number>();
      events.forEach((e, i) => {
        uniq[e.subject] ??= new Set();
        if (texts[i] !== null) uniq[e.subject]!.add(texts[i]!);
        // Group-by text: missing or null "", an object or array its JSON text, else the value's text.
        const json = /"v":(.*),"n":1\}$/.exec(e.data!)?.[1];
        const g = json === undefined || json === 'null' ? '' : json.startsWith('{') || json.startsWith('[') ? json : texts[i]!;
        const k = `${e.subject}|${g}`;
        groups.set(k, (groups.get(k) ?? 0) + 1);
      });
      const wantUniq = Object.fromEntries(Object.entries(uniq).map(([k, v]) => [k, String(v.size)]));
      assert.deepEqual(await bySubject(store, query('UNIQUE_COUNT')), wantUniq, `seed ${SEED}: UNIQUE_COUNT`);
      const got = new Map<string, number>();
      for (const r of await rows(store, query('SUM', { groupBy: [{ key: 'v', path: '$.v' }] }, '$.n')))
        got.set(`${r.subject}|${r.groups[0]}`, Number(r.value));
      assert.deepEqual([...got].sort(), [...groups].sort(), `seed ${SEED}: group-by texts`);
      // A filter compares with the same text.
      const one = await rows(
        store,
        query('COUNT', { filters: [{ dimension: { key: 'v', path: '$.v' }, values: ['1'] }], perSubject: false }),
      );
      // Number 1 in any spelling and the string "1" alike.
      const wantOne = [...groups].filter(([k]) => k.endsWith('|1')).reduce((a, [, c]) => a + c, 0);
      assert.deepEqual(
        one.map((r) => r.value),
        wantOne === 0 ? [] : [String(wantOne)],
        `seed ${SEED}: filter v=1`,
      );
    } finally {
      await store.close();
    }
  });

  test('a query without matching events gives no row: every aggregation, with and without windows and group-by', async () => {
    const { store } = await storeWith([
      { subject: 'acme', timeMs: T0, data: '{"v":5,"g":"a"}' },
      { subject: 'beta', timeMs: T0 + 3_600_000, data: '{"v":7}' },
    ]);
    const empty = await storeWith([]);
    // Zones do not matter for emptiness; UTC keeps the month key's SQL to one copy (one offset segment).
    const plan = (size: WindowSize, zone = 'UTC') => new WindowPlan(size, zone, T0 - 86_400_000 * 40, T0 + 86_400_000 * 40);
    const misses: Array<[string, Partial<MeterQuery>]> = [
      ['-s nobody', { subjects: ['nobody'] }],
      ['a range without events', { fromMs: T0 + 86_400_000, toMs: T0 + 2 * 86_400_000 }],
      ['a filter no event matches', { filters: [{ dimension: { key: 'g', path: '$.g' }, values: ['zzz'] }] }],
    ];
    // Every combination, run a few at a time (the store's client keeps several connections).
    const checks: Array<() => Promise<void>> = [];
    for (const agg of ['SUM', 'AVG', 'MIN', 'MAX', 'LATEST', 'UNIQUE_COUNT', 'COUNT'] as const) {
      for (const window of [null, plan('MINUTE', 'Europe/Budapest'), plan('DAY'), plan('MONTH')]) {
        // No key at all (the case where SQL returns a row over no rows), and group-by with subjects.
        for (const [groupBy, perSubject] of [
          [[], false],
          [[{ key: 'g', path: '$.g' }], true],
        ] as Array<[MeterQuery['groupBy'], boolean]>) {
          {
            const label = `${agg} ${window?.size ?? 'no window'} group-by ${groupBy.length} perSubject ${perSubject}`;
            for (const [what, over] of misses) {
              checks.push(async () =>
                assert.deepEqual(await rows(store, query(agg, { window, groupBy, perSubject, ...over })), [], `${label}: ${what}`),
              );
            }
            const q = query(agg, { window, groupBy, perSubject });
            checks.push(async () => assert.deepEqual(await rows(empty.store, q), [], `${label}: on an empty store`));
            checks.push(async () => assert.notEqual((await rows(store, q)).length, 0, `${label}: the same query finds the stored events`));
          }
        }
      }
    }
    const n = checks.length;
    try {
      while (checks.length > 0) await Promise.all(checks.splice(0, 4).map((c) => c()));
      assert.equal(n, 7 * 4 * 2 * 5);
    } finally {
      await store.close();
      await empty.store.close();
    }
  });
});

describe('a database holding tables meter did not create', () => {
  test('is refused before anything is added to it; tables of meter without its version row are taken as they are', async () => {
    const name = newDatabase();
    const db = `\`${name}\``;
    await ch(`CREATE DATABASE ${db}`);
    await ch(`CREATE TABLE ${db}.events (x UInt8) ENGINE = Memory`);
    const url = `clickhouse://127.0.0.1:${CH_PORT}/${name}`;
    await assert.rejects(
      ClickHouseStore.open(url, {}),
      (e: Error) =>
        e.constructor.name === 'StoreError' &&
        e.message ===
          `${url}: not a meter store: the database holds a table events that meter did not create; use another database in --db`,
    );
    assert.equal((await ch(`SELECT name FROM system.tables WHERE database = '${name}' ORDER BY name`)).trim(), 'events');
    // meter's own tables, created by another meter that has not written the version row yet.
    const other = newDatabase();
    await (await ClickHouseStore.open(`clickhouse://127.0.0.1:${CH_PORT}/${other}`, {})).close();
    await ch(`DROP TABLE \`${other}\`.meter_meta`);
    const store = await ClickHouseStore.open(`clickhouse://127.0.0.1:${CH_PORT}/${other}`, {});
    await store.close();
  });
});

describe('upgrading a version 1 store', () => {
  /** The version 1 tables (as meter wrote them before schema version 2). */
  const V1 = (db: string) => [
    `CREATE DATABASE ${db}`,
    `CREATE TABLE ${db}.events (k UInt64, source String, id String, type String, subject String, time_ms Int64, data Nullable(String),
      fp UInt64, ingested_ms Int64, run UInt64, seq UInt64, jp Array(String), js Array(String), jk Array(UInt8),
      np Array(String), nt Array(String), nm Array(String), ni Array(Int64), nf Array(Int64), nx Array(UInt8), nh Array(Int64), nl Array(Int64)
    ) ENGINE = MergeTree PARTITION BY toYYYYMM(toDateTime(intDiv(time_ms, 1000))) ORDER BY (type, subject, time_ms)`,
    `CREATE TABLE ${db}.event_keys (k UInt64, source String, id String, fp UInt64, ingested_ms Int64, run UInt64, seq UInt64) ENGINE = MergeTree ORDER BY k`,
    `CREATE MATERIALIZED VIEW ${db}.event_keys_mv TO ${db}.event_keys AS SELECT k, source, id, fp, ingested_ms, run, seq FROM ${db}.events`,
    `CREATE TABLE ${db}.dropped (run UInt64, seq UInt64, at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY (run, seq)`,
    `CREATE TABLE ${db}.batches (run UInt64, batch UInt64, state UInt8, at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY (run, batch)`,
    `CREATE TABLE ${db}.meter_meta (key String, value String, at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY key`,
    `INSERT INTO ${db}.meter_meta (key, value) VALUES ('schema_version', '1')`,
  ];

  /** A version 1 row: its flattened columns as version 1 kept them (doubles' texts and REAL renderings). */
  const v1Row = (
    k: number,
    id: string,
    subject: string,
    data: string,
    seq: number,
    js: string,
    nt: string,
    nm: string,
    run = 1,
    fp = k + 1,
  ) =>
    `(${k}, 'test', '${id}', 'prompt', '${subject}', ${T0 + seq}, '${data}', ${fp}, 1000, ${run}, ${seq}, ` +
    `['$.v'], ['${js}'], [1], ['$.v'], ['${nt}'], ['${nm}'], [0], [0], [0], [0], [0])`;

  async function makeV1(): Promise<string> {
    const name = newDatabase();
    const db = `\`${name}\``;
    for (const sql of V1(db)) await ch(sql);
    // What version 1 stored for these: 12345678901234567890 summed as 12345678901234567000, 1.50 grouped by
    // SQLite's REAL text; and a raced copy of e1 recorded in `dropped`.
    await ch(
      `INSERT INTO ${db}.events (k, source, id, type, subject, time_ms, data, fp, ingested_ms, run, seq, jp, js, jk, np, nt, nm, ni, nf, nx, nh, nl) VALUES ` +
        [
          v1Row(11, 'e1', 'acme', '{"v":12345678901234567890}', 1, '1.23456789012346e+19', '12345678901234567000', ''),
          v1Row(12, 'e2', 'acme', '{"v":1}', 2, '1', '1', ''),
          v1Row(13, 'e3', 'beta', '{"v":"9223372036854775808"}', 3, '9223372036854775808', '9223372036854775808', '9223372036854775808'),
          v1Row(14, 'e4', 'beta', '{"v":9223372036854775807}', 4, '9223372036854775807', '9223372036854775807', ''),
          v1Row(11, 'e1', 'acme', '{"v":12345678901234567890}', 5, 'x', '999', '', 2),
        ].join(', '),
    );
    await ch(`INSERT INTO ${db}.dropped (run, seq) VALUES (2, 5)`);
    return name;
  }

  test('a read-only open refuses it with a message saying how to upgrade; a writing open upgrades it in place', async () => {
    const name = await makeV1();
    const url = `clickhouse://127.0.0.1:${CH_PORT}/${name}`;
    await assert.rejects(
      ClickHouseStore.open(url, { readonly: true }),
      (e: Error) => e.constructor.name === 'StoreError' && /schema version 1.*meter ingest/s.test(e.message),
    );
    const store = await ClickHouseStore.open(url, {});
    try {
      assert.deepEqual(await bySubject(store, query('SUM')), { acme: '12345678901234567891', beta: '18446744073709551615' });
      assert.deepEqual(await bySubject(store, query('MAX')), { acme: '12345678901234567890', beta: '9223372036854775808' });
      const groups = (await rows(store, query('COUNT', { groupBy: [{ key: 'v', path: '$.v' }], perSubject: false }))).map(
        (r) => r.groups[0],
      );
      assert.deepEqual(groups, ['1', '12345678901234567890', '9223372036854775807', '9223372036854775808']);
      // New writes after the upgrade: event_keys gets each key once, through the view made again.
      await store.writeBatch([usageEvent({ subject: 'gamma', timeMs: T0, data: '{"v":1.5}' }, 99)], Date.now());
      assert.deepEqual(await bySubject(store, query('MIN')), { acme: '1', beta: '9223372036854775807', gamma: '1.5' });
    } finally {
      await store.close();
    }
    const db = `\`${name}\``;
    assert.equal(
      (await ch(`SELECT max(toUInt32OrZero(value)) FROM ${db}.meter_meta WHERE key = 'schema_version'`)).trim(),
      String(CLICKHOUSE_SCHEMA_VERSION),
    );
    assert.equal((await ch(`SELECT count() FROM ${db}.event_keys`)).trim(), '6', 'five copied rows and the new one, each once');
    assert.equal(
      (await ch(`SELECT count() FROM system.tables WHERE database = '${name}' AND name LIKE 'events_%'`)).trim(),
      '0',
      'no upgrade table left',
    );
    // Reads without writes work now, and a second writing open changes nothing.
    const again = await ClickHouseStore.open(url, { readonly: true });
    assert.deepEqual(await bySubject(again, query('COUNT')), { acme: '2', beta: '2', gamma: '1' });
    await again.close();
  });

  test('the upgrade makes old data canonical, and its fingerprint follows: a re-sent copy in another spelling is a duplicate', async () => {
    const name = newDatabase();
    const db = `\`${name}\``;
    for (const sql of V1(db)) await ch(sql);
    const old = '{"v":2.0, "o":{"a": 1.0},"v":7}';
    const fp = contentFingerprint('prompt', 'delta', T0 + 5, old);
    await ch(
      `INSERT INTO ${db}.events (k, source, id, type, subject, time_ms, data, fp, ingested_ms, run, seq, jp, js, jk, np, nt, nm, ni, nf, nx, nh, nl) VALUES ` +
        v1Row(eventKey('test', 'e5'), 'e5', 'delta', old, 5, '2', '2', '', 1, fp),
    );
    const store = await ClickHouseStore.open(`clickhouse://127.0.0.1:${CH_PORT}/${name}`, {});
    try {
      assert.equal((await ch(`SELECT data FROM ${db}.events`)).trim(), '{"v":2,"o":{"a":1}}');
      const again = await store.writeBatch([usageEvent({ subject: 'delta', timeMs: T0 + 5, data: '{"v":2,"o":{"a":1}}' }, 5)], Date.now());
      assert.deepEqual([...again.status], [1], 'a duplicate, not a conflict');
      const groups = (await rows(store, query('COUNT', { groupBy: [{ key: 'o', path: '$.o' }], perSubject: false }))).map(
        (r) => r.groups[0],
      );
      assert.deepEqual(groups, ['{"a":1}']);
    } finally {
      await store.close();
    }
  });

  test('an upgrade under way (its table exists) makes another open refuse, saying what to do', async () => {
    const name = await makeV1();
    await ch(`CREATE TABLE \`${name}\`.events_upgrade (a UInt8) ENGINE = Memory`);
    await assert.rejects(
      ClickHouseStore.open(`clickhouse://127.0.0.1:${CH_PORT}/${name}`, {}),
      (e: Error) => e.constructor.name === 'StoreError' && /another meter is upgrading/.test(e.message) && /DROP TABLE/.test(e.message),
    );
    assert.equal((await ch(`SELECT count() FROM \`${name}\`.events`)).trim(), '5', 'the version 1 table is untouched');
  });
});
