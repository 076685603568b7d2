/**
 * `meter ingest --map openai` and `meter map` on a generated corpus of every OpenAI shape: exact per-customer,
 * per-model totals of each token kind, skips by reason, re-ingests that add nothing, and hostile records that are
 * rejected with a reason while the run goes on. The seed is printed on every failure (SEED=... reruns it).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { csvRows, ROOT, workdirs, type RunResult } from './helpers.js';
import { generate, KINDS, type Kind } from './openai-corpus.js';

const SEED = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));
const workdir = workdirs();
const METERS = path.join(ROOT, 'examples', 'openai-meters.yaml');
const BATCH_FLAGS = ['--subject-path', '$.custom_id', '--subject-pattern', '^(cust_[^:]+):'];

function ok(r: RunResult, codes = [0]): string {
  assert.ok(codes.includes(r.code ?? -1), `seed ${SEED}: ${r.describe()}`);
  return r.stdout;
}

interface Summary {
  read: number;
  inserted: number;
  duplicates: number;
  conflicts: number;
  rejected: number;
  skipped: Record<string, number>;
  unbilledStreams: number;
}

describe(`ingest --map openai (seed ${SEED})`, () => {
  const c = generate(SEED, 1500);
  const w = workdir('openai-map');
  w.write('log.ndjson', c.log);
  w.writeGzip('batch.jsonl.gz', c.batch);
  w.write('relogged.ndjson', c.relogged);
  const ingest = (file: string, extra: string[] = []): Summary =>
    JSON.parse(ok(w.run(['ingest', '--db', 'm.db', '--map', 'openai', '--json', '-q', ...extra, file]), [0, 3])) as Summary;
  /** Per `subject|model`, the totals of every token kind, read back with `meter query`. */
  const stored = () => {
    const out = new Map<string, Record<Kind, number>>();
    for (const kind of KINDS) {
      // The example meters name the meter of all input tokens apart, so that no price file bills it as uncached input.
      const slug = kind === 'input_tokens' ? 'all_input_tokens' : kind;
      const rows = csvRows(ok(w.run(['query', '--db', 'm.db', '--config', METERS, '-m', slug, '-g', 'model', '--format', 'csv'])));
      assert.deepEqual(rows[0], ['window_start', 'window_end', 'subject', 'model', 'value']);
      for (const [, , subject, model, value] of rows.slice(1)) {
        const key = `${subject}|${model}`;
        const t = out.get(key) ?? ({} as Record<Kind, number>);
        t[kind] = (t[kind] ?? 0) + Number(value);
        out.set(key, t);
      }
    }
    return out;
  };
  const expected = () => new Map([...c.totals].map(([k, t]) => [k, { ...t }]));
  const batchEvents = c.batch.length - (c.skipped.batch_error ?? 0) - (c.skipped.batch_non_200 ?? 0);

  test('every shape counts once, exactly, per customer and model; skips are counted by reason', () => {
    const a = ingest('log.ndjson');
    const logSkips = Object.fromEntries(Object.entries(c.skipped).filter(([r]) => !r.startsWith('batch_')));
    assert.deepEqual(a.skipped, logSkips, `seed ${SEED}`);
    assert.equal(a.unbilledStreams, c.unbilledStreams, `seed ${SEED}`);
    assert.equal(a.rejected, c.rejected, `seed ${SEED}`);
    assert.equal(a.inserted, c.events - batchEvents, `seed ${SEED}`);
    assert.equal(a.read, a.inserted + a.rejected + Object.values(a.skipped).reduce((x, y) => x + y, 0));
    const b = ingest('batch.jsonl.gz', BATCH_FLAGS);
    assert.equal(b.inserted, batchEvents, `seed ${SEED}`);
    assert.equal(b.rejected, 0, `seed ${SEED}`);
    assert.deepEqual(b.skipped, Object.fromEntries(Object.entries(c.skipped).filter(([r]) => r.startsWith('batch_'))));
    assert.deepEqual(stored(), expected(), `seed ${SEED}`);
  });

  test('re-ingesting the corpus, or a second log of the same responses, adds nothing', () => {
    const again = ingest('log.ndjson');
    assert.equal(again.inserted, 0, `seed ${SEED}`);
    assert.equal(again.duplicates, c.events - batchEvents, `seed ${SEED}: ${JSON.stringify(again)}`);
    assert.equal(ingest('batch.jsonl.gz', BATCH_FLAGS).inserted, 0);
    const relogged = ingest('relogged.ndjson');
    assert.equal(relogged.inserted, 0, `seed ${SEED}: relogged responses were stored twice`);
    assert.equal(relogged.rejected, 0, `seed ${SEED}`);
    assert.equal(relogged.duplicates, c.relogged.length, `seed ${SEED}: ${JSON.stringify(relogged)}`);
    assert.equal(relogged.conflicts, 0, `seed ${SEED}: the same responses mapped to other content`);
    assert.deepEqual(stored(), expected(), `seed ${SEED}`);
  });

  test('meter map prints the same events as NDJSON, with the same skip counts', () => {
    const r = w.run(['map', '--map', 'openai', '--json', 'log.ndjson']);
    ok(r, [0, 3]);
    const events = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; source: string; data: Record<string, unknown> });
    assert.equal(events.length, c.events - batchEvents);
    assert.ok(events.every((e) => e.type === 'openai' && e.source === 'openai'));
    const sum = events.reduce((a, e) => a + (e.data.total_tokens as number), 0);
    const want = [...c.totals.values()].reduce((a, t) => a + t.total_tokens, 0);
    const batchTotal = c.batch
      .map((l) => JSON.parse(l) as { response?: { body?: { usage?: { total_tokens?: number } } } })
      .reduce((a, l) => a + (l.response?.body?.usage?.total_tokens ?? 0), 0);
    assert.equal(sum, want - batchTotal, `seed ${SEED}`);
    const summary = JSON.parse(r.stderr.trim().split('\n').pop()!) as { skipped: Record<string, number>; unbilledStreams: number };
    assert.equal(summary.unbilledStreams, c.unbilledStreams);
  });
});

describe("the README's example log, meters and prices", () => {
  test('invoice every token kind once: cached input at its own price, never inside input too', () => {
    const w = workdir('openai-invoice');
    ok(w.run(['ingest', '--db', 'm.db', '--map', 'openai', '-q', path.join(ROOT, 'examples', 'openai-responses.ndjson')]), [0]);
    const invoice = (prices: string) =>
      w.run([
        'invoice',
        '--db',
        'm.db',
        '--config',
        METERS,
        '--prices',
        path.join(ROOT, 'examples', prices),
        '--period',
        '2026-11',
        '--format',
        'csv',
      ]);
    const rows = csvRows(ok(invoice('openai-prices.yaml'), [0]));
    const acme = rows.filter((r) => r[0] === 'acme').map((r) => [r[3], r[4], r[7], r[10]]);
    assert.deepEqual(acme, [
      ['uncached_input_tokens', 'model=gpt-5.4-2026-03-05;batch=false', '1728', '0.00432'],
      ['cached_input_tokens', 'model=gpt-5.4-2026-03-05;batch=false', '3072', '0.000768'],
      ['output_tokens', 'model=gpt-5.4-2026-03-05;batch=false', '1180', '0.0177'],
    ]);
    // The price file of the CloudEvents example prices input_tokens: with these meters it stops at start.
    const wrong = invoice('prices.yaml');
    assert.equal(wrong.code, 2, wrong.describe());
    assert.match(wrong.stderr, /meter: "input_tokens" is not a meter of the config/);
  });
});

describe('the openai event contract', () => {
  const w = workdir('openai-contract');
  const map = (records: unknown[], extra: string[] = []) => {
    w.write(
      'in.ndjson',
      records.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))),
    );
    const r = w.run(['map', '--map', 'openai', ...extra, 'in.ndjson']);
    return {
      r,
      events:
        r.stdout === ''
          ? []
          : r.stdout
              .trimEnd()
              .split('\n')
              .map((l) => JSON.parse(l) as Record<string, unknown>),
    };
  };

  test('a chat completion: id, time, subject, every data field in order', () => {
    const { r, events } = map([
      '{"id":"chatcmpl-B9MBs8","object":"chat.completion","created":1741569952,"model":"gpt-5.4","customer_id":"acme",' +
        '"usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":3},' +
        '"completion_tokens_details":{"reasoning_tokens":4}},"service_tier":"default"}',
    ]);
    assert.equal(r.code, 0, r.describe());
    assert.equal(
      r.stdout,
      '{"specversion":"1.0","id":"chatcmpl-B9MBs8","source":"openai","type":"openai","subject":"acme","time":"2025-03-10T01:25:52Z",' +
        '"data":{"model":"gpt-5.4","api":"chat.completions","input_tokens":19,"cached_input_tokens":3,"uncached_input_tokens":16,' +
        '"output_tokens":10,"reasoning_tokens":4,"total_tokens":29,"tokens":29,"service_tier":"default","batch":false}}\n',
    );
    assert.equal(events.length, 1);
  });

  test('--source, --subject-path and --subject-pattern', () => {
    const line = {
      id: 'batch_req_1',
      custom_id: 'cust_42:row_9',
      response: {
        status_code: 200,
        request_id: 'req_1',
        body: {
          id: 'chatcmpl-1',
          object: 'chat.completion',
          created: 1711652795,
          model: 'gpt-3.5-turbo-0125',
          usage: { prompt_tokens: 22, completion_tokens: 2, total_tokens: 24 },
        },
      },
      error: null,
    };
    const { r, events } = map([line], ['--source', 'openai://org-x', ...BATCH_FLAGS]);
    assert.equal(r.code, 0, r.describe());
    assert.equal(events[0]!.id, 'chatcmpl-1');
    assert.equal(events[0]!.source, 'openai://org-x');
    assert.equal(events[0]!.subject, 'cust_42');
    assert.equal((events[0]!.data as Record<string, unknown>).batch, true);
    const miss = map([{ ...line, custom_id: 'row_9' }], BATCH_FLAGS);
    assert.equal(miss.r.code, 3);
    assert.match(miss.r.stderr, /in\.ndjson:1: subject: "row_9" does not match the subject pattern/);
    const bad = w.run(['map', '--map', 'openai', '--subject-pattern', 'cust_\\d+', 'in.ndjson']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--subject-pattern: needs a capture group/);
    assert.equal(w.run(['map', '--map', 'openai', '--subject-path', 'custom_id', 'in.ndjson']).code, 2);
    assert.equal(w.run(['ingest', '--subject-path', '$.x', 'in.ndjson']).code, 2);
  });

  test('a log record whose error is empty (null, false, "", {}, []) is billed; one with an error is skipped', () => {
    const response = (n: number) => ({
      id: `chatcmpl-E${n}`,
      object: 'chat.completion',
      created: 1793527952,
      model: 'gpt-4o',
      usage: { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500 },
    });
    const empty = [null, false, '', {}, []];
    const errors = ['timeout', { message: 'rate limited' }, ['x'], true, 0];
    const { r, events } = map([
      ...empty.map((error, n) => ({ customer_id: 'acme', error, request: { model: 'gpt-4o' }, response: response(n) })),
      ...errors.map((error, n) => ({ customer_id: 'acme', error, request: { model: 'gpt-4o' }, response: response(10 + n) })),
      {
        id: 'batch_req_1',
        custom_id: 'acme',
        customer_id: 'acme',
        error: {},
        response: { status_code: 200, request_id: 'req_1', body: response(20) },
      },
    ]);
    assert.equal(r.code, 0, r.describe());
    assert.deepEqual(
      events.map((e) => e.id),
      ['chatcmpl-E0', 'chatcmpl-E1', 'chatcmpl-E2', 'chatcmpl-E3', 'chatcmpl-E4', 'chatcmpl-E20'],
    );
    assert.match(r.stderr, /skipped 5 record\(s\) without usage: error_response 5/);
  });

  test('a log record with a type or object of its own is unwrapped', () => {
    const response = {
      id: 'chatcmpl-T1',
      object: 'chat.completion',
      created: 1793527952,
      model: 'gpt-4o',
      usage: { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500 },
    };
    const wrap = (own: Record<string, unknown>, n: number) => ({
      ...own,
      customer_id: 'acme',
      request: { model: 'gpt-4o' },
      response: { ...response, id: `chatcmpl-T${n}` },
    });
    const { r, events } = map([
      wrap({ type: 'llm_call' }, 1),
      wrap({ object: 'log_entry' }, 2),
      wrap({ type: 'llm_call', object: 'log_entry' }, 3),
      { type: 'llm_call', customer_id: 'acme', request: { model: 'gpt-4o' }, error: { message: 'rate limited' } },
      { object: 'log_entry', customer_id: 'acme', request: { model: 'gpt-4o' } },
      // A type or object of its own that names a response (or a Responses stream event) is still the log's.
      wrap({ type: 'response.received' }, 6),
      wrap({ object: 'response' }, 7),
      wrap({ object: 'chat.completion' }, 8),
      wrap({ object: 'list' }, 9),
      // A custom_id of the log's own does not make it a Batch API line (that has response.status_code and body).
      wrap({ custom_id: 'job-7' }, 10),
    ]);
    assert.equal(r.code, 3, r.describe());
    assert.deepEqual(
      events.map((e) => [e.id, e.subject, (e.data as Record<string, unknown>).input_tokens, (e.data as Record<string, unknown>).batch]),
      [1, 2, 3, 6, 7, 8, 9, 10].map((n) => [`chatcmpl-T${n}`, 'acme', 1000, false]),
    );
    assert.match(r.stderr, /error_response 1/);
    assert.match(r.stderr, /in\.ndjson:5: log record without a response/);
  });

  test('a numeric time with a long fraction is cut to the millisecond; a date string under a numeric format names its fault', () => {
    const rec = (id: string, created: string) =>
      `{"id":"chatcmpl-${id}","object":"chat.completion","created":${created},"model":"m","customer_id":"a","usage":{"prompt_tokens":1,"completion_tokens":1}}`;
    const { r, events } = map([
      rec('f1', '1741569952.000000000000000000001'),
      rec('f2', '1e-30'),
      rec('f3', '-1e-30'),
      rec('f4', '12345678901234567890123'),
      rec('f5', '"2016-12-31T23:59:60Z"'),
    ]);
    assert.equal(r.code, 3, r.describe());
    assert.deepEqual(
      events.map((e) => e.time),
      ['2025-03-10T01:25:52Z', '1970-01-01T00:00:00Z', '1969-12-31T23:59:59.999Z'],
    );
    assert.match(r.stderr, /in\.ndjson:4: time: 12345678901234567890123 is out of range/);
    assert.match(r.stderr, /in\.ndjson:5: time: "2016-12-31T23:59:60Z" has second 60/);
  });

  test('a Responses stream cut off before its last event is reported as unbilled; one that ended is not; its error event is skipped', () => {
    const event = (type: string, id: string, usage = 'null') =>
      `{"type":"${type}","sequence_number":0,"response":{"id":"${id}","object":"response","created_at":1741476542,"status":"in_progress","model":"m","output":[],"usage":${usage},"metadata":{"customer_id":"acme"}}}`;
    const done = '{"input_tokens":3,"output_tokens":4,"total_tokens":7}';
    const { r } = map(
      [
        event('response.created', 'resp_cut'),
        '{"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_1","delta":"Hel"}',
        event('response.completed', 'resp_done', done), // its last event comes first in this log
        event('response.created', 'resp_done'),
        event('response.created', 'resp_failed'),
        '{"type":"error","code":"server_error","message":"The server had an error","param":null,"sequence_number":2}',
        event('response.failed', 'resp_failed'),
      ],
      ['--json'],
    );
    assert.equal(r.code, 0, r.describe());
    const summary = JSON.parse(r.stderr.trim().split('\n').at(-1)!) as {
      mapped: number;
      unbilledStreams: number;
      skipped: Record<string, number>;
    };
    assert.equal(summary.skipped.error_response, 1, r.describe());
    assert.equal(summary.mapped, 1);
    assert.equal(summary.unbilledStreams, 1);
    // The warning says why, for either API.
    const plain = map([event('response.created', 'resp_cut')]).r;
    assert.equal(plain.code, 0, plain.describe());
    assert.match(
      plain.stderr,
      /warning: 1 stream\(s\) ended without their usage and cannot be billed \(.*a Responses stream, in its last event/,
    );
  });

  test('not billed: a Responses object still queued or in progress (even with usage), a model that is empty, details that are no object', () => {
    const resp = (id: string, status: string, output: number) =>
      `{"id":"${id}","object":"response","created_at":1741476542,"status":"${status}","model":"m","output":[],"usage":{"input_tokens":1,"output_tokens":${output},"total_tokens":${1 + output}},"metadata":{"customer_id":"acme"}}`;
    const chat = (id: string, model: string, usage: string) =>
      `{"id":"${id}","object":"chat.completion","created":1741476542,"model":"${model}","customer_id":"acme","choices":[],"usage":${usage}}`;
    const { r, events } = map(
      [
        resp('resp_1', 'in_progress', 10),
        resp('resp_1', 'completed', 900),
        resp('resp_2', 'queued', 5),
        chat('chatcmpl-empty', '', '{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}'),
        chat(
          'chatcmpl-arr',
          'm',
          '{"prompt_tokens":1000,"completion_tokens":1,"total_tokens":1001,"prompt_tokens_details":[{"cached_tokens":900}]}',
        ),
        chat('chatcmpl-str', 'm', '{"prompt_tokens":1000,"completion_tokens":1,"total_tokens":1001,"prompt_tokens_details":"900"}'),
      ],
      ['--json'],
    );
    assert.equal(r.code, 3, r.describe());
    assert.deepEqual(
      events.map((e) => [e.id, (e.data as { output_tokens: number }).output_tokens]),
      [['resp_1', 900]],
    );
    const summary = JSON.parse(r.stderr.trim().split('\n').at(-1)!) as { skipped: Record<string, number> };
    assert.equal(summary.skipped.response_not_completed, 2);
    assert.match(r.stderr, /in\.ndjson:4: data\.model: empty \(\$\.model\)/);
    assert.match(r.stderr, /in\.ndjson:5: \$\.usage\.prompt_tokens_details: must be an object, got an array/);
    assert.match(r.stderr, /in\.ndjson:6: \$\.usage\.prompt_tokens_details: must be an object, got a string/);
  });

  test('a whole count in another spelling (1e2, 100.0) is that count, in canonical form', () => {
    const { r, events } = map([
      '{"id":"chatcmpl-s1","object":"chat.completion","created":1741569952.0,"model":"m","customer_id":"a","usage":{"prompt_tokens":1e2,"completion_tokens":100.0,"total_tokens":2.00e2}}',
    ]);
    assert.equal(r.code, 0, r.describe());
    assert.match(
      r.stdout,
      /"time":"2025-03-10T01:25:52Z","data":\{"model":"m","api":"chat.completions","input_tokens":100,"cached_input_tokens":0,"uncached_input_tokens":100,"output_tokens":100,"reasoning_tokens":0,"total_tokens":200,"tokens":200,"batch":false\}\}/,
    );
    assert.equal(events.length, 1);
  });

  test('a record that gives a member the map reads twice is rejected, naming it; others may repeat', () => {
    const head = '{"id":"chatcmpl-D1","object":"chat.completion","created":1793527952,"model":"m",';
    const { r, events } = map([
      head + '"customer_id":"acme","customer_id":"globex","usage":{"prompt_tokens":10,"completion_tokens":5}}',
      head +
        '"customer_id":"acme","usage":{"prompt_tokens":10,"completion_tokens":5},"usage":{"prompt_tokens":1000,"completion_tokens":5}}',
      head + '"customer_id":"acme","usage":{"prompt_tokens":10,"completion_tokens":5,"prompt_tokens":1000}}',
      head + '"customer_id":"acme","customer\\u005fid":"globex","usage":{"prompt_tokens":10,"completion_tokens":5}}',
      '{"customer_id":"acme","request":{"user":"a","user":"b"},"response":' + head + '"usage":{"prompt_tokens":1,"completion_tokens":1}}}',
      head + '"customer_id":"acme","choices":[],"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5,"x":1,"x":2}}',
    ]);
    assert.equal(r.code, 3, r.describe());
    const rejects = r.stderr.split('\n').filter((l) => l.startsWith('in.ndjson:'));
    assert.deepEqual(rejects, [
      'in.ndjson:1: $.customer_id: given twice in the record (which one is meant is not a guess to make)',
      'in.ndjson:2: $.usage: given twice in the record (which one is meant is not a guess to make)',
      'in.ndjson:3: $.usage.prompt_tokens: given twice in the record (which one is meant is not a guess to make)',
      'in.ndjson:4: $.customer_id: given twice in the record (which one is meant is not a guess to make)',
      'in.ndjson:5: $.request.user: given twice in the record (which one is meant is not a guess to make)',
    ]);
    assert.deepEqual(
      events.map((e) => [e.subject, (e.data as Record<string, unknown>).input_tokens]),
      [['acme', 10]],
    );
  });

  test('hostile records are rejected with reasons and never stop the run', () => {
    const chat = (usage: unknown, over: Record<string, unknown> = {}) => ({
      id: `chatcmpl-${Math.random()}`,
      object: 'chat.completion',
      created: 1741569952,
      model: 'gpt-5.4',
      customer_id: 'acme',
      usage,
      ...over,
    });
    let deep = '1';
    for (let i = 0; i < 5000; i++) deep = `{"a":${deep}}`;
    const hostile: Array<[unknown, RegExp]> = [
      [
        chat({ prompt_tokens: '19', completion_tokens: 1, total_tokens: 20 }),
        /input_tokens: \$\.usage\.prompt_tokens must be a non-negative whole number, got a string \("19"\)/,
      ],
      [chat({ prompt_tokens: -5, completion_tokens: 1, total_tokens: 20 }), /prompt_tokens must be a non-negative whole number, got -5/],
      [
        '{"id":"chatcmpl-big","object":"chat.completion","created":1741569952,"model":"m","customer_id":"a","usage":{"prompt_tokens":1152921504606846976,"completion_tokens":1}}',
        /got 1152921504606846976, over 2\^53-1/,
      ],
      [chat({ prompt_tokens: 1.5, completion_tokens: 1 }), /got 1\.5/],
      // JSON.parse makes 10, 0 and 9007199254740991 of these literals: refused, never rounded.
      [
        '{"id":"chatcmpl-f1","object":"chat.completion","created":1741569952,"model":"m","customer_id":"a","usage":{"prompt_tokens":10.0000000000000001,"completion_tokens":1}}',
        /prompt_tokens must be a non-negative whole number, got 10\.0000000000000001$/,
      ],
      [
        '{"id":"chatcmpl-f2","object":"chat.completion","created":1741569952,"model":"m","customer_id":"a","usage":{"prompt_tokens":10,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":1e-400}}}',
        /cached_tokens must be a non-negative whole number, got 1e-400$/,
      ],
      [
        '{"id":"chatcmpl-f3","object":"chat.completion","created":1741569952,"model":"m","customer_id":"a","usage":{"prompt_tokens":9007199254740991.4,"completion_tokens":0}}',
        /prompt_tokens must be a non-negative whole number, got 9007199254740991\.4$/,
      ],
      [chat({ prompt_tokens: 10, completion_tokens: 1 }, { model: undefined }), /model: missing/],
      [
        chat({ prompt_tokens: 10, completion_tokens: 1, prompt_tokens_details: { cached_tokens: 11 } }),
        /cached tokens \(11\) exceed input tokens \(10\)/,
      ],
      [chat({ prompt_tokens: 10, completion_tokens: 1 }, { customer_id: undefined }), /subject: missing/],
      [
        chat({ prompt_tokens: 10, completion_tokens: 1 }, { created: 'yesterday' }),
        /time: must be a number of seconds since 1970, got a string/,
      ],
      [chat({ prompt_tokens: 10, completion_tokens: 1 }, { created: 1e15 }), /time: 1000000000000000 is out of range/],
      [chat('lots'), /usage: must be an object, got a string/],
      [chat({ prompt_tokens: 10, completion_tokens: 1 }, { customer_id: { nested: true } }), /subject: must be a string, got an object/],
      [{ request: { model: 'gpt-5.4', user: 'acme' } }, /log record without a response/],
      [{ customer_id: 'a', response: 'HTTP 200 {...}' }, /response: must be a JSON object, got a string/],
      [{ object: 'thread.run', id: 'run_1' }, /not an OpenAI response: object "thread.run"/],
      [{ hello: 'world' }, /not an OpenAI response: no "object" field/],
      [42, /a record must be a JSON object/],
      [`{"customer_id":"a","response":${deep}}`, /not an OpenAI response/],
      [chat({ prompt_tokens: 10, completion_tokens: 1 }, { customer_id: 'bad\u0000' }), /subject: contains a NUL character/],
      ['{"id":"x", "object":', /invalid JSON/],
    ];
    const good = chat({ prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 }, { id: 'chatcmpl-good' });
    const records = [...hostile.map(([rec]) => rec), good];
    w.write(
      'hostile.ndjson',
      records.map((rec) => (typeof rec === 'string' ? rec : JSON.stringify(rec))),
    );
    const r = w.run(['ingest', '--db', 'h.db', '--map', 'openai', '--json', '--rejects', 'rejects.ndjson', 'hostile.ndjson']);
    assert.equal(r.code, 3, r.describe());
    const s = JSON.parse(r.stdout) as Summary;
    assert.equal(s.inserted, 1);
    assert.equal(s.rejected, hostile.length);
    const rejects = w
      .read('rejects.ndjson')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { file: string; line: number; error: string });
    hostile.forEach(([, reason], i) => {
      assert.equal(rejects[i]!.file, 'hostile.ndjson');
      assert.equal(rejects[i]!.line, i + 1);
      assert.match(rejects[i]!.error, reason, `line ${i + 1}: ${rejects[i]!.error}`);
    });
  });

  test('embeddings count only with a wrapper id; a wrapper time is taken', () => {
    const body = {
      object: 'list',
      data: [{ object: 'embedding', embedding: [0.1], index: 0 }],
      model: 'text-embedding-3-small',
      usage: { prompt_tokens: 8, total_tokens: 8 },
    };
    const { r, events } = map([body, { request_id: 'req_9', ts: '2026-03-01T10:00:00Z', customer_id: 'acme', response: body }]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /in\.ndjson:1: embeddings response without an id/);
    assert.deepEqual(events, [
      {
        specversion: '1.0',
        id: 'req_9',
        source: 'openai',
        type: 'openai',
        subject: 'acme',
        time: '2026-03-01T10:00:00Z',
        data: {
          model: 'text-embedding-3-small',
          api: 'embeddings',
          input_tokens: 8,
          cached_input_tokens: 0,
          uncached_input_tokens: 8,
          output_tokens: 0,
          reasoning_tokens: 0,
          total_tokens: 8,
          tokens: 8,
          batch: false,
        },
      },
    ]);
  });
});
