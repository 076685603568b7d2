/**
 * Every error path of `meter serve` with plain fetch: exact status, content type and problem detail for content
 * types, bad JSON, invalid events (all listed, nothing stored), auth, unknown meters and routes, malformed slugs,
 * body limits, query parameter rules, CSV negotiation, and portal tokens.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { event, Workdir } from './helpers.js';
import { WORKER_MIN_CHARS } from '../src/http/body-parser.js';
import { SERVE_CONFIG, startServe, stopAll, type Served } from './serve-helpers.js';

const TOKEN = 'test-token-0123456789';
let w: Workdir;
let open: Served;
let authed: Served;

before(async () => {
  w = new Workdir('serve-errors');
  w.write('meter.yaml', SERVE_CONFIG);
  open = await startServe(w, ['--db', w.path('open.db'), '--config', w.path('meter.yaml'), '--max-body', '2000', '--body-timeout', '300']);
  authed = await startServe(w, ['--db', w.path('authed.db'), '--config', w.path('meter.yaml')], { METER_TOKEN: TOKEN });
});

after(async () => {
  await stopAll();
  w.remove();
});

/** helpers.ts's valid event, with the `type` group value the serve config's meters read. */
const ev = (over: Record<string, unknown> = {}) => event({ data: { tokens: 10, model: 'gpt-4o', type: 'input' }, ...over });

async function post(base: Served, path: string, body: string | Uint8Array, headers: Record<string, string> = {}) {
  return fetch(`${base.url}${path}`, { method: 'POST', body: body as BodyInit, headers });
}

/** Asserts a problem response: status, the exact content type, OpenMeter's fields; returns the body. */
async function problem(r: Response, status: number, detail?: string | RegExp): Promise<Record<string, unknown>> {
  assert.equal(r.status, status);
  assert.equal(r.headers.get('content-type'), 'application/problem+json');
  const body = (await r.json()) as Record<string, unknown>;
  assert.equal(body.type, 'about:blank');
  assert.equal(body.status, status);
  assert.equal(typeof body.title, 'string');
  if (typeof detail === 'string') assert.equal(body.detail, detail);
  else if (detail) assert.match(String(body.detail), detail);
  return body;
}

/** Writes `text` on one new connection and resolves with everything the server sent until it closed it. */
function rawExchange(base: Served, text: string | Buffer): Promise<string> {
  return new Promise<string>((resolve) => {
    const u = new URL(base.url);
    const s = net.connect(Number(u.port), u.hostname, () => s.write(text));
    let got = '';
    s.on('data', (d) => (got += d.toString('latin1')));
    s.on('close', () => resolve(got));
  });
}

/** The status lines of every answer in a raw exchange, in order. */
const statusLines = (answer: string) => answer.match(/^HTTP\/1\.1 \d{3}/gm) ?? [];

/** A raw POST /api/v1/events of a batch, for pipelining. */
function rawBatch(events: unknown[], extra = ''): string {
  const body = JSON.stringify(events);
  return (
    `POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/cloudevents-batch+json\r\n${extra}` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

async function eventCount(base: Served): Promise<number> {
  const r = await fetch(`${base.url}/api/v1/events?from=2000-01-01T00:00:00Z&limit=100`, {
    headers: base === authed ? { Authorization: `Bearer ${TOKEN}` } : {},
  });
  return ((await r.json()) as unknown[]).length;
}

describe('POST /api/v1/events', () => {
  test('content types: the three of OpenMeter, a utf-8 charset accepted, anything else 400', async () => {
    const one = JSON.stringify(ev({ id: 'ct1' }));
    const first = await post(open, '/api/v1/events', one, { 'Content-Type': 'application/cloudevents+json' });
    assert.equal(first.status, 204);
    assert.equal(first.headers.get('content-length'), null, 'a 204 says nothing of a length (RFC 9110 8.6)');
    assert.equal(
      (
        await post(open, '/api/v1/events', `[${JSON.stringify(ev({ id: 'ct2' }))}]`, {
          'Content-Type': 'application/cloudevents-batch+json',
        })
      ).status,
      204,
    );
    assert.equal(
      (await post(open, '/api/v1/events', JSON.stringify(ev({ id: 'ct3' })), { 'Content-Type': 'application/json' })).status,
      204,
    );
    assert.equal(
      (await post(open, '/api/v1/events', `[${JSON.stringify(ev({ id: 'ct4' }))}]`, { 'Content-Type': 'application/json; charset=utf-8' }))
        .status,
      204,
    );
    assert.equal((await post(open, '/api/v1/events', '[]', { 'Content-Type': 'application/cloudevents-batch+json' })).status, 204);
    await problem(await post(open, '/api/v1/events', '[]', { 'Content-Type': 'application/json' }), 400, 'invalid event: no events found');
    await problem(await post(open, '/api/v1/events', one, { 'Content-Type': 'text/plain' }), 400, 'invalid content type: text/plain');
    await problem(
      await post(open, '/api/v1/events', one, { 'Content-Type': 'application/json; charset=latin1' }),
      400,
      'invalid content type: application/json; charset=latin1',
    );
    await problem(
      await post(open, '/api/v1/events', `[${one}]`, { 'Content-Type': 'application/cloudevents+json' }),
      400,
      /takes one event/,
    );
    await problem(
      await post(open, '/api/v1/events', one, { 'Content-Type': 'application/cloudevents-batch+json' }),
      400,
      /takes a JSON array/,
    );
    await problem(
      await post(open, '/api/v1/events', '{"specversion":', { 'Content-Type': 'application/json' }),
      400,
      /^invalid event: invalid JSON: /,
    );
    for (const empty of ['', ' \n'])
      await problem(
        await post(open, '/api/v1/events', empty, { 'Content-Type': 'application/cloudevents-batch+json' }),
        400,
        /^invalid event: empty request body \(send an event, or a JSON array of events\)$/,
      );
    // Bytes that are not UTF-8 refuse the request: as U+FFFD, ids "evt-\xff" and "evt-\xfe" would be one event.
    const notUtf8 = (id: string) => {
      const b = Buffer.from(JSON.stringify(ev({ id: `${id}-##` })));
      b.write('\xff\xfe', b.indexOf('##'), 'latin1');
      return b;
    };
    await problem(
      await post(
        open,
        '/api/v1/events',
        Buffer.concat([Buffer.from('['), notUtf8('a'), Buffer.from(','), notUtf8('b'), Buffer.from(']')]),
        {
          'Content-Type': 'application/cloudevents-batch+json',
        },
      ),
      400,
      'the request body is not valid UTF-8',
    );
    // A byte order mark before the JSON is dropped, as meter ingest drops it.
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(ev({ id: 'bom' })))]);
    assert.equal((await post(open, '/api/v1/events', bom, { 'Content-Type': 'application/cloudevents+json' })).status, 204);
    assert.equal(await eventCount(open), 5);
  });

  test('one invalid event: 400 listing every problem with index and field, and nothing of the request stored', async () => {
    const before = await eventCount(open);
    const body = JSON.stringify([
      ev({ id: 'v1' }),
      ev({ id: 'v2', subject: '', data: 5 }),
      ev({ id: 'v3' }),
      { ...ev({ id: 'v4', time: '2026-02-30T00:00:00Z' }), specversion: undefined },
    ]);
    const p = await problem(
      await post(open, '/api/v1/events', body, { 'Content-Type': 'application/cloudevents-batch+json' }),
      400,
      'invalid event: 2 of 4 event(s) are invalid; nothing was stored',
    );
    const issues = (p.extensions as { validationErrors: Array<{ index: number; field: string; code: string }> }).validationErrors;
    assert.deepEqual(
      issues.map((i) => [i.index, i.field, i.code]),
      [
        [1, 'subject', 'invalid_event'],
        [1, 'data', 'invalid_event'],
        [3, 'specversion', 'invalid_event'],
        [3, 'time', 'invalid_event'],
      ],
    );
    assert.equal(await eventCount(open), before);
  });

  test('a large batch (parsed on a thread of its own): every invalid event listed, nothing stored; then stored once', async () => {
    const stored = () => {
      const r = w.run(['stats', '--db', w.path('authed.db'), '--json']);
      assert.equal(r.code, 0, r.describe());
      return (JSON.parse(r.stdout) as { events: number }).events;
    };
    const before = stored();
    const h = { 'Content-Type': 'application/cloudevents-batch+json', Authorization: `Bearer ${TOKEN}` };
    const events = Array.from({ length: 300 }, (_, i) => ev({ id: `large-${i}` }));
    const bad = [...events];
    bad[10] = ev({ id: 'large-10', subject: '' });
    bad[250] = { ...ev({ id: 'large-250' }), specversion: undefined };
    assert.ok(JSON.stringify(bad).length >= WORKER_MIN_CHARS);
    const p = await problem(
      await post(authed, '/api/v1/events', JSON.stringify(bad), h),
      400,
      'invalid event: 2 of 300 event(s) are invalid; nothing was stored',
    );
    const issues = (p.extensions as { validationErrors: Array<{ index: number; field: string }> }).validationErrors;
    assert.deepEqual(
      issues.map((i) => [i.index, i.field]),
      [
        [10, 'subject'],
        [250, 'specversion'],
      ],
    );
    assert.equal(stored(), before);
    assert.equal((await post(authed, '/api/v1/events', JSON.stringify(events), h)).status, 204);
    assert.equal(stored(), before + 300);
    assert.equal((await post(authed, '/api/v1/events', JSON.stringify(events), h)).status, 204);
    assert.equal(stored(), before + 300);
  });

  test('a body of a million invalid events (under --max-body) gets a 400 of bounded size, listing the first problems', async () => {
    const body = `[${Array(1_300_000).fill('{}').join(',')}]`;
    const h = { 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}` };
    const r = await post(authed, '/api/v1/events', body, h);
    const text = await r.text();
    assert.equal(r.status, 400);
    assert.ok(text.length < 300_000, `${text.length} characters`);
    const p = JSON.parse(text) as { detail: string; extensions: { validationErrors: unknown[] } };
    assert.match(
      p.detail,
      /^invalid event: 1300000 of 1300000 event\(s\) are invalid; nothing was stored; the first 1000 of \d+ problems are listed$/,
    );
    assert.equal(p.extensions.validationErrors.length, 1000);
  });

  test('a re-sent event answers 204 and changes nothing', async () => {
    const body = JSON.stringify(ev({ id: 'dup' }));
    const h = { 'Content-Type': 'application/cloudevents+json' };
    assert.equal((await post(open, '/api/v1/events', body, h)).status, 204);
    const n = await eventCount(open);
    assert.equal((await post(open, '/api/v1/events', body, h)).status, 204);
    assert.equal((await post(open, '/api/v1/events', JSON.stringify(ev({ id: 'dup', data: { tokens: 99 } })), h)).status, 204);
    assert.equal(await eventCount(open), n);
  });

  test('a body over --max-body is 413; one that never finishes is cut off with 408', async () => {
    const big = JSON.stringify(ev({ id: 'big', data: { pad: 'x'.repeat(3000) } }));
    const tooLarge = await problem(
      await post(open, '/api/v1/events', big, { 'Content-Type': 'application/json' }),
      413,
      'request body too large: at most 2000 bytes (--max-body)',
    );
    // Titles are Go's http.StatusText, as OpenMeter's (Node says Payload Too Large).
    assert.equal(tooLarge.title, 'Request Entity Too Large');
    const port = Number(new URL(open.url).port);
    const raw = await new Promise<string>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      let got = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => (got += d));
      s.on('close', () => resolve(got));
      s.on('error', reject);
      s.setTimeout(10_000, () => s.destroy());
      s.write('POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"specversion"');
    });
    assert.match(raw, /^HTTP\/1\.1 408 /);
    assert.match(raw, /content-type: application\/problem\+json/i);
  });
});

describe('auth', () => {
  test('with a token: 401 problem without it or with another; the token is never printed', async () => {
    const r1 = await fetch(`${authed.url}/api/v1/meters`);
    await problem(r1, 401);
    assert.equal(r1.headers.get('www-authenticate'), 'Bearer');
    await problem(await fetch(`${authed.url}/api/v1/meters`, { headers: { Authorization: 'Bearer wrong-token-0000000' } }), 401);
    await problem(await post(authed, '/api/v1/events', JSON.stringify(ev()), { 'Content-Type': 'application/json' }), 401);
    await problem(await fetch(`${authed.url}/api/v1/nothing-here`), 401);
    const ok = await fetch(`${authed.url}/api/v1/meters`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('content-type'), 'application/json');
    const stopped = await authed.stop();
    assert.equal(stopped.code, 0, stopped.describe());
    assert.ok(!stopped.stderr.includes(TOKEN) && !stopped.stdout.includes(TOKEN), stopped.describe());
    assert.match(stopped.stderr, /every route needs Authorization: Bearer <token>/);
  });

  test('a --token value is masked in the command line other local users see (/proc/PID/cmdline, ps)', async () => {
    for (const [args, shown] of [
      [['--token', TOKEN], '--token ***'],
      [[`--token=${TOKEN}`], '--token=***'],
    ] as const) {
      const s = await startServe(w, ['--db', w.path('masked.db'), '--config', w.path('meter.yaml'), ...args]);
      try {
        const cmdline = fs.readFileSync(`/proc/${s.child.pid}/cmdline`, 'utf8');
        assert.ok(!cmdline.includes(TOKEN), cmdline);
        assert.ok(cmdline.includes(shown), cmdline);
        const ok = await fetch(`${s.url}/api/v1/meters`, { headers: { Authorization: `Bearer ${TOKEN}` } });
        assert.equal(ok.status, 200);
      } finally {
        assert.equal((await s.stop()).code, 0);
      }
    }
  });

  test('a token no client can send (a newline, a space, an accent) is refused at start: exit 2', () => {
    for (const [env, args, message] of [
      [{ METER_TOKEN: 'sekret-token-77\n' }, [], /^meter: METER_TOKEN: only visible ASCII characters.*\(a trailing newline\?\)/],
      [{}, ['--token', 'has space 1234'], /^meter: --token: only visible ASCII characters/],
      [{}, ['--token', 'tökenÄÖÜ1234'], /^meter: --token: only visible ASCII characters/],
      // Named as it was given: from the environment it is no --token the user typed.
      [{ METER_TOKEN: 's3cret' }, [], /^meter: METER_TOKEN: use at least 8 characters/],
    ] as const) {
      const r = w.run(['serve', '--db', w.path('t.db'), '--config', w.path('meter.yaml'), '--port', '0', ...args], { env });
      assert.equal(r.code, 2, r.describe());
      assert.match(r.stderr, message);
    }
  });

  test('a port in use: exit 1 saying so in words', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as net.AddressInfo).port;
      const r = w.run(['serve', '--db', w.path('t.db'), '--config', w.path('meter.yaml'), '--port', String(port)]);
      assert.equal(r.code, 1, r.describe());
      assert.match(
        r.stderr,
        new RegExp(
          `^meter: cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use \\(by another meter serve\\?\\); choose another with --port \\(EADDRINUSE\\)\n$`,
          'm',
        ),
      );
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  test('Expect: 100-continue without the token gets its 401 at once, never a 100 first', async () => {
    const guarded = await startServe(w, ['--db', w.path('continue.db'), '--config', w.path('meter.yaml')], { METER_TOKEN: TOKEN });
    const u = new URL(guarded.url);
    const answer = await new Promise<string>((resolve) => {
      const s = net.connect(Number(u.port), u.hostname, () =>
        s.write(
          'POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99\r\nExpect: 100-continue\r\n\r\n',
        ),
      );
      let got = '';
      s.on('data', (d) => {
        got += d.toString('latin1');
        if (/\r\n\r\n/.test(got)) s.destroy();
      });
      s.on('close', () => resolve(got));
    });
    assert.match(answer, /^HTTP\/1.1 401 /);
    assert.equal((await guarded.stop()).code, 0);
  });

  test('SIGTERM the moment it says it listens: a clean stop (exit 0), every time', async () => {
    for (let i = 0; i < 5; i++) {
      const s = await startServe(w, ['--db', w.path(`term-${i}.db`), '--config', w.path('meter.yaml')]);
      const r = await s.stop();
      assert.equal(r.code, 0, r.describe());
      assert.match(r.stderr, /meter serve: SIGTERM: finishing requests in flight/);
    }
  });

  test('without a token: loopback only, and said so', async () => {
    const r = await fetch(`${open.url}/api/v1/meters`);
    assert.equal(r.status, 200);
    assert.match(open.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  });
});

describe('routes and parameters', () => {
  const q = (path: string, headers: Record<string, string> = {}) => fetch(`${open.url}${path}`, { headers });

  test("GET /api/v1/meters: order and orderBy as OpenMeter's, its parameters checked (400)", async () => {
    const slugs = async (query: string) =>
      ((await (await q(`/api/v1/meters${query}`)).json()) as Array<{ slug: string }>).map((m) => m.slug);
    assert.deepEqual(await slugs(''), ['latency_max', 'requests', 'tokens_total']);
    assert.deepEqual(await slugs('?order=DESC'), ['tokens_total', 'requests', 'latency_max']);
    assert.deepEqual(await slugs('?orderBy=aggregation'), ['requests', 'latency_max', 'tokens_total']);
    assert.deepEqual(await slugs('?orderBy=aggregation&order=DESC&page=1&pageSize=1000&includeDeleted=false'), [
      'tokens_total',
      'latency_max',
      'requests',
    ]);
    await problem(await q('/api/v1/meters?order=bogus'), 400, /^parameter "order" in query has an error: value is not one of/);
    await problem(await q('/api/v1/meters?orderBy=slug'), 400, /^parameter "orderBy" in query has an error/);
    await problem(
      await q('/api/v1/meters?pageSize=5000'),
      400,
      'parameter "pageSize" in query has an error: must be a whole number from 1 to 1000',
    );
    await problem(await q('/api/v1/meters?page=abc'), 400, /^parameter "page" in query has an error/);
    await problem(await q('/api/v1/meters?includeDeleted=yes'), 400, /^parameter "includeDeleted" in query has an error/);
  });

  test("GET /api/v1/events: to and ingestedAtTo are inclusive (OpenMeter's code); ingestedAtTo before ingestedAtFrom is 400", async () => {
    const t = new Date(Date.now() - 86_400_000).toISOString().replace(/\.\d+Z$/, '.000Z');
    const at = { 'Content-Type': 'application/cloudevents+json' };
    assert.equal((await post(open, '/api/v1/events', JSON.stringify(ev({ id: 'at-to', time: t })), at)).status, 204);
    const ids = async (query: string) =>
      ((await (await q(`/api/v1/events?${query}`)).json()) as Array<{ event: { id: string } }>).map((e) => e.event.id);
    assert.deepEqual(await ids(`from=${t}&to=${t}&id=at-to`), ['at-to']);
    assert.deepEqual(await ids(`to=${t}&id=at-to`), ['at-to']);
    await problem(await q(`/api/v1/events?from=${t}&to=${new Date(Date.parse(t) - 1).toISOString()}`), 400, 'from must be before to');
    await problem(
      await q(`/api/v1/events?ingestedAtFrom=2026-12-07T15:00:00Z&ingestedAtTo=2026-12-07T14:00:00Z`),
      400,
      'ingestedAtTo date is before ingestedAtFrom date: 2026-12-07T14:00:00Z < 2026-12-07T15:00:00Z',
    );
  });

  test('unknown meter 404, malformed slug 400, unknown route 404, wrong method 405, meter changes 501', async () => {
    await problem(await q('/api/v1/meters/tokens_totl'), 404, 'meter not found: tokens_totl');
    await problem(await q('/api/v1/meters/tokens_totl/query'), 404, 'meter not found: tokens_totl');
    await problem(await q('/api/v1/meters/Tokens-Total/query'), 400, /meterIdOrSlug/);
    await problem(await q(`/api/v1/meters/${'a'.repeat(65)}`), 400, /meterIdOrSlug/);
    await problem(await q('/api/v1/meters/a__b'), 400, /meterIdOrSlug/);
    await problem(await q('/api/v1/nothing'), 404, 'no route for /api/v1/nothing');
    await problem(await fetch(`${open.url}/api/v1/meters/tokens_total/subjects`, { method: 'DELETE' }), 405);
    await problem(await post(open, '/api/v1/meters', '{}', { 'Content-Type': 'application/json' }), 501, /config file/);
    await problem(await fetch(`${open.url}/api/v1/meters/tokens_total`, { method: 'DELETE' }), 501, /config file/);
    await problem(await q('/api/v1/subjects/nobody'), 404, 'subject not found: nobody');
    // Parameters are checked before the meter is looked up, as OpenMeter's validator runs before its handler.
    await problem(await q('/api/v1/meters/tokens_totl/query?windowSize=hour'), 400, /windowSize/);
    await problem(await q('/api/v1/meters/tokens_totl/query?from=yesterday'), 400, /RFC 3339/);
    const badBody = JSON.stringify({ windowSize: 'hour' });
    await problem(await post(open, '/api/v1/meters/tokens_totl/query', badBody, { 'Content-Type': 'application/json' }), 400, /windowSize/);
    await problem(await q('/api/v1/meters/tokens_totl/subjects?from=bad'), 400, /RFC 3339/);
    await problem(await q('/api/v1/meters/tokens_totl/group-by/model/values?to=bad'), 400, /RFC 3339/);
  });

  test('query parameters: from/to rules, window sizes, zones, group-by keys, filters, a + in an offset', async () => {
    const base = '/api/v1/meters/tokens_total/query';
    await problem(await q(`${base}?from=2026-11-01T00:00:00Z&to=2026-11-01T00:00:00Z`), 400, 'from and to cannot be equal');
    await problem(await q(`${base}?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z`), 400, 'from must be before to');
    await problem(await q(`${base}?windowSize=WEEK`), 400, /windowSize/);
    await problem(await q(`${base}?windowSize=hour`), 400, /windowSize/);
    await problem(await q(`${base}?windowSize=DAY&windowTimeZone=Mars/Olympus`), 400, 'invalid time zone: Mars/Olympus');
    await problem(await q(`${base}?windowSize=DAY&windowTimeZone=europe/budapest`), 400, 'invalid time zone: europe/budapest');
    // Empty is UTC, as Go's time.LoadLocation("") reads it.
    assert.equal(await (await q(`${base}?windowSize=DAY&windowTimeZone=`)).text(), await (await q(`${base}?windowSize=DAY`)).text());
    // A POST query is JSON: another content type is refused (a page of another origin sends text/plain unasked).
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1']) {
      await problem(await post(open, base, '{}', { 'Content-Type': type }), 400, `invalid content type: ${type}`);
    }
    assert.equal((await post(open, base, '{}', { 'Content-Type': 'application/json; charset=utf-8' })).status, 200);
    await problem(await q(`${base}?groupBy=nope`), 400, 'invalid group by: nope');
    await problem(await q(`${base}?filterGroupBy[nope]=x`), 400, 'invalid filter group by: nope');
    // Keys that name members of every plain object are no group-by keys either: never a 500, never a filter dropped.
    for (const key of ['__proto__', 'constructor', 'toString']) {
      await problem(await q(`${base}?filterGroupBy[${key}]=x`), 400, `invalid filter group by: ${key}`);
      const adv = encodeURIComponent(JSON.stringify({ [key]: { $eq: 'x' } }));
      await problem(await q(`${base}?advancedMeterGroupByFilters=${adv}`), 400, `invalid filter group by: ${key}`);
      const body = `{"filterGroupBy":{${JSON.stringify(key)}:["x"]}}`;
      await problem(await post(open, base, body, { 'Content-Type': 'application/json' }), 400, `invalid filter group by: ${key}`);
    }
    await problem(await q(`${base}?from=2026-11-01T00:00:00+01:00`), 400, /%2B/);
    assert.equal((await q(`${base}?from=2026-11-01T00:00:00%2B01:00`)).status, 200);
    await problem(await q(`${base}?from=yesterday`), 400, /RFC 3339/);
    const literal = await (await q(`${base}?groupBy=model&filterGroupBy[type]=input`)).text();
    const encoded = await (await q(`${base}?groupBy=model&filterGroupBy%5Btype%5D=input`)).text();
    assert.equal(literal, encoded);
    assert.match(literal, /"groupBy":\{"model":"gpt-4o"\}/);
    assert.equal((await q(`${base}?clientId=${'c'.repeat(36)}`)).status, 200);
    // Characters, not UTF-16 units: 36 emoji fit.
    assert.equal((await q(`${base}?clientId=${encodeURIComponent('\u{1F600}'.repeat(36))}`)).status, 200);
    await problem(
      await q(`${base}?clientId=${'c'.repeat(37)}`),
      400,
      'parameter "clientId" in query has an error: must be 1 to 36 characters long',
    );
    const json = { 'Content-Type': 'application/json' };
    assert.equal((await post(open, base, JSON.stringify({ clientId: 'c'.repeat(36) }), json)).status, 200);
    for (const clientId of ['c'.repeat(37), ''])
      await problem(
        await post(open, base, JSON.stringify({ clientId }), json),
        400,
        'request body has an error: clientId: must be 1 to 36 characters long',
      );
    await problem(await q('/api/v1/events?limit=101'), 400, /limit/);
    await problem(await q('/api/v1/events?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z'), 400, 'from must be before to');
  });

  test('a query string that is not UTF-8 is 400 (never read as U+FFFD); a request the HTTP parser refuses gets a problem', async () => {
    await problem(
      await fetch(`${open.url}/api/v1/meters/tokens_total/query?subject=%FF`),
      400,
      /^malformed percent-encoding in the query string: subject=%FF$/,
    );
    await problem(await fetch(`${open.url}/api/v1/events?subject=%E2%82`), 400, /malformed percent-encoding/);
    const raw = (text: string) => rawExchange(open, text);
    // A request head of up to 1 MiB is read, as Go's server reads it: a GET query of 800 subjects (about 19 KB).
    const many = Array.from({ length: 800 }, (_, i) => `subject=customer-${String(i).padStart(6, '0')}`).join('&');
    const wide = await fetch(`${open.url}/api/v1/meters/tokens_total/query?${many}`);
    assert.equal(wide.status, 200);
    assert.deepEqual(await wide.json(), { data: [] });
    // The absolute form of a request target (which HTTP/1.1 servers must accept) names the same route.
    assert.match(await raw(`GET ${open.url}/api/v1/meters HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`), /^HTTP\/1.1 200 /);
    // A body announced past --max-body with Expect: 100-continue gets its 413 at once, never a 100 first.
    const big = await raw(
      'POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n',
    );
    assert.match(big, /^HTTP\/1.1 413 /);
    for (const [text, status] of [
      ['GET /\xff\x01 HTTP/1.1\r\n\r\n', 400],
      [`GET /api/v1/meters HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(1_100_000)}\r\n\r\n`, 431],
    ] as const) {
      const answer = await raw(text);
      assert.match(answer, new RegExp(`^HTTP/1.1 ${status} `));
      assert.match(answer, /\r\nContent-Type: application\/problem\+json\r\n/);
      assert.match(answer, new RegExp(`"status":${status}`));
    }
  });

  test('every method, expectation and request head gets a problem: 405 for an unknown method and CONNECT, 417, a missing Host, 415 for a compressed body', async () => {
    for (const [text, status, detail] of [
      ['FOO /api/v1/meters HTTP/1.1\r\nHost: x\r\n\r\n', 405, 'method not allowed'],
      ['CONNECT /api/v1/meters HTTP/1.1\r\nHost: x\r\n\r\n', 405, 'method not allowed'],
      [
        'GET /api/v1/meters HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nConnection: close\r\n\r\n',
        417,
        'Expect: 200-ok is not supported (only 100-continue)',
      ],
      ['GET /api/v1/meters HTTP/1.1\r\nConnection: close\r\n\r\n', 400, 'the request has no Host header (HTTP/1.1 requires one)'],
      [
        'POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc',
        415,
        'Content-Encoding gzip is not supported: send the body uncompressed',
      ],
    ] as const) {
      const answer = await rawExchange(open, text);
      assert.match(answer, new RegExp(`^HTTP/1.1 ${status} `), text);
      assert.match(answer, /\r\nContent-Type: application\/problem\+json\r\n/, text);
      assert.equal(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)).detail, detail, text);
    }
    // An HTTP/1.0 request needs no Host.
    assert.match(await rawExchange(open, 'GET /api/v1/meters HTTP/1.0\r\n\r\n'), /^HTTP\/1.1 200 /);
  });

  test("report parameters: a bad value names the HTTP parameter, never meter report's option", async () => {
    const bad = async (query: string, detail: string) => {
      const body = await problem(await q(`/api/v1/report?${query}`), 400, detail);
      assert.doesNotMatch(String(body.detail), /--/);
    };
    await bad('groupBy=nope', 'parameter "groupBy" in query has an error: "nope": no configured meter has this groupBy key');
    await bad('meter=requests&groupBy=type', 'parameter "groupBy" in query has an error: "type": meter requests has group-by keys model');
    await bad('window=weekly', 'parameter "window" in query has an error: "weekly": use minute, hour, day or month');
    await bad('period=2026-13', 'parameter "period" in query has an error: "2026-13": use a month as YYYY-MM (2026-11)');
    await bad(
      'from=yesterday&to=2026-12-01',
      'parameter "from" in query has an error: "yesterday": not a time; use RFC 3339 (2026-11-01T00:00:00Z), a date (2026-11-01, midnight in UTC) or a date and time without offset (2026-11-01T06:00, in UTC)',
    );
    await bad('period=2026-10&from=2026-10-01', 'period cannot be combined with from/to');
    await bad('from=2026-10-05&to=2026-10-01', 'from 2026-10-05 is not before to 2026-10-01 (from is inclusive, to is exclusive)');
  });

  test('CSV only when the whole Accept header is text/csv', async () => {
    const base = '/api/v1/meters/tokens_total/query?groupBy=subject&from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z';
    const csv = await q(base, { Accept: 'text/csv' });
    assert.equal(csv.headers.get('content-type'), 'text/csv');
    assert.match(await csv.text(), /^window_start,window_end,subject,value\n2026-11-01T00:00:00Z,2026-11-02T00:00:00Z,acme,\d+\.000000\n$/);
    assert.equal((await q(base, { Accept: 'text/csv; charset=utf-8' })).headers.get('content-type'), 'text/csv');
    assert.equal((await q(base, { Accept: 'text/csv, application/json' })).headers.get('content-type'), 'application/json');
    assert.equal((await q(base, { Accept: '*/*' })).headers.get('content-type'), 'application/json');
    // Go's mime.ParseMediaType, which OpenMeter's negotiation uses, takes one trailing semicolon.
    assert.equal((await q(base, { Accept: 'text/csv;' })).headers.get('content-type'), 'text/csv');
    assert.equal((await q(base, { Accept: 'text/csv;;' })).headers.get('content-type'), 'application/json');
  });
});

describe('requests pipelined on one connection', () => {
  test('are answered in order, one after the other: a query sent after an ingest sees its events', async () => {
    for (let i = 0; i < 3; i++) {
      const subject = `pipelined-${i}`;
      const answer = await rawExchange(
        open,
        rawBatch([ev({ id: subject, subject })]) +
          `GET /api/v1/meters/requests/query?subject=${subject} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      );
      assert.deepEqual(statusLines(answer), ['HTTP/1.1 204', 'HTTP/1.1 200']);
      assert.match(answer, new RegExp(`"data":\\[\\{"value":1,[^\\]]*"subject":"${subject}"`));
    }
  });

  test('bytes that are no request after an ingest: the ingest keeps its 204, then a 400 closes the connection', async () => {
    const answer = await rawExchange(open, `${rawBatch([ev({ id: 'before-garbage', subject: 'garbage' })])}\x01\x02 nonsense\r\n\r\n`);
    assert.deepEqual(statusLines(answer), ['HTTP/1.1 204', 'HTTP/1.1 400']);
    const r = await fetch(`${open.url}/api/v1/meters/requests/query?subject=garbage`);
    assert.equal(((await r.json()) as { data: { value: number }[] }).data[0]?.value, 1);
  });

  test('a client that half-closes after its pipelined requests gets every answer', async () => {
    const ids = Array.from({ length: 5 }, (_, i) => `half-${i}`);
    const answer = await new Promise<string>((resolve) => {
      const u = new URL(open.url);
      const s = net.connect(Number(u.port), u.hostname, () => s.end(ids.map((id) => rawBatch([ev({ id, subject: 'half' })])).join('')));
      let got = '';
      s.on('data', (d) => (got += d.toString('latin1')));
      s.on('close', () => resolve(got));
    });
    assert.deepEqual(statusLines(answer), Array(5).fill('HTTP/1.1 204'));
    const r = await fetch(`${open.url}/api/v1/meters/requests/query?subject=half`);
    assert.equal(((await r.json()) as { data: { value: number }[] }).data[0]?.value, 5);
  });

  test('a client that half-closes in the middle of a body gets one answer for it at once, never a second', async () => {
    const whole = rawBatch([ev({ id: 'cut-0', subject: 'cut' })]);
    const partial = rawBatch([ev({ id: 'cut-1', subject: 'cut' })]).slice(0, -10);
    const answer = await new Promise<string>((resolve) => {
      const u = new URL(open.url);
      const s = net.connect(Number(u.port), u.hostname, () => s.end(whole + partial));
      let got = '';
      s.on('data', (d) => (got += d.toString('latin1')));
      s.on('close', () => resolve(got));
    });
    assert.deepEqual(statusLines(answer), ['HTTP/1.1 204', 'HTTP/1.1 400']);
    assert.match(answer, /the request body ended before its length: the client closed the connection/);
  });

  test('a client that closes with requests still queued: SIGTERM then stops the server (exit 0)', { timeout: 60_000 }, async () => {
    for (const mode of ['close', 'reset'] as const) {
      const s = await startServe(w, ['--db', w.path(`queued-${mode}.db`), '--config', w.path('meter.yaml')]);
      const u = new URL(s.url);
      await new Promise<void>((resolve) => {
        const c = net.connect(Number(u.port), u.hostname, () => {
          c.write(Array.from({ length: 5 }, (_, i) => rawBatch([ev({ id: `q-${i}` })])).join(''));
          if (mode === 'reset') c.resetAndDestroy();
          else c.destroy();
          resolve();
        });
      });
      await new Promise((r) => setTimeout(r, 500));
      const stopped = await s.stop();
      assert.equal(stopped.code, 0, stopped.describe());
    }
  });

  test('SIGTERM while the first of three is committed: every one gets its 204, and all are stored', async () => {
    const s = await startServe(w, ['--db', w.path('pipelined-term.db'), '--config', w.path('meter.yaml'), '--max-body', String(16 << 20)]);
    const batch = (tag: string, n: number) => Array.from({ length: n }, (_, i) => ev({ id: `${tag}-${i}`, subject: tag }));
    const answered = rawExchange(s, rawBatch(batch('a', 20_000)) + rawBatch(batch('b', 5)) + rawBatch(batch('c', 5)));
    await new Promise((r) => setTimeout(r, 100));
    const stopped = await s.stop();
    assert.equal(stopped.code, 0, stopped.describe());
    assert.deepEqual(statusLines(await answered), ['HTTP/1.1 204', 'HTTP/1.1 204', 'HTTP/1.1 204'], stopped.describe());
    const counted = w.run([
      'query',
      '--db',
      w.path('pipelined-term.db'),
      '--config',
      w.path('meter.yaml'),
      '-m',
      'requests',
      '--all-subjects',
      '--format',
      'json',
    ]);
    assert.equal((JSON.parse(counted.stdout) as { data: { value: number }[] }).data[0]?.value, 20_010, counted.describe());
  });
});

describe('portal tokens', () => {
  test('a token answers for its subject only, whatever subject is asked, on its meters only; forged ones are 401', async () => {
    const h = { 'Content-Type': 'application/json' };
    await post(
      open,
      '/api/v1/events',
      JSON.stringify([
        ev({ id: 'p1', subject: 'alice' }),
        ev({ id: 'p2', subject: 'bob', data: { tokens: 7, model: 'o3', type: 'input' } }),
      ]),
      h,
    );
    const created = await post(open, '/api/v1/portal/tokens', JSON.stringify({ subject: 'bob', allowedMeterSlugs: ['tokens_total'] }), h);
    assert.equal(created.status, 200);
    const { token, subject } = (await created.json()) as { token: string; subject: string };
    assert.equal(subject, 'bob');
    const auth = { Authorization: `Bearer ${token}` };
    const r = await fetch(`${open.url}/api/v1/portal/meters/tokens_total/query?subject=alice&groupBy=subject`, { headers: auth });
    assert.equal(r.status, 200);
    const rows = ((await r.json()) as { data: Array<{ subject: string; value: number }> }).data;
    assert.deepEqual(
      rows.map((x) => [x.subject, x.value]),
      [['bob', 7]],
    );
    assert.equal(r.headers.get('access-control-allow-origin'), '*', 'a usage page on another origin may call it');
    const pre = await fetch(`${open.url}/api/v1/portal/meters/tokens_total/query`, { method: 'OPTIONS' });
    assert.equal(pre.status, 204);
    assert.match(pre.headers.get('access-control-allow-headers') ?? '', /Authorization/);
    assert.equal(
      (await fetch(`${open.url}/api/v1/meters`)).headers.get('access-control-allow-origin'),
      null,
      'the admin API stays same-origin',
    );
    // Issuing tokens is an admin route: never readable from another origin, and never reached by a form or a
    // text/plain request that a page of another origin can send without a preflight.
    const fromPage = await post(open, '/api/v1/portal/tokens', JSON.stringify({ subject: 'bob' }), {
      'Content-Type': 'text/plain',
      Origin: 'https://evil.example',
    });
    await problem(fromPage, 400, 'invalid content type: text/plain');
    assert.equal(fromPage.headers.get('access-control-allow-origin'), null);
    const issued = await post(open, '/api/v1/portal/tokens', JSON.stringify({ subject: 'bob' }), { ...h, Origin: 'https://evil.example' });
    assert.equal(issued.status, 200);
    assert.equal(issued.headers.get('access-control-allow-origin'), null, 'another origin cannot read a token it asked for');
    const notAllowed = 'this portal token does not allow meter requests';
    await problem(await fetch(`${open.url}/api/v1/portal/meters/requests/query`, { headers: auth }), 403, notAllowed);
    // The report of the usage page answers the same, whether that meter is asked for alone or with an allowed one.
    await problem(await fetch(`${open.url}/api/v1/portal/report?meter=requests`, { headers: auth }), 403, notAllowed);
    await problem(await fetch(`${open.url}/api/v1/portal/report?meter=tokens_total&meter=requests`, { headers: auth }), 403, notAllowed);
    assert.equal((await fetch(`${open.url}/api/v1/portal/report?meter=tokens_total`, { headers: auth })).status, 200);
    await problem(
      await fetch(`${open.url}/api/v1/portal/report?groupBy=subject`, { headers: auth }),
      400,
      'parameter "groupBy" in query has an error: "subject": meter tokens_total has group-by keys model, type',
    );
    await problem(await fetch(`${open.url}/api/v1/portal/meters/tokens_total/query`), 401);
    // A token that allows no meter shows none, on the report as on the query route (never every meter).
    const none = await post(open, '/api/v1/portal/tokens', JSON.stringify({ subject: 'bob', allowedMeterSlugs: [] }), h);
    const noMeters = { Authorization: `Bearer ${((await none.json()) as { token: string }).token}` };
    await problem(await fetch(`${open.url}/api/v1/portal/meters/tokens_total/query`, { headers: noMeters }), 403);
    await problem(await fetch(`${open.url}/api/v1/portal/report`, { headers: noMeters }), 403, 'this portal token allows no meter');
    await problem(await fetch(`${open.url}/api/v1/portal/report?meter=tokens_total`, { headers: noMeters }), 403);
    const forged = token.replace(/\.(.)/, (_m, c: string) => `.${c === 'A' ? 'B' : 'A'}`);
    await problem(
      await fetch(`${open.url}/api/v1/portal/meters/tokens_total/query`, { headers: { Authorization: `Bearer ${forged}` } }),
      401,
    );
    await problem(
      await post(open, '/api/v1/portal/tokens', JSON.stringify({ subject: 'bob', expiresAt: '2020-01-01T00:00:00Z' }), h),
      400,
      /expiresAt/,
    );
    // expiresAt is a field of the body, and an error says so (not "in query").
    const expiring = async (expiresAt: unknown) => post(open, '/api/v1/portal/tokens', JSON.stringify({ subject: 'bob', expiresAt }), h);
    await problem(await expiring(1893456000), 400, 'request body has an error: expiresAt: must be an RFC 3339 time (a string)');
    await problem(await expiring('tomorrow'), 400, 'request body has an error: expiresAt: "tomorrow" is not an RFC 3339 time');
    // The key is in a file: a token issued before a restart still works after it.
    const again = await startServe(w, ['--db', w.path('open.db'), '--config', w.path('meter.yaml')]);
    try {
      const r2 = await fetch(`${again.url}/api/v1/portal/meters/tokens_total/query`, { headers: auth });
      assert.equal(r2.status, 200);
    } finally {
      await again.stop();
    }
  });

  test('deleting the key file revokes the tokens of the running server; tokens issued afterwards survive a restart', async () => {
    const h = { 'Content-Type': 'application/json' };
    const mint = async () => {
      const r = await post(open, '/api/v1/portal/tokens', JSON.stringify({ subject: 'bob' }), h);
      assert.equal(r.status, 200);
      return { Authorization: `Bearer ${((await r.json()) as { token: string }).token}` };
    };
    const query = (base: Served, headers: Record<string, string>) =>
      fetch(`${base.url}/api/v1/portal/meters/tokens_total/query`, { headers });
    const old = await mint();
    assert.equal((await query(open, old)).status, 200);
    const keyFile = `${w.path('open.db')}.portal-key`;
    fs.rmSync(keyFile);
    await problem(await query(open, old), 401);
    const fresh = await mint();
    assert.equal((await query(open, fresh)).status, 200);
    assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
    const again = await startServe(w, ['--db', w.path('open.db'), '--config', w.path('meter.yaml')]);
    try {
      assert.equal((await query(again, fresh)).status, 200);
      await problem(await query(again, old), 401);
    } finally {
      await again.stop();
    }
  });

  test('a key file that holds fewer than 32 bytes of key: serve does not start (exit 2), names the file, and leaves it as it is', async () => {
    // An empty file (made by touch, or by config management) would be an empty HMAC key: anyone could sign tokens.
    for (const text of ['', 'hello\n']) {
      w.write('weak.key', text);
      const { child, done } = w.spawn([
        'serve',
        '--port',
        '0',
        '--db',
        w.path('weak.db'),
        '--config',
        w.path('meter.yaml'),
        '--portal-key',
        w.path('weak.key'),
      ]);
      // A server that starts anyway is stopped, so that the test fails instead of waiting forever.
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const r = await done;
      clearTimeout(timer);
      assert.equal(r.code, 2, r.describe());
      assert.ok(r.stderr.includes(`--portal-key ${w.path('weak.key')}: holds`), r.describe());
      assert.match(r.stderr, /fewer than the 32 a portal token needs, so anyone could forge portal tokens\. Delete the file/);
      assert.equal(w.read('weak.key'), text);
    }
  });
});
