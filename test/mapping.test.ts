/**
 * The mapping model (src/core/mapping.ts): validation that lists every problem, exact numbers cut from the
 * record's text, time formats; the built-in litellm map; and `--map FILE` through the CLI.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { valueTextAt } from '../src/core/json.js';
import { applyMapping, buildEvent, literalProblems, mappingMapper } from '../src/core/mapping.js';
import { compileMapping } from '../src/core/mapping-spec.js';
import { parseYaml } from '../src/core/yaml.js';
import { createMapper } from '../src/core/maps/index.js';
import { ConfigError } from '../src/errors.js';
import { workdirs } from './helpers.js';

const workdir = workdirs();

function problems(spec: unknown, o = {}): string[] {
  try {
    compileMapping(spec, 'm.yaml', o, literalProblems);
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    assert.match(e.message, /^invalid mapping m\.yaml:/);
    return e.problems;
  }
  return [];
}

function mapOne(spec: unknown, text: string) {
  return mappingMapper(compileMapping(spec, 'm.yaml')).map(JSON.parse(text), text);
}

const SPEC = {
  id: '$.rid',
  time: { path: ['$.ts', '$.when'], timeFormat: 'unix_ms' },
  subject: ['$.customer', '$.user.id'],
  source: 'gateway',
  type: 'llm',
  data: {
    model: { path: '$.m', as: 'string', required: true },
    tokens: { path: '$.n', as: 'count', default: 0 },
    cost: { path: '$.cost', as: 'number' },
    raw: '$.extra',
  },
};

describe('mapping validation', () => {
  test('a good spec compiles', () => assert.deepEqual(problems(SPEC), []));

  test('every problem is listed, each naming its field', () => {
    assert.deepEqual(
      problems({
        id: 'rid', // a literal: the same id for every record
        time: { path: '$.ts', timeFormat: 'iso' },
        subject: ['$.a', 'b.c'],
        type: { path: '$.t', value: 'x' },
        data: { n: { path: '$.n', as: 'integer' }, m: { path: '$..x' }, k: { value: { a: 1 } }, z: { paht: '$.z' }, q: null },
        extra: 1,
      }),
      [
        'extra: unknown (expected id, time, subject, source, type, data)',
        'id: the literal "rid" would give records the same id, and dedupe would keep one of them; write a JSON path ($.request_id)',
        'time.timeFormat: "iso" is not one of rfc3339, unix, unix_ms',
        'subject: "b.c" is not a $.a.b style JSON path',
        'source: missing (or give --source)',
        'type: give either path or value, not both',
        'data.n.as: "integer" is not one of any, string, number, count, boolean',
        'data.m: "$..x" is not a $.a.b style JSON path (write {value: ...} for a literal starting with $)',
        'data.k.value: must be a string, number or boolean',
        'data.z.paht: unknown (expected path, value, default, as, required, timeFormat, pattern)',
        'data.z: needs a path or a value',
        'data.q: must be a JSON path, a list of paths, a literal or a mapping with path/value',
      ],
    );
    assert.deepEqual(problems([]), ['must be a mapping with id, subject, type and data']);
    assert.deepEqual(problems({ id: '$.a', subject: { path: '$.s', pattern: 'no-group' }, type: 't', source: 's' }), [
      'subject.pattern: needs a capture group, e.g. ^(cust_[0-9]+):',
    ]);
    assert.deepEqual(problems({ id: '$.a', subject: '$.s', type: 't' }, { source: 'cli' }), []);
    // A default no record can mend is refused as its literal would be; so are rules no event could take.
    const base = { id: '$.a', subject: '$.s', type: 't', source: 's' };
    assert.deepEqual(problems({ ...base, time: { path: '$.t', default: 'yesterday' } }), [
      'time: "yesterday" is not an RFC 3339 date-time (e.g. 2026-11-28T10:15:00.123Z) (the default)',
    ]);
    assert.deepEqual(problems({ ...base, subject: { path: '$.s', default: '' }, type: { path: '$.t', default: '' } }), [
      'subject: the default is empty',
      'type: the default is empty',
    ]);
    assert.deepEqual(problems({ ...base, subject: { value: 'zzz', pattern: '^(c_[0-9]+)' } }), [
      'subject: the literal "zzz" does not match the subject pattern /^(c_[0-9]+)/ with a non-empty capture',
    ]);
    assert.deepEqual(problems({ ...base, subject: { value: 'c_', pattern: '^c_([0-9]*)' } }), [
      'subject: the literal "c_" does not match the subject pattern /^c_([0-9]*)/ with a non-empty capture',
    ]);
    assert.deepEqual(problems({ ...base, data: { model: { path: '$.m', as: 'string', required: true, default: '' } } }), [
      'data.model: the default is empty, and the field is required',
    ]);
    assert.deepEqual(problems({ ...base, id: { path: '$.a', required: false } }), ['id.required: an id is always required']);
    assert.deepEqual(problems({ ...base, id: { path: '$.a', as: 'count' } }), ['id.as: id is text (as: string)']);
    // A YAML tag the parser does not know is refused with its line, never passed over with a warning of its own.
    assert.throws(() => parseYaml('id: !foo $.rid\n'), /Unresolved tag: !foo at line 1, column 5/);
    // A default id is the same for every record without one.
    assert.deepEqual(problems({ id: { path: '$.a', default: 'x' }, subject: '$.s', type: 't', source: 's' }), [
      'id: the default "x" would give records the same id, and dedupe would keep one of them; write a JSON path ($.request_id)',
    ]);
  });
});

describe('defaults and literals', () => {
  const spec = (data: Record<string, unknown>) => ({ id: '$.rid', subject: '$.tenant', source: 'gw', type: 'llm', data });

  test('a default or a literal that its `as` refuses makes the mapping invalid, each listed', () => {
    assert.deepEqual(
      problems(
        spec({
          input_tokens: { path: '$.in', as: 'count', default: -1 },
          output_tokens: { path: '$.out', as: 'count', default: 'lots' },
          half: { path: '$.h', as: 'count', default: 0.5 },
          huge: { path: '$.h', as: 'count', default: 2 ** 53 },
          flag: { path: '$.flag', as: 'boolean', default: 3 },
          fixed: { value: -5, as: 'count' },
          name: { value: 5, as: 'string' },
          cost: { path: '$.c', as: 'number', default: 'abc' },
          on: { path: '$.o', as: 'number', default: true },
        }),
      ),
      [
        'data.input_tokens.default: -1 is not a non-negative whole number up to 2^53-1 (as: count)',
        'data.output_tokens.default: "lots" is not a non-negative whole number up to 2^53-1 (as: count)',
        'data.half.default: 0.5 is not a non-negative whole number up to 2^53-1 (as: count)',
        'data.huge.default: 9007199254740992 is not a non-negative whole number up to 2^53-1 (as: count)',
        'data.flag.default: 3 is not true or false (as: boolean)',
        'data.fixed.value: -5 is not a non-negative whole number up to 2^53-1 (as: count)',
        'data.name.value: 5 is not a string (as: string)',
        'data.cost.default: "abc" is not a number (as: number)',
        'data.on.default: true is not a number (as: number)',
      ],
    );
  });

  test('defaults and literals that fit are emitted as their `as` gives them', () => {
    const m = spec({
      n: { path: '$.n', as: 'count', default: 0 },
      cost: { path: '$.c', as: 'number', default: '0.30000000000000004444' },
      big: { value: 1e21, as: 'number' },
      flag: { path: '$.f', as: 'boolean', default: false },
      any: { path: '$.a', default: 'x' },
    });
    assert.deepEqual(problems(m), []);
    const r = mapOne(m, '{"rid":"r","tenant":"t"}');
    assert.ok(r.kind === 'event');
    assert.match(r.text, /"data":\{"n":0,"cost":0\.30000000000000004444,"big":1000000000000000000000,"flag":false,"any":"x"\}\}$/);
  });
});

describe('mapping a record', () => {
  test('numbers stay exact: cut from the record text, never through a double', () => {
    const r = mapOne(
      SPEC,
      '{"rid":"r1","ts":1714564800123,"customer":"acme","m":"gpt","n":12,"cost":0.30000000000000004444,"extra":{"big":12345678901234567890,"d":1.10}}',
    );
    assert.equal(r.kind, 'event');
    assert.equal(
      r.kind === 'event' && r.text,
      '{"specversion":"1.0","id":"r1","source":"gateway","type":"llm","subject":"acme","time":"2024-05-01T12:00:00.123Z",' +
        '"data":{"model":"gpt","tokens":12,"cost":0.30000000000000004444,"raw":{"big":12345678901234567890,"d":1.10}}}',
    );
  });

  test('the literal decides, never its double: counts are whole as written, numbers keep every digit', () => {
    const spec = {
      id: '$.rid',
      time: { path: '$.t', timeFormat: 'unix' },
      subject: '$.customer',
      source: 's',
      type: 't',
      data: { n: { path: '$.n', as: 'count' }, cost: { path: '$.c', as: 'number' }, raw: '$.r', second: { path: '$.l[1].n', as: 'count' } },
    };
    const map = (fields: string) => {
      const r = mapOne(spec, `{"rid":"a","t":1793527952,"customer":"acme",${fields}}`);
      return r.kind === 'event' ? r.text.slice(r.text.indexOf('"data":') + 7, -1) : r.kind === 'reject' ? r.error : r.kind;
    };
    // JSON.parse makes 10, 0 and 9007199254740991 of these: each is refused, not rounded.
    assert.equal(map('"n":10.0000000000000001'), 'data.n: $.n must be a non-negative whole number, got 10.0000000000000001');
    assert.equal(map('"n":1e-400'), 'data.n: $.n must be a non-negative whole number, got 1e-400');
    assert.equal(map('"n":9007199254740991.4'), 'data.n: $.n must be a non-negative whole number, got 9007199254740991.4');
    assert.equal(map('"n":-0.0000000000000000001'), 'data.n: $.n must be a non-negative whole number, got -0.0000000000000000001');
    // A whole number in another spelling is that number, in canonical form.
    assert.equal(map('"n":1e2'), '{"n":100}');
    assert.equal(map('"n":100.0'), '{"n":100}');
    assert.equal(map('"n":9007199254740991.0'), '{"n":9007199254740991}');
    assert.equal(map('"n":-0'), '{"n":0}');
    // Numbers (and numbers as any) keep every digit as plain ingest writes them, past 2^53 too.
    assert.equal(map('"c":2.00000000000000001,"r":1e-5'), '{"cost":2.00000000000000001,"raw":0.00001}');
    assert.equal(map('"c":1e-30'), '{"cost":0.000000000000000000000000000001}');
    assert.equal(
      map('"c":12345678901234567890.0,"r":1.2345678901234567891e19'),
      '{"cost":12345678901234567890,"raw":12345678901234567891}',
    );
    // The same on a record whose numbers are all integers (the double is taken as it is there), or whose other
    // numbers are not; inside an array too.
    assert.equal(map('"n":7,"c":9007199254740993'), '{"n":7,"cost":9007199254740993}');
    assert.equal(map('"n":7,"x":1.0,"c":9007199254740993.0'), '{"n":7,"cost":9007199254740993}');
    assert.equal(map('"l":[{"n":1.5},{"n":2e1}]'), '{"second":20}');
    assert.equal(
      map('"l":[{"n":1},{"n":2.0000000000000001}]'),
      'data.second: $.l[1].n must be a non-negative whole number, got 2.0000000000000001',
    );
    const at = (t: string, customer = '"acme"') => {
      const r = mapOne(spec, `{"rid":"a","t":${t},"customer":${customer}}`);
      return r.kind === 'event' ? `${r.value.time} ${r.value.subject}` : r.kind === 'reject' ? r.error : r.kind;
    };
    assert.equal(at('1793527952.9999999999999999'), '2026-11-01T10:12:32.999Z acme');
    assert.equal(at('1793527952.0'), '2026-11-01T10:12:32Z acme');
    assert.equal(at('1793527952', '1e2'), '2026-11-01T10:12:32Z 100');
    assert.equal(at('1793527952', '10.0000000000000001'), 'subject: must be a string, got 10.0000000000000001');
  });

  test('a record that gives a member the mapping reads twice is rejected, naming it', () => {
    const spec = { ...SPEC, subject: ['$.customer', '$.user.id'], data: { ...SPEC.data, first: '$.list[0].n' } };
    const rec = (fields: string) => mapOne(spec, `{"rid":"r","ts":1,"m":"x",${fields}}`);
    const twice = (path: string) => ({
      kind: 'reject',
      error: `${path}: given twice in the record (which one is meant is not a guess to make)`,
    });
    assert.deepEqual(rec('"customer":"acme","customer":"globex"'), twice('$.customer'));
    assert.deepEqual(rec('"customer":"acme","cust\\u006fmer":"globex"'), twice('$.customer'));
    assert.deepEqual(rec('"user":{"id":"a"},"user":{"id":"b"}'), twice('$.user'));
    assert.deepEqual(rec('"user":{"id":"a","id":"b"}'), twice('$.user.id'));
    assert.deepEqual(rec('"customer":"c","list":[{"n":1,"n":2}]'), twice('$.list[0].n'));
    assert.deepEqual(rec('"customer":"c","n":1,"n":null'), twice('$.n'));
    // Members no path reads may come twice: they are never read.
    assert.equal(rec('"customer":"c","other":1,"other":2,"user":{"name":"a","name":"b"},"list":[{},{"n":1,"n":2}]').kind, 'event');
    assert.equal(rec('"customer":"c","extra":{"a":1,"a":2}').kind, 'event');
    const litellm = createMapper({ name: 'litellm' });
    const l = '{"request_id":"l1","startTime":1,"end_user":"a","model":"m","prompt_tokens":1,"status":"failure","status":"success"}';
    assert.deepEqual(litellm.map(JSON.parse(l), l), twice('$.status'));
  });

  test('fallbacks, defaults, null as absent, and every problem of a record', () => {
    const r = mapOne(SPEC, '{"rid":"r2","when":"2026-01-01T00:00:00+01:00","customer":null,"user":{"id":42},"m":"x","n":null}');
    assert.ok(r.kind === 'event');
    assert.equal(r.value.subject, '42');
    assert.equal(r.value.time, '2026-01-01T00:00:00+01:00');
    assert.deepEqual(r.value.data, { model: 'x', tokens: 0 });
    const bad = mapOne(SPEC, '{"ts":"soon","customer":"a","n":-1,"cost":"abc"}');
    assert.deepEqual(bad, {
      kind: 'reject',
      error:
        'id: missing ($.rid); time: must be a number of milliseconds since 1970, got a string ("soon"); data.model: missing ($.m); ' +
        'data.tokens: $.n must be a non-negative whole number, got -1; data.cost: $.cost must be a number, got a string ("abc")',
    });
  });

  test('time formats: unix seconds with a fraction are truncated to the millisecond, exactly', () => {
    const m = compileMapping({ ...SPEC, time: { path: '$.t', timeFormat: 'unix' } }, 'm.yaml');
    const at = (t: string) => {
      const text = `{"rid":"a","customer":"c","m":"x","t":${t}}`;
      const f = applyMapping(m, JSON.parse(text), text);
      return 'problems' in f ? f.problems[0] : f.time;
    };
    assert.equal(at('1714564800.1239999'), '2024-05-01T12:00:00.123Z');
    assert.equal(at('1714564800'), '2024-05-01T12:00:00Z');
    assert.equal(at('"1714564800"'), '2024-05-01T12:00:00Z');
    assert.equal(at('"2024-05-01T12:00:00Z"'), '2024-05-01T12:00:00Z');
    assert.match(at('1e300')!, /out of range/);
    assert.match(at('true')!, /must be a number of seconds/);
  });

  test('valueTextAt cuts a literal by path (last of duplicate keys, as JSON.parse)', () => {
    const t = ' { "a" : [ 1 , {"b":0.10, "b" : 2.50e0 } ], "c\\u0041": -0.0 } ';
    assert.equal(valueTextAt(t, ['a', 1, 'b']), '2.50e0');
    assert.equal(valueTextAt(t, ['cA']), '-0.0');
    assert.equal(valueTextAt(t, ['a']), '[ 1 , {"b":0.10, "b" : 2.50e0 } ]');
    assert.equal(valueTextAt(t, ['a', 2]), undefined);
    assert.equal(valueTextAt(t, ['x']), undefined);
  });

  test('buildEvent keeps data order and escapes strings', () => {
    const e = buildEvent({
      id: 'i"1',
      source: 's',
      type: 't',
      subject: 'ü',
      data: [
        ['b', '1', 1],
        ['a', '"x"', 'x'],
      ],
    });
    assert.equal(e.text, '{"specversion":"1.0","id":"i\\"1","source":"s","type":"t","subject":"ü","data":{"b":1,"a":"x"}}');
    assert.deepEqual(JSON.parse(e.text), e.value);
  });
});

describe('the openai map: subjects, streams, inherited members', () => {
  const usage = '"usage":{"input_tokens":1,"output_tokens":2,"total_tokens":3}';
  /** A Responses object echoing `echo` (JSON members), bare, in a response.completed event and in a log record. */
  const logged = (echo: string) => {
    const r = `{"id":"resp_U","object":"response","created_at":1793527952,"status":"completed","model":"m",${usage},${echo}}`;
    return [r, `{"type":"response.completed","response":${r}}`, `{"request":{"model":"m"},"response":${r}}`];
  };
  /** The subject of each record, through the generic path (map) and the fast one (mapText). */
  const subjects = (records: string[]) =>
    records.flatMap((text) => {
      const m = createMapper({ name: 'openai' });
      return [m.map(JSON.parse(text), text), m.mapText!(text)].map((r) =>
        r?.kind === 'event' ? r.value.subject : r?.kind === 'canonical' ? r.event.subject : r?.kind,
      );
    });

  test('a Responses object gives the same subject however it was logged: its echoed user comes last', () => {
    assert.deepEqual(
      new Set(subjects(logged('"user":"u1","metadata":{"customer_id":"acme"},"safety_identifier":"sid"'))),
      new Set(['acme']),
    );
    assert.deepEqual(new Set(subjects(logged('"user":"u1","safety_identifier":"sid"'))), new Set(['sid']));
    assert.deepEqual(new Set(subjects(logged('"user":"u1"'))), new Set(['u1']));
    // A chat completion echoes no user: a `user` a logger wrote beside it is the record's own, before the request's.
    const chat = `{"id":"chatcmpl-1","object":"chat.completion","created":1793527952,"model":"m","user":"own","request":{"user":"req"},"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`;
    assert.deepEqual(new Set(subjects([chat])), new Set(['own']));
  });

  test('a stream whose usage chunk came is not unbilled, whether that chunk mapped or was rejected', () => {
    const chunk = (id: string, rest: string) =>
      `{"id":"${id}","object":"chat.completion.chunk","created":1793527952,"model":"m","choices":[]${rest}}`;
    const records = [
      chunk('S1', ',"usage":null'),
      chunk('S1', ',"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}'), // no subject: rejected
      chunk('S2', ',"usage":null'),
      chunk('S2', ',"customer_id":"a","usage":{"prompt_tokens":9,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":10}}'),
      chunk('S3', ',"usage":null'),
      chunk('S3', ',"customer_id":"a","usage":"many"'), // usage not an object: rejected
      chunk('S4', ',"usage":null'), // never got its usage chunk
      chunk('S5', ',"customer_id":"a","usage":{"prompt_tokens":9,"completion_tokens":1}'),
      chunk('S5', ',"usage":null'), // a chunk after the usage chunk
    ];
    for (const fast of [false, true]) {
      const m = createMapper({ name: 'openai' });
      const kinds = records.map(
        (text) => (fast ? (m.mapText!(text) ?? m.map(JSON.parse(text), text)) : m.map(JSON.parse(text), text)).kind,
      );
      assert.deepEqual(kinds, ['skip', 'reject', 'skip', 'reject', 'skip', 'reject', 'skip', fast ? 'canonical' : 'event', 'skip']);
      assert.deepEqual(m.finish!(), { unbilledStreams: 1 }, fast ? 'mapText' : 'map');
    }
  });

  test("a path to a member every object inherits (constructor, toString) finds only the record's own", () => {
    const spec = {
      id: '$.id',
      subject: '$.s',
      source: 'g',
      type: 't',
      data: { a: '$.constructor', b: { path: '$.toString', as: 'number' }, c: '$.__proto__' },
    };
    const r = mapOne(spec, '{"id":"a","s":"x"}');
    assert.ok(r.kind === 'event', JSON.stringify(r));
    assert.deepEqual(r.value.data, {});
    const own = mapOne(spec, '{"id":"b","s":"x","constructor":"c","toString":2,"__proto__":3}');
    assert.ok(own.kind === 'event');
    assert.equal(own.text.slice(own.text.indexOf('"data"')), '"data":{"a":"c","b":2,"c":3}}');
    const text = `{"id":"chatcmpl-1","object":"chat.completion","created":1793527952,"model":"m","usage":{"prompt_tokens":1,"completion_tokens":2}}`;
    const r2 = createMapper({ name: 'openai', subjectPath: '$.constructor' }).map(JSON.parse(text), text);
    assert.deepEqual(r2, { kind: 'reject', error: 'subject: missing ($.constructor)' });
  });
});

describe('the litellm map', () => {
  const map = (rec: string) => createMapper({ name: 'litellm' }).map(JSON.parse(rec), rec);
  test('spend logs: id, start time, end user then user, exact spend as cost', () => {
    const r = map(
      '{"request_id":"chatcmpl-1","call_type":"acompletion","spend":0.000123456789012345678,"total_tokens":30,"prompt_tokens":20,"completion_tokens":10,"startTime":"2026-02-01T10:00:00.5Z","model":"gpt-4o","user":"u1","end_user":"","status":"success"}',
    );
    assert.ok(r.kind === 'event');
    assert.equal(
      r.text,
      '{"specversion":"1.0","id":"chatcmpl-1","source":"litellm","type":"litellm","subject":"u1","time":"2026-02-01T10:00:00.5Z",' +
        '"data":{"model":"gpt-4o","api":"acompletion","input_tokens":20,"output_tokens":10,"total_tokens":30,"tokens":30,"cost":0.000123456789012345678}}',
    );
  });
  test('standard logging payload: float epoch start time, response_cost, failures skipped', () => {
    const r = map(
      '{"id":"x1","startTime":1714564800.25,"end_user":"cust","model":"m","prompt_tokens":5,"completion_tokens":1,"response_cost":1.5e-7,"status":"success"}',
    );
    assert.ok(r.kind === 'event');
    assert.equal(r.value.time, '2024-05-01T12:00:00.250Z');
    assert.match(r.text, /"total_tokens":6,"tokens":6,"cost":0\.00000015\}/);
    const exact = map('{"id":"x4","startTime":1714564800,"end_user":"c","model":"m","prompt_tokens":5,"spend":3.0000000000000000001}');
    assert.ok(exact.kind === 'event');
    assert.match(exact.text, /"cost":3\.0000000000000000001\}/);
    assert.deepEqual(map('{"id":"x2","status":"failure","model":"m"}'), { kind: 'skip', reason: 'failure' });
    assert.deepEqual(map('{"id":"x3","startTime":1,"user":"u","model":"m","prompt_tokens":1,"spend":-0.5}'), {
      kind: 'reject',
      error: 'cost: spend -0.5 is negative',
    });
  });
});

describe('--map FILE through the CLI', () => {
  test('a mapping file maps, stores exact values, and an invalid one lists every problem (exit 2)', () => {
    const w = workdir('map-file');
    w.write(
      'gw.yaml',
      [
        'id: $.rid',
        'time: {path: $.ts, timeFormat: unix_ms}',
        'subject: [$.tenant, $.user]',
        'source: my-gateway',
        'type: llm',
        'data:',
        '  model: {path: $.model, as: string, required: true}',
        '  tokens: {path: $.n, as: count}',
        '  cost: {path: $.usd, as: number}',
      ].join('\n'),
    );
    w.write('in.ndjson', [
      '{"rid":"a","ts":1714564800000,"tenant":"acme","model":"m","n":5,"usd":0.1}',
      '{"rid":"b","ts":1714564800000,"user":"bob","model":"m","n":"5"}',
    ]);
    const r = w.run(['map', '--map', 'gw.yaml', 'in.ndjson']);
    assert.equal(r.code, 3, r.describe());
    assert.equal(
      r.stdout,
      '{"specversion":"1.0","id":"a","source":"my-gateway","type":"llm","subject":"acme","time":"2024-05-01T12:00:00Z","data":{"model":"m","tokens":5,"cost":0.1}}\n',
    );
    assert.match(r.stderr, /in\.ndjson:2: data\.tokens: \$\.n must be a non-negative whole number, got a string \("5"\)/);
    const i = w.run(['ingest', '--db', 'm.db', '--map', 'gw.yaml', '--source', 'other', '--json', 'in.ndjson']);
    assert.equal(i.code, 3, i.describe());
    assert.equal((JSON.parse(i.stdout) as { inserted: number }).inserted, 1);
    w.write('bad.yaml', 'id: 5\nsubject: x.y\ndata: {a: {as: count}}\n');
    const bad = w.run(['ingest', '--db', 'm.db', '--map', 'bad.yaml', 'in.ndjson']);
    assert.equal(bad.code, 2, bad.describe());
    assert.equal(
      bad.stderr,
      'meter: invalid mapping bad.yaml:\n  id: the literal 5 would give records the same id, and dedupe would keep one of them; write a JSON path ($.request_id)\n  source: missing (or give --source)\n  type: missing\n  data.a: needs a path or a value\n',
    );
    // Literals no record can mend are refused at start too, never record by record.
    w.write('lit.yaml', 'id: $.rid\nsubject: $.tenant\nsource: ""\ntype: "a\\u0000"\ntime: {value: "2026-02-30T00:00:00Z"}\n');
    const lit = w.run(['map', '--map', 'lit.yaml', 'in.ndjson']);
    assert.equal(lit.code, 2, lit.describe());
    assert.equal(
      lit.stderr,
      'meter: invalid mapping lit.yaml:\n  source: the literal is empty\n  type: the literal holds U+0000\n' +
        '  time: "2026-02-30T00:00:00Z" has day 30, not a day of 2026-02\n',
    );
    // The options' problems and the file's are listed together.
    const both = w.run(['map', '--map', 'bad.yaml', '--subject-path', '$.a[', '--subject-pattern', '(', 'in.ndjson']);
    assert.equal(both.code, 2, both.describe());
    assert.match(
      both.stderr,
      /^meter: --subject-path: .*\n--subject-pattern: .*\ninvalid mapping bad\.yaml:\n {2}id: the literal 5 .*\n {2}source: missing/,
    );
    // --rejects never overwrites what the run reads: an input or the mapping file (as in ingest).
    for (const [target, what] of [
      ['in.ndjson', 'an input'],
      ['./gw.yaml', 'the mapping file \\(--map\\)'],
    ]) {
      const before = w.read(target);
      const r2 = w.run(['map', '--map', 'gw.yaml', '--rejects', target!, 'in.ndjson']);
      assert.equal(r2.code, 2, r2.describe());
      assert.match(r2.stderr, new RegExp(`--rejects .*: is ${what}; writing to it would destroy it`));
      assert.equal(w.read(target), before);
    }
    // Standard input, when the run reads it: writing there would open the write end of its own input pipe.
    const own = w.run(['map', '--map', 'gw.yaml', '--rejects', '/dev/stdin', '-'], { input: w.read('in.ndjson') });
    assert.equal(own.code, 2, own.describe());
    assert.match(own.stderr, /--rejects \/dev\/stdin: is the standard input \(-\), which the command reads/);
    // A misspelt built-in map is neither a built-in map nor a file.
    const typo = w.run(['ingest', '--map', 'opneai', 'in.ndjson']);
    assert.equal(typo.code, 2, typo.describe());
    assert.equal(typo.stderr, 'meter: --map opneai: not a built-in map (openai, litellm), and no mapping file of that name exists\n');
  });
});
