/**
 * The fast path of `--map` (RecordMapper.mapText: sparse-json.ts reads the record, mappedEvent makes the event)
 * against the generic path (JSON.parse, map, buildEvent, validateCloudEvent): on generated records of every shape
 * and on hostile respellings of them, both must give the same events, rejects (with the same reasons) and skips.
 * Seeded: METER_SEED=N makes a failing run again.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { UsageEvent } from '../src/core/event.js';
import { createMapper, type MapChoice } from '../src/core/maps/index.js';
import type { Meter } from '../src/core/meter.js';
import { sparseParse } from '../src/core/sparse-json.js';
import { EventParser, type ParseSink } from '../src/ingest/parse.js';
import type { InputItem } from '../src/input/items.js';
import { Rng, runSeed } from './gen.js';
import { generate } from './openai-corpus.js';

const SEED = runSeed();
process.stderr.write(`map-fast.test seed ${SEED} (METER_SEED=${SEED} repeats it)\n`);

const METER: Meter = { slug: 'tokens', eventType: 'openai', aggregation: 'SUM', valueProperty: '$.total_tokens', groupBy: [] };

/** Runs both paths over the same lines; returns what each made. */
function both(choice: MapChoice, lines: string[], meters: Meter[]) {
  const run = (fast: boolean) => {
    const mapper = createMapper(choice);
    if (!fast) delete mapper.mapText;
    const parser = new EventParser({ requireTime: false, nowMs: 1_700_000_000_000, fingerprints: true }, meters, mapper);
    const events: UsageEvent[] = [];
    const sink: ParseSink = { rejects: [], read: 0, skipped: {}, add: (e) => void events.push(e) };
    const items: InputItem[] = lines.map((text, i) => ({ line: i + 1, index: null, text }));
    parser.parse('in.ndjson', items, sink);
    // The parsed data is kept only for meters to check: without meters it is not compared.
    if (meters.length === 0) for (const e of events) delete e.dataValue;
    return { events, rejects: sink.rejects, read: sink.read, skipped: sink.skipped, finish: mapper.finish() };
  };
  return { fast: run(true), generic: run(false) };
}

/** Both paths agree on `lines`; a disagreement is reported for the first line that disagrees on its own. */
function assertSame(choice: MapChoice, lines: string[], what: string): void {
  for (const meters of [[], [METER]]) {
    const { fast, generic } = both(choice, lines, meters);
    try {
      assert.deepEqual(fast, generic);
    } catch (e) {
      for (const line of lines) {
        const one = both(choice, [line], meters);
        assert.deepEqual(one.fast, one.generic, `seed ${SEED}, ${what}, ${meters.length} meters: ${JSON.stringify(line).slice(0, 2000)}`);
      }
      throw e;
    }
  }
}

/** Respellings and damage a record can come with; each keeps the text a string that some reader may meet. */
const HOSTILE: Array<(t: string, r: Rng) => string> = [
  (t) => t.replace(/([,:{[])/g, '$1 ').replace(/([}\]])/g, ' $1'), // spaces between tokens
  (t) => t.replace(/,/g, ',\t').replace(/:/g, ':\n'), // tabs and newlines as whitespace
  (t) => `  ${t}  `,
  (t) => `\ufeff${t}`,
  (t) => `${t} x`,
  (t) => `${t}}`,
  (t) => `[${t}]`,
  (t, r) => t.slice(0, r.int(0, t.length - 1)), // cut off
  (t, r) => {
    const at = r.int(0, t.length - 1);
    return (
      t.slice(0, at) +
      r.pick(['{', '}', '[', ']', ':', ',', '"', '\\', ' ', '0', '-', '.', 'e', 'x', '\t', '\u0001', '\u00e9']) +
      t.slice(at + 1)
    );
  },
  (t, r) => {
    const at = r.int(0, t.length);
    return t.slice(0, at) + r.pick(['{', '}', '"', '\\', ',', '1', 'null', '\\u0000', '\n']) + t.slice(at);
  },
  // Members given twice: a record is rejected when the map reads them, escaped or not, at any level.
  (t, r) =>
    t.replace(
      /^\{/,
      `{"${r.pick(['usage', 'customer_id', 'object', 'id', 'created', 'model', 'response', 'request', 'custom_id', 'user', 'error'])}":${r.pick(['1', '"x"', 'null', '{}', '{"prompt_tokens":5}', '[]'])},`,
    ),
  (t, r) =>
    t.replace(
      /\}$/,
      `,"${r.pick(['usage', 'customer_id', 'object', 'id', 'created', 'model', 'response', 'service_tier'])}":${r.pick(['2', '"y"', 'null', '{"prompt_tokens":1,"completion_tokens":1}', 'true'])}}`,
    ),
  (t) => t.replace(/"usage":\{/, '"usage":{"prompt_tokens":3,'),
  (t, r) =>
    t.replace(/^\{/, `{"${r.pick(['customer\\u005fid', 'us\\u0061ge', '\\u006fbject', 'choices', 'x'])}":${r.pick(['"zz"', '{}', '7'])},`),
  (t) => t.replace(/"response":\{/, '"response":{"id":"dup",'),
  // Escaped keys and values.
  (t) => t.replace('"id":', '"\\u0069d":'),
  (t) => t.replace('"usage":', '"us\\u0061ge":'),
  (t, r) =>
    t.replace(
      /"(customer_id|user|id|model|service_tier)":"/,
      `"$1":"${r.pick(['\\n', '\\"', '\\\\', '\\u00e9', '\\ud800', '\\u0000', '\\udc00x', '\\ud83d\\ude00', '\\/', '\\x'])}`,
    ),
  (t, r) =>
    t.replace(
      /"(customer_id|model|id)":"[^"]*"/,
      `"$1":${r.pick(['""', 'null', '42', '-1', '1.5', '9007199254740993', 'true', '{}', '["a"]'])}`,
    ),
  // Numbers as JSON may spell them, and as it may not.
  (t, r) =>
    t.replace(
      /"(prompt_tokens|completion_tokens|total_tokens|cached_tokens|reasoning_tokens|input_tokens|output_tokens|created|created_at)":\d+/,
      (_m, k: string) =>
        `"${k}":${r.pick(['1e3', '1.0', '-0', '0.0', '1152921504606846976', '"12"', '12.5', '01', '1.', '-', '+1', '1e', '1E+2', '2.5e-1', '9007199254740991', '9007199254740992', '-5', 'null', '[]', '{}', '253402300799', '253402300800', '-62167219200', '-62167219201', '10.0000000000000001', '1e-400', '9007199254740991.4', '9007199254740991.0', '100.00', '1793527952.9999999999999999', '1e400'])}`,
    ),
  // Deep values the map does not read, and deep ones it does.
  (t, r) => {
    const n = r.pick([5, 63, 64, 65, 200, 3000]);
    return t.replace(/\}$/, `,"deep":${'['.repeat(n)}${']'.repeat(n)}}`);
  },
  (t, r) => {
    const n = r.pick([5, 70, 3000]);
    return t.replace(/"usage":/, `"deep":${'{"a":'.repeat(n)}1${'}'.repeat(n)},"usage":`);
  },
  (t) => t.replace(/^\{/, '{"__proto__":{"object":"chat.completion","customer_id":"p"},'),
  (t) => t.replace(/"usage":\{/, '"usage":{"__proto__":{"prompt_tokens":1},'),
  (t) => t.replace(/"choices":\[/, '"choices":[{"a":"\\"}\\\\","b":[1,2.5e3,true,false,null,{}]},'),
  (t) => t.replace(/\}$/, ',"junk":"a\tb"}'),
  (t) => t.replace(/\}$/, ',"junk":"\\q"}'),
  (t) => t.replace(/\}$/, ',"junk":"\\u12g4"}'),
  (t) => t.replace(/\}$/, ',"junk":tru}'),
  (t) => t.replace(/\}$/, ',"junk":[1,]}'),
  (t) => t.replace(/\}$/, ',"junk":{"a":1,}}'),
  (t) => t.replace(/\}$/, ',"junk":{"a" 1}}'),
  (t) => t.replace(/\}$/, ',"junk":[}'),
  (t) => t.replace(/\}$/, ',"junk":"\u2028"}'),
];

describe('the fast path of --map gives what the generic path gives', () => {
  test('openai: generated records of every shape, then hostile respellings of them', () => {
    const rng = new Rng(SEED);
    const c = generate(SEED, 400);
    const lines = [...c.log, ...c.batch, ...c.relogged];
    assertSame({ name: 'openai' }, lines, 'corpus');
    // The comparison means something only if the fast path takes the records: it gives up on none of these.
    const mapper = createMapper({ name: 'openai' });
    assert.equal(lines.filter((l) => mapper.mapText!(l) === null).length, 0, `seed ${SEED}`);
    const hostile: string[] = [];
    for (let i = 0; i < 4000; i++) {
      let t = rng.pick(lines);
      for (let k = rng.int(1, 3); k > 0; k--) t = rng.pick(HOSTILE)(t, rng);
      hostile.push(t);
    }
    // In chunks (streams' chunks tie lines together), each checked line by line when it disagrees.
    for (let i = 0; i < hostile.length; i += 50) assertSame({ name: 'openai' }, hostile.slice(i, i + 50), 'hostile');
  });

  test('openai with --subject-path, --subject-pattern and --source', () => {
    const c = generate(SEED ^ 1, 200);
    assertSame(
      { name: 'openai', subjectPath: '$.custom_id', subjectPattern: '^(cust_[0-9]+):', source: 'openai://x' },
      c.batch,
      'batch with custom_id',
    );
    assertSame({ name: 'openai', subjectPath: '$.response.body.usage' }, c.batch, 'an object as subject');
    assertSame({ name: 'openai', subjectPath: '$.__proto__' }, c.log, 'a __proto__ path');
    assertSame({ name: 'openai', subjectPath: '$.choices[0].index' }, c.log, 'an array index in the path');
    // A path that reads inside what the sparse reader builds whole (with JSON.parse, unchecked) has no fast path.
    assert.equal(createMapper({ name: 'openai', subjectPath: '$.choices[0].index' }).mapText, undefined);
    assert.equal(createMapper({ name: 'openai', subjectPath: '$.response.body.usage' }).mapText, undefined);
    assert.notEqual(createMapper({ name: 'openai', subjectPath: '$.custom_id' }).mapText, undefined);
  });

  test('the sparse reader refuses what JSON.parse refuses, and builds what JSON.parse builds', () => {
    const rng = new Rng(SEED ^ 2);
    const wanted = new Map([
      ['a', null],
      ['b', new Map([['c', null]])],
    ]);
    const texts = [
      '{}',
      '{"a":1}',
      '{"a":[1,{"x":2}],"b":{"c":"\\u00e9","d":3}}',
      '{"b":{}}',
      '{"a":"x\\"y"}',
      '{"a":-0.5e-3}',
      '{ "a" : true , "b" : { "c" : null } }',
    ];
    for (let i = 0; i < 3000; i++) {
      let t = rng.pick(texts);
      for (let k = rng.int(1, 3); k > 0; k--) t = rng.pick(HOSTILE)(t, rng);
      texts.push(t);
    }
    for (const t of texts) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(t);
      } catch {
        parsed = undefined;
      }
      const sparse = sparseParse(t, wanted);
      if (parsed === undefined) assert.equal(sparse, null, `seed ${SEED}: ${JSON.stringify(t)} is invalid JSON`);
      else if (sparse !== null) {
        const p = parsed as Record<string, Record<string, unknown>>;
        const expected: Record<string, unknown> = {};
        if ('a' in p) expected.a = p.a;
        if ('b' in p) expected.b = p.b !== null && typeof p.b === 'object' && !Array.isArray(p.b) ? ('c' in p.b ? { c: p.b.c } : {}) : p.b;
        assert.deepEqual(sparse, expected, `seed ${SEED}: ${JSON.stringify(t)}`);
      }
    }
  });
});
