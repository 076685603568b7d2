/**
 * The same end-to-end ingest and query checks on both backends: a SQLite file and a ClickHouse database on a real
 * server (started through scripts/clickhouse.sh when none answers). Every scenario runs the real bin/meter on
 * each backend, asserts the values worked out by hand, and asserts that both backends print the same bytes.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { validateCloudEvent } from '../src/core/event.js';
import { sqlString } from '../src/store/clickhouse/literals.js';
import { ClickHouseStore } from '../src/store/clickhouse/store.js';
import { Workdir, line, type RunResult } from './helpers.js';
import { CH_HTTP, CH_PORT, useClickHouse } from './clickhouse-server.js';
import { HOSTILE } from './fixtures.js';

const RUN_ID = randomBytes(4).toString('hex');
const databases: string[] = [];

/** Runs SQL on the test server over HTTP; returns the body. */
async function ch(sql: string): Promise<string> {
  let r: Response;
  try {
    r = await fetch(`${CH_HTTP}/`, { method: 'POST', body: sql });
  } catch {
    // A kept-alive connection the server closed meanwhile: once more on a new one.
    r = await fetch(`${CH_HTTP}/`, { method: 'POST', body: sql });
  }
  const body = await r.text();
  if (!r.ok) throw new Error(`ClickHouse: ${body}`);
  return body;
}

/** A fresh ClickHouse database name for one scenario (dropped at the end). */
function chDatabase(): string {
  const name = `meter_test_${RUN_ID}_${databases.length}`;
  databases.push(name);
  return name;
}

/** A workdir with the small events and the meters, ingested into a fresh ClickHouse database. */
function smallClickHouseStore(dir: string): { w: Workdir; name: string; db: string } {
  const w = new Workdir(dir);
  w.write('e.ndjson', AGG_EVENTS_SMALL);
  w.write('meter.yaml', METERS);
  const name = chDatabase();
  const db = `clickhouse://127.0.0.1:${CH_PORT}/${name}`;
  ok(w.run(['ingest', 'e.ndjson', '--db', db, '--json']));
  return { w, name, db };
}

type Backend = { name: 'sqlite' | 'clickhouse'; db(w: Workdir): string };

const BACKENDS: Backend[] = [
  { name: 'sqlite', db: (w) => w.path('meter.db') },
  { name: 'clickhouse', db: () => `clickhouse://127.0.0.1:${CH_PORT}/${chDatabase()}` },
];

function ok(r: RunResult): string {
  assert.equal(r.code, 0, r.describe());
  return r.stdout;
}

/** The ingest summary without its timings. */
function summary(r: RunResult, code = 0): Record<string, unknown> {
  assert.equal(r.code, code, r.describe());
  const s = JSON.parse(r.stdout) as Record<string, unknown>;
  delete s.elapsedMs;
  delete s.eventsPerSec;
  return s;
}

/**
 * Runs `scenario` once per backend, each in its own folder with the same files, and returns the outputs by
 * backend after asserting they are identical.
 */
function onBoth<T>(
  name: string,
  files: Record<string, string[] | string>,
  scenario: (run: (args: string[]) => RunResult, w: Workdir, db: string) => T,
): T {
  const out: Partial<Record<Backend['name'], T>> = {};
  for (const b of BACKENDS) {
    const w = new Workdir(`${name}-${b.name}`);
    for (const [f, content] of Object.entries(files)) w.write(f, content);
    const db = b.db(w);
    out[b.name] = scenario((args) => w.run([...args, '--db', db]), w, db);
    w.remove();
  }
  assert.deepEqual(out.clickhouse, out.sqlite, `${name}: the backends differ`);
  return out.sqlite!;
}

const ev = (id: string, subject: string, time: string, data: unknown, over: Record<string, unknown> = {}) =>
  line({ id, subject, time, data: data === undefined ? undefined : data, ...over });

const METERS = `meters:
  - slug: tokens
    eventType: prompt
    aggregation: SUM
    valueProperty: $.tokens
    groupBy:
      model: $.model
      region: $.meta.region
  - slug: avg_tokens
    eventType: prompt
    aggregation: AVG
    valueProperty: $.tokens
    groupBy:
      model: $.model
  - slug: min_tokens
    eventType: prompt
    aggregation: MIN
    valueProperty: $.tokens
  - slug: max_tokens
    eventType: prompt
    aggregation: MAX
    valueProperty: $.tokens
  - slug: latest_tokens
    eventType: prompt
    aggregation: LATEST
    valueProperty: $.tokens
  - slug: models
    eventType: prompt
    aggregation: UNIQUE_COUNT
    valueProperty: $.model
  - slug: calls
    eventType: prompt
    aggregation: COUNT
    groupBy:
      model: $.model
  - slug: cost
    eventType: prompt
    aggregation: SUM
    valueProperty: $.cost.usd
`;

after(async () => {
  for (const d of databases) await ch(`DROP DATABASE IF EXISTS \`${d}\``).catch(() => {});
});
// Registered after the hooks above, so that a server the tests started stops after the databases are dropped.
useClickHouse();

describe('both backends, end to end', () => {
  test('ingest: duplicates and conflicting duplicates, first wins, across batches and runs', () => {
    const files = {
      'e.ndjson': [
        ev('a', 'acme', '2026-11-01T10:00:00Z', { tokens: 10, model: 'gpt-4o' }),
        ev('b', 'acme', '2026-11-01T10:05:00.123Z', { tokens: 5, model: 'gpt-4o' }),
        ev('a', 'acme', '2026-11-01T10:00:00Z', { tokens: 10, model: 'gpt-4o' }),
        ev('a', 'acme', '2026-11-01T10:00:00Z', { tokens: 999, model: 'gpt-4o' }),
        ev('a', 'acme', '2026-11-01T10:00:00Z', { tokens: 10, model: 'gpt-4o' }, { source: 'other' }),
        '{"specversion":"1.0","id":"bad"',
        ev('c', 'beta', '2026-11-01T11:00:00Z', { tokens: 1, model: 'o3' }),
      ],
      'later.ndjson': [
        ev('c', 'beta', '2026-11-01T11:00:00Z', { tokens: 7, model: 'o3' }),
        ev('d', 'beta', '2026-11-01T12:00:00Z', { tokens: 2, model: 'o3' }),
      ],
      'meter.yaml': METERS,
    };
    const out = onBoth('dedupe', files, (run) => {
      // Batches of two: copies meet across batches of one run.
      const first = summary(run(['ingest', 'e.ndjson', '--json', '--batch-size', '2']), 3);
      const q1 = ok(run(['query', '-m', 'tokens', '--format', 'csv']));
      const again = summary(run(['ingest', 'e.ndjson', '--json']), 3);
      const q2 = ok(run(['query', '-m', 'tokens', '--format', 'csv']));
      const later = summary(run(['ingest', 'later.ndjson', '--json']));
      const q3 = ok(run(['query', '-m', 'tokens', '--format', 'csv', '-g', 'model']));
      const events = ok(run(['events', '--format', 'ndjson', '-n', '100']));
      return { first, q1, again, q2, later, q3, events };
    });
    const counts = (s: Record<string, unknown>) => [s.read, s.inserted, s.duplicates, s.conflicts, s.rejected];
    assert.deepEqual(counts(out.first), [7, 4, 1, 1, 1]);
    assert.deepEqual(counts(out.again), [7, 0, 5, 1, 1], 'a re-ingested log changes nothing');
    assert.equal(out.q2, out.q1);
    assert.deepEqual(counts(out.later), [2, 1, 0, 1, 0]);
    assert.equal(
      out.q3,
      'window_start,window_end,subject,model,value\n' +
        '2026-11-01T10:00:00Z,2026-11-01T10:05:00.123Z,acme,gpt-4o,25\n' +
        '2026-11-01T11:00:00Z,2026-11-01T12:00:00Z,beta,o3,3\n',
    );
    assert.match(out.events, /"time":"2026-11-01T10:05:00.123Z"/, 'milliseconds are kept');
  });

  const AGG_EVENTS = [
    // Spacing, nesting and strings: read by path, never by text position.
    '{"specversion":"1.0","id":"1","source":"s","type":"prompt","subject":"acme","time":"2026-11-01T10:00:00Z","data":{ "tokens" : 0.1 , "model":"gpt-4o", "meta": {"tokens": 1000, "region": "eu"}, "cost": {"usd": "0.10"}}}',
    '{"specversion":"1.0","id":"2","source":"s","type":"prompt","subject":"acme","time":"2026-11-01T10:10:00Z","data":{"model":"gpt-4o","tokens":0.2,"cost":{"usd":0.2}}}',
    '{"specversion":"1.0","id":"3","source":"s","type":"prompt","subject":"acme","time":"2026-11-01T10:20:00Z","data":{"tokens":"21","model":"o3","meta":{"region":"us"}}}',
    '{"specversion":"1.0","id":"4","source":"s","type":"prompt","subject":"acme","time":"2026-11-01T10:30:00Z","data":{"tokens":null,"model":"o3"}}',
    '{"specversion":"1.0","id":"5","source":"s","type":"prompt","subject":"acme","time":"2026-11-01T10:40:00Z","data":{"tokens":"NaN","model":"o3"}}',
    '{"specversion":"1.0","id":"6","source":"s","type":"prompt","subject":"beta","time":"2026-11-01T11:30:00Z","data":{"tokens":9007199254740993,"model":"gpt-4o"}}',
    '{"specversion":"1.0","id":"7","source":"s","type":"prompt","subject":"beta","time":"2026-11-01T11:45:00Z","data":{"tokens":-3,"model":true}}',
    '{"specversion":"1.0","id":"8","source":"s","type":"prompt","subject":"beta","time":"2026-11-01T11:50:00Z"}',
    '{"specversion":"1.0","id":"9","source":"s","type":"other","subject":"beta","time":"2026-11-01T11:55:00Z","data":{"tokens":1000000}}',
  ];

  test('every aggregation, exact sums, group-by, filters, windows, all formats', () => {
    const queries: string[][] = [];
    for (const m of ['tokens', 'avg_tokens', 'min_tokens', 'max_tokens', 'latest_tokens', 'models', 'calls', 'cost']) {
      queries.push(['-m', m, '--format', 'csv']);
      queries.push(['-m', m, '--format', 'json', '-w', 'hour']);
      queries.push(['-m', m, '--format', 'ndjson', '-w', 'day', '--all-subjects']);
    }
    queries.push(['-m', 'tokens', '--format', 'csv', '-g', 'model', '-g', 'region']);
    queries.push(['-m', 'tokens', '--format', 'csv', '-g', 'region', '-f', 'model=gpt-4o']);
    queries.push(['-m', 'tokens', '--format', 'csv', '-f', 'region=', '-s', 'acme']);
    queries.push([
      '-m',
      'calls',
      '--format',
      'csv',
      '-g',
      'model',
      '-w',
      'minute',
      '--from',
      '2026-11-01T10:05:00Z',
      '--to',
      '2026-11-01T11:46:00Z',
    ]);
    queries.push([
      '-m',
      'calls',
      '--format',
      'csv',
      '-w',
      'hour',
      '--fill',
      '--from',
      '2026-11-01T09:00:00Z',
      '--to',
      '2026-11-01T13:00:00Z',
    ]);
    queries.push(['-m', 'tokens', '--format', 'table', '-g', 'model']);
    const out = onBoth('aggregations', { 'e.ndjson': AGG_EVENTS, 'meter.yaml': METERS }, (run) => {
      ok(run(['ingest', 'e.ndjson', '--json']));
      return queries.map((q) => ok(run(['query', ...q])));
    });
    const csv = (m: string) => out[queries.findIndex((q) => q[1] === m && q[3] === 'csv')]!.trim().split('\n').slice(1);
    assert.deepEqual(csv('tokens'), [
      '2026-11-01T10:00:00Z,2026-11-01T10:40:00Z,acme,21.3',
      '2026-11-01T11:30:00Z,2026-11-01T11:50:00Z,beta,9007199254740990',
    ]);
    assert.deepEqual(csv('avg_tokens'), [
      '2026-11-01T10:00:00Z,2026-11-01T10:40:00Z,acme,7.1',
      '2026-11-01T11:30:00Z,2026-11-01T11:50:00Z,beta,4503599627370495',
    ]);
    assert.deepEqual(
      csv('min_tokens').map((l) => l.split(',').pop()),
      ['0.1', '-3'],
    );
    assert.deepEqual(
      csv('max_tokens').map((l) => l.split(',').pop()),
      ['21', '9007199254740993'],
    );
    assert.deepEqual(
      csv('latest_tokens').map((l) => l.split(',').pop()),
      ['21', '-3'],
    );
    assert.deepEqual(
      csv('models').map((l) => l.split(',').pop()),
      ['2', '2'],
    );
    assert.deepEqual(
      csv('cost').map((l) => l.split(',').pop()),
      ['0.3', '0'],
      '"0.10" + 0.2 is exactly 0.3',
    );
    const byModel = out[queries.findIndex((q) => q.includes('region') && q.includes('model') && !q.includes('-f'))]!;
    assert.match(byModel, /acme,gpt-4o,eu,0\.1\n/);
    assert.match(byModel, /acme,gpt-4o,,0\.2\n/, 'a missing group-by value is a group of its own');
    assert.match(byModel, /beta,true,,-3\n/);
  });

  test('windows in Europe/Budapest across the autumn DST change (25-hour day, two 02:00 hours)', () => {
    const events: string[] = [];
    const t0 = Date.parse('2026-10-24T20:00:00Z');
    for (let i = 0; i < 64; i++) {
      events.push(ev(`t${i}`, i % 3 ? 'acme' : 'beta', new Date(t0 + i * 30 * 60_000).toISOString(), { tokens: i + 1, model: 'm' }));
    }
    const out = onBoth('dst', { 'e.ndjson': events, 'meter.yaml': METERS }, (run) => {
      ok(run(['ingest', 'e.ndjson', '--json']));
      return {
        day: ok(run(['query', '-m', 'tokens', '-w', 'day', '--tz', 'Europe/Budapest', '--all-subjects', '--format', 'csv'])),
        hour: ok(
          run([
            'query',
            '-m',
            'calls',
            '-w',
            'hour',
            '--tz',
            'Europe/Budapest',
            '--all-subjects',
            '--format',
            'csv',
            '--from',
            '2026-10-25T00:00:00+02:00',
            '--to',
            '2026-10-25T04:00:00+01:00',
          ]),
        ),
        month: ok(run(['query', '-m', 'tokens', '-w', 'month', '--tz', 'Asia/Kathmandu', '--format', 'json'])),
        kathmandu: ok(run(['query', '-m', 'calls', '-w', 'hour', '--tz', 'Asia/Kathmandu', '--format', 'csv', '-s', 'beta'])),
      };
    });
    const day = out.day.trim().split('\n');
    // The local day of 2026-10-25 is 22:00Z to 23:00Z the next day: events 4..53, tokens 5..54.
    assert.equal(day[2], '2026-10-25T00:00:00+02:00,2026-10-26T00:00:00+01:00,,' + String(((5 + 54) * 50) / 2));
    const hours = out.hour
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(',').slice(0, 2).join(' '));
    assert.deepEqual(hours, [
      '2026-10-25T00:00:00+02:00 2026-10-25T01:00:00+02:00',
      '2026-10-25T01:00:00+02:00 2026-10-25T02:00:00+02:00',
      '2026-10-25T02:00:00+02:00 2026-10-25T02:00:00+01:00',
      '2026-10-25T02:00:00+01:00 2026-10-25T03:00:00+01:00',
      '2026-10-25T03:00:00+01:00 2026-10-25T04:00:00+01:00',
    ]);
    // The first event (20:00Z, 01:45 local) is in the hour from 01:00+05:45, which is 19:15 UTC.
    assert.match(out.kathmandu, /\n2026-10-25T01:00:00\+05:45,2026-10-25T02:00:00\+05:45,beta,1\n/);
  });

  test('events, subjects and stats agree', () => {
    onBoth('listings', { 'e.ndjson': AGG_EVENTS }, (run) => {
      ok(run(['ingest', 'e.ndjson', '--json']));
      return {
        events: ok(run(['events', '--format', 'json', '-n', '50'])),
        some: ok(run(['events', '--format', 'ndjson', '-s', 'beta', '--type', 'prompt', '--from', '2026-11-01T11:40:00Z', '-n', '2'])),
        subjects: ok(run(['subjects'])),
        stats: ok(run(['stats'])).replace(/^(store|size) .*\n/gm, ''),
      };
    });
  });

  test('hostile strings in subjects, group values and filters', () => {
    // Subjects may not hold NUL (a bad event); data may.
    const values = HOSTILE.filter((s) => s !== '' && !/[\ud800-\udfff]/.test(s.replace(/\ud83d\ude00/g, '')));
    const events = values.map((s, i) =>
      ev(`h${i}`, s.includes('\u0000') ? `nul-${i}` : s, '2026-11-01T10:00:00Z', { tokens: i + 1, model: s }),
    );
    // Arguments cannot hold NUL: those values are only checked through the full listing.
    const args = values
      .map((s, i) => [s, i] as const)
      .filter(([s]) => !s.includes('\u0000'))
      .slice(0, 14);
    const queries = args.flatMap(([s]) => [
      ['-s', s],
      ['-f', `model=${s}`, '-g', 'model'],
    ]);
    const out = onBoth('hostile', { 'e.ndjson': events, 'meter.yaml': METERS }, (run) => {
      ok(run(['ingest', 'e.ndjson', '--json']));
      const all = ok(run(['query', '-m', 'tokens', '--format', 'json', '-g', 'model']));
      const csv = ok(run(['query', '-m', 'tokens', '--format', 'csv', '-g', 'model']));
      return { all, csv, each: queries.map((q) => ok(run(['query', '-m', 'tokens', '--format', 'json', ...q]))) };
    });
    const rows = (JSON.parse(out.all) as { data: Array<{ subject: string; value: number; groupBy: { model: string } }> }).data;
    assert.equal(rows.length, values.length, 'each hostile value is its own row');
    for (const r of rows) assert.equal(values[r.value - 1], r.groupBy.model, 'the group value comes back byte for byte');
    for (let i = 0; i < queries.length; i++) {
      const data = (JSON.parse(out.each[i]!) as { data: Array<{ value: number }> }).data;
      assert.deepEqual(
        data.map((r) => r.value),
        [args[Math.floor(i / 2)]![1] + 1],
        `query ${JSON.stringify(queries[i])}`,
      );
    }
  });
});

describe('ClickHouse only', () => {
  test('every hostile string survives a round trip through the server literal', async () => {
    for (const s of HOSTILE) {
      const body = await ch(`SELECT ${sqlString(s)} AS v FORMAT JSONEachRow`);
      const expected = Buffer.from(s, 'utf8').toString('utf8'); // a lone surrogate travels as U+FFFD
      assert.equal((JSON.parse(body) as { v: string }).v, expected, JSON.stringify(s));
    }
  });

  test('the window arithmetic agrees with the JS plan on month keys from year 1 to 9999', async () => {
    const { clickhouseDialect } = await import('../src/store/clickhouse/aggregate-sql.js');
    const days = [-719162, -1, 0, 1, 59, 60, 365, 10956, 11016, 20000, 20454, 47482, 2932896];
    const sql = `SELECT ${days.map((d) => `toString(${clickhouseDialect.monthOfDay(String(d))})`).join(', ')} FORMAT TabSeparated`;
    const got = (await ch(sql)).trim().split('\t').map(Number);
    const want = days.map((d) => {
      const dt = new Date(d * 86_400_000);
      return dt.getUTCFullYear() * 100 + dt.getUTCMonth() + 1;
    });
    assert.deepEqual(got, want);
  });

  test('a query without matching events prints no row (no 1970 row), with and without windows and group-by', () => {
    const { w, db } = smallClickHouseStore('ch-no-rows');
    const header = (q: string[]) =>
      q.includes('-g') ? 'window_start,window_end,subject,model,value\n' : 'window_start,window_end,subject,value\n';
    // The full matrix of aggregations, windows and group-bys runs against the store itself (clickhouse-values);
    // here the two command lines of issue 11, through the CLI and its printing.
    const misses = [
      ['-s', 'nobody'],
      ['--all-subjects', '--from', '2027-01-01T00:00:00Z', '--to', '2027-02-01T00:00:00Z'],
    ];
    const cases: string[][] = [];
    for (const m of ['tokens', 'min_tokens', 'latest_tokens', 'models', 'calls']) {
      for (const extra of [[], ['-w', 'month', '--tz', 'Asia/Kathmandu']])
        for (const miss of misses) cases.push(['-m', m, ...extra, ...miss]);
    }
    for (const m of ['tokens', 'calls']) for (const miss of misses) cases.push(['-m', m, '-g', 'model', ...miss]);
    for (const c of cases) assert.equal(ok(w.run(['query', '--format', 'csv', ...c, '--db', db])), header(c), c.join(' '));
    w.remove();
  });

  test('a query naming 7,000 customers or filter values (past the 256 KiB query size of the server) answers as SQLite does', () => {
    const { w, db } = smallClickHouseStore('ch-many');
    ok(w.run(['ingest', 'e.ndjson', '--db', 'local.db', '--json']));
    const many = Array.from({ length: 7000 }, (_, i) => `customer-${String(i).padStart(30, '0')}`);
    for (const args of [
      ['-m', 'tokens', ...many.flatMap((s) => ['-s', s]), '-s', 'acme'],
      ['-m', 'calls', '-g', 'model', ...many.flatMap((m) => ['-f', `model=${m}`]), '-f', 'model=a'],
    ]) {
      const want = ok(w.run(['query', '--format', 'csv', ...args, '--db', 'local.db']));
      assert.ok(want.split('\n').length > 2, want);
      assert.equal(ok(w.run(['query', '--format', 'csv', ...args, '--db', db])), want);
    }
    w.remove();
  });

  test('monthly windows of a DST zone over three millennia (an event in year 5000, no range) answer as SQLite does', () => {
    const { w, db } = smallClickHouseStore('ch-millennia');
    w.write('far.ndjson', [line({ id: 'far', subject: 'acme', time: '5000-01-01T00:00:00Z', data: { tokens: 7, model: 'a' } })]);
    for (const d of [db, 'local.db']) for (const f of ['e.ndjson', 'far.ndjson']) ok(w.run(['ingest', f, '--db', d, '--quiet']));
    const args = ['query', '-m', 'tokens', '-w', 'month', '--tz', 'America/New_York', '--format', 'csv'];
    // The window plan's offsets over 3,000 years make a query past the server's default 50,000 AST nodes.
    const want = ok(w.run([...args, '--db', 'local.db']));
    assert.match(want, /\n4999-12-01T00:00:00-05:00,5000-01-01T00:00:00-05:00,acme,7\n/);
    assert.equal(ok(w.run([...args, '--db', db])), want);
    w.remove();
  });

  test('a readonly command on an empty database says to ingest first; a bad URL is a usage error', () => {
    const w = new Workdir('ch-empty');
    const db = `clickhouse://127.0.0.1:${CH_PORT}/${chDatabase()}`;
    const r = w.run(['query', '--db', db]);
    assert.equal(r.code, 1, r.describe());
    assert.match(r.stderr, /meter ingest/);
    const bad = w.run(['stats', '--db', 'clickhouse://u:topsecret@127.0.0.1:1/x-y']);
    assert.equal(bad.code, 2, bad.describe());
    assert.doesNotMatch(bad.stderr, /topsecret/);
    const down = w.run(['stats', '--db', 'clickhouse://u:topsecret@127.0.0.1:1/db']);
    assert.equal(down.code, 1, down.describe());
    assert.match(down.stderr, /cannot connect/);
    assert.doesNotMatch(down.stderr + down.stdout, /topsecret/);
    const viaEnv = w.run(['stats'], { env: { METER_DB: db } });
    assert.equal(viaEnv.code, 1, viaEnv.describe());
    assert.match(viaEnv.stderr, new RegExp(db.split('/').pop()!));
    w.remove();
  });

  test('concurrent writers of the same events: queries stay exact, copies are dropped at read time', async () => {
    const events: string[] = [];
    for (let i = 0; i < 6000; i++) {
      events.push(
        ev(`c${i}`, `s${i % 7}`, new Date(Date.parse('2026-11-01T00:00:00Z') + i * 1000).toISOString(), {
          tokens: i % 13,
          model: `m${i % 3}`,
        }),
      );
    }
    const w = new Workdir('ch-concurrent');
    w.write('e.ndjson', events);
    w.write('meter.yaml', METERS);
    const sqlite = w.path('ref.db');
    ok(w.run(['ingest', 'e.ndjson', '--db', sqlite, '--json']));
    const expected = ok(w.run(['query', '-m', 'tokens', '-w', 'hour', '-g', 'model', '--format', 'csv', '--db', sqlite]));
    const name = chDatabase();
    const db = `clickhouse://127.0.0.1:${CH_PORT}/${name}`;
    // Create the store first, then race three writers of the same log.
    ok(w.run(['ingest', '--db', db, '--json'], { input: '' }));
    const runs = await Promise.all([0, 1, 2].map(() => w.spawn(['ingest', 'e.ndjson', '--db', db, '--json', '--batch-size', '500']).done));
    for (const r of runs) assert.equal(r.code, 0, r.describe());
    assert.equal(ok(w.run(['query', '-m', 'tokens', '-w', 'hour', '-g', 'model', '--format', 'csv', '--db', db])), expected);
    const stats = ok(w.run(['stats', '--db', db]));
    assert.match(stats, /events\s+6,000\n/);
    const stored = Number((await ch(`SELECT count() FROM \`${name}\`.events`)).trim());
    const dropped = Number((await ch(`SELECT uniqExact(run, seq) FROM \`${name}\`.dropped`)).trim());
    assert.equal(stored - dropped, 6000, 'every extra copy is recorded as dropped');
    w.remove();
  });

  test('a writer that died between insert and check: reads deduplicate fully, the next ingest repairs', async () => {
    const { w, name, db } = smallClickHouseStore('ch-crash');
    const before = ok(w.run(['query', '-m', 'tokens', '--format', 'csv', '--db', db]));
    // What a crashed writer leaves: its batch marked open, and copies of stored events (a lost race).
    const cols = 'k, source, id, type, subject, time_ms, data, fp, ingested_ms, run, seq, jp, js, jk, np, nt, nk, ni, nf, nx';
    await ch(`INSERT INTO \`${name}\`.batches (run, batch, state, at) VALUES (4242, 1, 0, now() - 7200)`);
    await ch(
      `INSERT INTO \`${name}\`.events (${cols}) SELECT ${cols.replace('ingested_ms, run', 'ingested_ms + 1, 4242')} FROM \`${name}\`.events`,
    );
    assert.equal(Number((await ch(`SELECT count() FROM \`${name}\`.events`)).trim()), 2 * AGG_EVENTS_SMALL.length);
    assert.equal(ok(w.run(['query', '-m', 'tokens', '--format', 'csv', '--db', db])), before, 'exact while the batch is open');
    assert.match(ok(w.run(['stats', '--db', db])), new RegExp(`events\\s+${AGG_EVENTS_SMALL.length}\\n`));
    // The next ingest closes the stale batch by recording the copies as dropped.
    ok(w.run(['ingest', '--db', db, '--json'], { input: '' }));
    assert.equal(Number((await ch(`SELECT count() FROM \`${name}\`.dropped WHERE run = 4242`)).trim()), AGG_EVENTS_SMALL.length);
    assert.equal(
      (await ch(`SELECT count() FROM (SELECT run, batch FROM \`${name}\`.batches GROUP BY run, batch HAVING max(state) = 0)`)).trim(),
      '0',
    );
    assert.equal(ok(w.run(['query', '-m', 'tokens', '--format', 'csv', '--db', db])), before, 'exact after the repair');
    const again = summary(w.run(['ingest', 'e.ndjson', '--db', db, '--json']));
    assert.equal(again.inserted, 0);
    assert.equal(again.duplicates, AGG_EVENTS_SMALL.length);
    w.remove();
  });
});

describe('ClickHouse store, called directly', () => {
  const events = (n: number, prefix: string) =>
    Array.from({ length: n }, (_, i) => {
      const text = ev(`${prefix}${i}`, 'acme', '2026-11-01T10:00:00Z', { tokens: i });
      const r = validateCloudEvent(JSON.parse(text), { requireTime: true, nowMs: 0 }, text);
      assert.ok(r.ok);
      return r.event;
    });

  test('a group left uncommitted is dropped on close; commit: false then sync writes it whole', async () => {
    const name = chDatabase();
    const store = await ClickHouseStore.open(`clickhouse://127.0.0.1:${CH_PORT}/${name}`, {});
    const first = await store.writeBatch(events(3000, 'a'), Date.now(), { commit: false });
    assert.equal(first.inserted, 3000);
    // The same events again in the same open group: duplicates, found without the server.
    const again = await store.writeBatch(events(3000, 'a'), Date.now(), { commit: false });
    assert.deepEqual([again.inserted, again.duplicates], [0, 3000]);
    await store.close(); // no sync: like a failed run
    assert.equal((await ch(`SELECT count() FROM \`${name}\`.events`)).trim(), '0', 'nothing of an uncommitted group is written');
    const open = (
      await ch(`SELECT count() FROM (SELECT run, batch FROM \`${name}\`.batches GROUP BY run, batch HAVING max(state) = 0)`)
    ).trim();
    assert.equal(open, '0', 'the dropped group is not left open');

    const s2 = await ClickHouseStore.open(`clickhouse://127.0.0.1:${CH_PORT}/${name}`, {});
    await s2.writeBatch(events(3000, 'a'), Date.now(), { commit: false });
    await s2.writeBatch(events(2000, 'b'), Date.now(), { commit: false });
    await s2.sync();
    await s2.close();
    assert.equal((await ch(`SELECT count() FROM \`${name}\`.events`)).trim(), '5000');
  });
});

const AGG_EVENTS_SMALL = [
  ev('x1', 'acme', '2026-11-01T10:00:00Z', { tokens: 0.1, model: 'a' }),
  ev('x2', 'acme', '2026-11-01T10:30:00Z', { tokens: 0.2, model: 'b' }),
  ev('x3', 'beta', '2026-11-01T11:00:00Z', { tokens: 4, model: 'a' }),
];
