/**
 * `meter serve` driven by the official client, @openmeter/sdk 1.0.0-beta.232, on both backends: ingest (single
 * and batch, re-sent copies), meters list/get/query/queryPost, events.list and subjects.list. Every query value
 * is checked against `meter query --format json` on the same store.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { OpenMeter } from '@openmeter/sdk';
import { OpenMeter as OpenMeterPortal } from '@openmeter/sdk/portal';
import { prng } from '../bench/generate.js';
import { CH_PORT, useClickHouse } from './clickhouse-server.js';
import { Workdir } from './helpers.js';
import { explained, SERVE_CONFIG, startServe, stopAll } from './serve-helpers.js';

const SEED = Number(process.env.METER_SEED ?? Date.now() % 1_000_000);
const RUN_ID = `${process.pid}_${Date.now() % 100000}`;
const databases: string[] = [];

before(async () => {
  console.log(`serve.e2e seed ${SEED} (METER_SEED=${SEED} repeats it)`);
});

after(async () => {
  await stopAll();
  for (const d of databases) {
    await fetch(`http://127.0.0.1:${CH_PORT}/`, { method: 'POST', body: `DROP DATABASE IF EXISTS \`${d}\`` }).catch(() => {});
  }
});
// Registered after the hooks above, so that a server the tests started stops after the databases are dropped.
useClickHouse();

const BACKENDS = [
  { name: 'sqlite', db: (w: Workdir) => w.path('meter.db') },
  {
    name: 'clickhouse',
    db: () => {
      const name = `meter_serve_${RUN_ID}_${databases.length}`;
      databases.push(name);
      return `clickhouse://127.0.0.1:${CH_PORT}/${name}`;
    },
  },
];

const MODELS = ['gpt-4o', 'gpt-4o-mini', 'o3'];
const SUBJECTS = ['c1', 'c2', 'c3'];

/** Seeded usage events in November 2026, with decimals, numeric strings and one integer past 2^53. */
function usage(n: number, seed: number): Array<Record<string, unknown>> {
  const r = prng(seed);
  const out: Array<Record<string, unknown>> = [];
  for (let i = 0; i < n; i++) {
    const tokens = i % 17 === 0 ? '0.1' : i % 23 === 0 ? 12.5 : Math.floor(r() * 1000);
    out.push({
      id: `ev-${seed}-${i}`,
      source: 'e2e',
      specversion: '1.0',
      type: 'prompt',
      subject: SUBJECTS[Math.floor(r() * SUBJECTS.length)]!,
      time: new Date(Date.UTC(2026, 10, 1) + Math.floor(r() * 20 * 86_400_000)).toISOString(),
      data: { tokens, model: MODELS[Math.floor(r() * MODELS.length)]!, type: r() < 0.5 ? 'input' : 'output', ms: Math.floor(r() * 5000) },
    });
  }
  return out;
}

/** `meter query --format json` rows, as (time ms, subject, groupBy, value) for comparison with the SDK's. */
function cliRows(
  w: Workdir,
  db: string,
  args: string[],
): Array<{ start: number; end: number; subject: string | null; groupBy: unknown; value: number }> {
  const r = w.run(['query', '--db', db, '--config', w.path('meter.yaml'), '--format', 'json', ...args]);
  assert.equal(r.code, 0, r.describe());
  const rows = (
    JSON.parse(r.stdout) as {
      data: Array<{ windowStart: string; windowEnd: string; subject: string | null; groupBy: unknown; value: number | null }>;
    }
  ).data;
  return rows
    .filter((x) => x.value !== null)
    .map((x) => ({
      start: Date.parse(x.windowStart),
      end: Date.parse(x.windowEnd),
      subject: x.subject,
      groupBy: x.groupBy,
      value: x.value!,
    }));
}

function sdkRows(data: Array<{ windowStart: Date; windowEnd: Date; subject?: string | null; groupBy?: unknown; value: number }>) {
  return data.map((x) => ({
    start: x.windowStart.getTime(),
    end: x.windowEnd.getTime(),
    subject: x.subject ?? null,
    groupBy: x.groupBy ?? {},
    value: x.value,
  }));
}

const sortRows = <T extends { start: number; subject: string | null; groupBy: unknown }>(rows: T[]) =>
  [...rows].sort(
    (a, b) =>
      a.start - b.start ||
      String(a.subject).localeCompare(String(b.subject)) ||
      JSON.stringify(a.groupBy).localeCompare(JSON.stringify(b.groupBy)),
  );

for (const backend of BACKENDS) {
  describe(`meter serve with @openmeter/sdk (${backend.name})`, () => {
    test('ingest, meters, query, queryPost, events and subjects match meter query on the same store', async () => {
      const w = new Workdir(`serve-sdk-${backend.name}`);
      w.write('meter.yaml', SERVE_CONFIG);
      const db = backend.db(w);
      const server = await startServe(w, ['--db', db, '--config', w.path('meter.yaml')]);
      try {
        await explained(server, async () => {
          const om = new OpenMeter({ baseUrl: server.url });
          const events = usage(400, SEED);
          // One event alone (the SDK still sends a batch of one), then batches of 100, then all of them again.
          await om.events.ingest({ ...events[0]!, time: new Date(events[0]!.time as string) } as never);
          for (let i = 1; i < events.length; i += 100) await om.events.ingest(events.slice(i, i + 100) as never);
          await om.events.ingest(events.slice(0, 150) as never);
          const stats = w.run(['stats', '--db', db, '--json']);
          assert.equal(stats.code, 0, stats.describe());
          assert.equal((JSON.parse(stats.stdout) as { events: number }).events, 400, 'every event once, re-sent copies ignored');

          const meters = await om.meters.list();
          assert.deepEqual(
            meters!.map((m) => m.slug),
            ['latency_max', 'requests', 'tokens_total'],
          );
          const tokens = await om.meters.get('tokens_total');
          assert.equal(tokens!.aggregation, 'SUM');
          assert.match(tokens!.id, /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/);
          assert.equal((await om.meters.get(tokens!.id))!.slug, 'tokens_total', 'a meter is found by its id too');

          const from = new Date('2026-11-03T00:00:00Z'),
            to = new Date('2026-11-15T12:00:00Z');
          const q1 = await om.meters.query('tokens_total', {
            from,
            to,
            windowSize: 'HOUR',
            windowTimeZone: 'Asia/Kathmandu',
            subject: ['c1', 'c2'],
            groupBy: ['model'],
            filterGroupBy: { type: 'input' },
          });
          const want1 = cliRows(w, db, [
            '-m',
            'tokens_total',
            '-w',
            'hour',
            '--tz',
            'Asia/Kathmandu',
            '--from',
            from.toISOString(),
            '--to',
            to.toISOString(),
            '-s',
            'c1',
            '-s',
            'c2',
            '-g',
            'model',
            '-f',
            'type=input',
          ]);
          assert.ok(want1.length > 10, `rows: ${want1.length}`);
          assert.deepEqual(sortRows(sdkRows(q1!.data as never)), sortRows(want1));
          assert.equal(q1!.windowSize, 'HOUR');

          const q2 = await om.meters.query('tokens_total', {
            windowSize: 'MONTH',
            windowTimeZone: 'Europe/Budapest',
            groupBy: ['subject', 'type'],
          });
          assert.deepEqual(
            sortRows(sdkRows(q2!.data as never)),
            sortRows(cliRows(w, db, ['-m', 'tokens_total', '-w', 'month', '--tz', 'Europe/Budapest', '-g', 'type'])),
          );

          const q3 = await om.meters.queryPost('requests', {
            from: new Date('2026-11-05T00:00:00Z'),
            windowSize: 'DAY',
            subject: ['c3'],
            filterGroupBy: { model: ['o3'] },
          } as never);
          assert.deepEqual(
            sortRows(sdkRows((q3 as { data: never }).data)),
            sortRows(cliRows(w, db, ['-m', 'requests', '-w', 'day', '--from', '2026-11-05T00:00:00Z', '-s', 'c3', '-f', 'model=o3'])),
          );
          // Several values of a key are alternatives (an $in), as repeated -f of one key in meter query.
          const q3b = await om.meters.queryPost('requests', {
            windowSize: 'DAY',
            groupBy: ['model'],
            filterGroupBy: { model: ['o3', 'gpt-4o'] },
          } as never);
          const want3b = cliRows(w, db, [
            '-m',
            'requests',
            '-w',
            'day',
            '-g',
            'model',
            '-f',
            'model=o3',
            '-f',
            'model=gpt-4o',
            '--all-subjects',
          ]);
          assert.deepEqual(new Set(want3b.map((r) => (r.groupBy as { model: string }).model)), new Set(['o3', 'gpt-4o']));
          assert.deepEqual(sortRows(sdkRows((q3b as { data: never }).data)), sortRows(want3b));

          // No groupBy, no window: one total across subjects (subject null).
          const q4 = await om.meters.query('latency_max', { from, to });
          assert.deepEqual(
            sdkRows(q4!.data as never),
            cliRows(w, db, ['-m', 'latency_max', '--from', from.toISOString(), '--to', to.toISOString(), '--all-subjects']),
          );

          const listed = await om.events.list({ from: new Date('2026-01-01T00:00:00Z'), subject: 'c2', limit: 10 } as never);
          const cliEvents = w.run(['events', '--db', db, '-s', 'c2', '--limit', '10', '--format', 'json']);
          assert.equal(cliEvents.code, 0, cliEvents.describe());
          assert.deepEqual(
            listed!.map((e) => e.event.id),
            (JSON.parse(cliEvents.stdout) as Array<{ id: string }>).map((e) => e.id),
          );
          const subjects = await om.subjects.list();
          assert.deepEqual(
            subjects!.map((s) => s.key),
            SUBJECTS.filter((s) => events.some((e) => e.subject === s)),
          );

          // A portal token from the SDK, used by the SDK's portal client: its subject's usage only.
          const portalToken = await om.portal.create({
            subject: 'c2',
            allowedMeterSlugs: ['tokens_total'],
            expiresAt: new Date(Date.now() + 3_600_000),
          } as never);
          const portal = new OpenMeterPortal({ baseUrl: server.url, portalToken: portalToken!.token! });
          const mine = await portal.query('tokens_total', { windowSize: 'DAY', groupBy: ['model'] });
          assert.deepEqual(
            sortRows(sdkRows(mine.data as never)),
            sortRows(cliRows(w, db, ['-m', 'tokens_total', '-w', 'day', '-s', 'c2', '-g', 'model'])),
          );

          const stopped = await server.stop();
          assert.equal(stopped.code, 0, stopped.describe());
          assert.match(stopped.stderr, /stopped; /);
        });
      } finally {
        await server.kill();
        w.remove();
      }
    });
  });
}

test('exact values: a JSON body with a 20-digit integer and decimals is summed exactly, in JSON and CSV', async () => {
  const w = new Workdir('serve-exact');
  w.write('meter.yaml', SERVE_CONFIG);
  const server = await startServe(w, ['--db', w.path('m.db'), '--config', w.path('meter.yaml')]);
  try {
    const body =
      '[{"specversion":"1.0","id":"x1","source":"s","type":"prompt","subject":"a","time":"2026-11-01T00:00:00Z","data":{"tokens":12345678901234567890}},' +
      '{"specversion":"1.0","id":"x2","source":"s","type":"prompt","subject":"a","time":"2026-11-01T00:00:00.001Z","data":{"tokens":0.1}},' +
      '{"specversion":"1.0","id":"x3","source":"s","type":"prompt","subject":"a","time":"2026-11-01T00:00:00.002Z","data":{"tokens":"0.2"}}]';
    const r = await fetch(`${server.url}/api/v1/events`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/cloudevents-batch+json' },
      body,
    });
    assert.equal(r.status, 204);
    const j = await fetch(`${server.url}/api/v1/meters/tokens_total/query?groupBy=subject`);
    assert.equal(j.headers.get('content-type'), 'application/json');
    assert.match(await j.text(), /"value":12345678901234567890\.3,/);
    const c = await fetch(
      `${server.url}/api/v1/meters/tokens_total/query?groupBy=subject&from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z`,
      { headers: { Accept: 'text/csv' } },
    );
    assert.equal(c.headers.get('content-type'), 'text/csv');
    assert.equal(c.headers.get('content-disposition'), 'attachment; filename=tokens_total.csv');
    assert.equal(
      await c.text(),
      'window_start,window_end,subject,value\n2026-11-01T00:00:00Z,2026-11-02T00:00:00Z,a,12345678901234567890.300000\n',
    );
  } finally {
    await server.kill();
    w.remove();
  }
});

test('meter ingest and meter query work on the SQLite file while meter serve writes to it', async () => {
  const w = new Workdir('serve-shared');
  w.write('meter.yaml', SERVE_CONFIG);
  const db = w.path('shared.db');
  const server = await startServe(w, ['--db', db, '--config', w.path('meter.yaml')]);
  try {
    const events = usage(2000, SEED + 1);
    w.write(
      'file.ndjson',
      events.slice(1000).map((e) => JSON.stringify(e)),
    );
    // The server takes the first half in batches while the CLI ingests the second half from a file.
    const cli = w.spawn(['ingest', '--db', db, '--batch-size', '100', 'file.ndjson']);
    for (let i = 0; i < 1000; i += 50) {
      const r = await fetch(`${server.url}/api/v1/events`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/cloudevents-batch+json' },
        body: JSON.stringify(events.slice(i, i + 50)),
      });
      assert.equal(r.status, 204);
    }
    const ingested = await cli.done;
    assert.equal(ingested.code, 0, ingested.describe());
    const query = w.run(['query', '--db', db, '--config', w.path('meter.yaml'), '-m', 'requests', '--all-subjects', '--format', 'json']);
    assert.equal(query.code, 0, query.describe());
    assert.equal((JSON.parse(query.stdout) as { data: Array<{ value: number }> }).data[0]!.value, 2000);
    const viaApi = (await (await fetch(`${server.url}/api/v1/meters/requests/query`)).json()) as { data: Array<{ value: number }> };
    assert.equal(viaApi.data[0]!.value, 2000, 'the server reads what the CLI committed');
  } finally {
    await server.kill();
    w.remove();
  }
});
