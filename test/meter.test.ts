/** Meters in OpenMeter's config format: loading, validation (every problem at once), value paths. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkJsonPath, meterCanUse, parseMeterConfig, validateMeters, valueAtPath, type Meter } from '../src/core/meter.js';
import { ConfigError } from '../src/errors.js';

/** OpenMeter's config.example.yaml (abridged comments), with all its other top-level keys. */
const OPENMETER_CONFIG = `address: 127.0.0.1:8888

telemetry:
  log:
    level: debug

ingest:
  kafka:
    broker: 127.0.0.1:29092

aggregation:
  clickhouse:
    address: 127.0.0.1:9000

sink:
  minCommitCount: 1
  namespaceRefetch: 1s
  dedupe:
    enabled: true
    driver: redis
    config:
      address: 127.0.0.1:6379
      database: 0
      expiration: 768h # 32d

productcatalog:
  enabled: true

portal:
  enabled: true
  tokenSecret: this-isnt-secure

postgres:
  url: postgres://postgres:postgres@localhost:5432/postgres?sslmode=disable
  autoMigrate: ent

meters:
  # Sample meter to count API requests
  - slug: api_requests_total        # Unique identifier for the meter
    description: API Requests
    eventType: request              # Filter events by type
    aggregation: COUNT              # Aggregation method: COUNT, SUM, etc.
    groupBy:
      method: $.method              # HTTP Method: GET, POST, etc.
      route: $.route                # Route: /products/:product_id

  # Sample meter to count LLM Token Usage
  - slug: tokens_total
    description: AI Token Usage
    eventType: prompt               # Filter events by type
    aggregation: SUM
    valueProperty: $.tokens         # JSONPath to parse usage value
    groupBy:
      model: $.model                # AI model used: gpt4-turbo, etc.
      type: $.type                  # Prompt type: input, output, system

  - slug: workload_runtime_duration_seconds
    description: Workload runtime duration in seconds
    eventType: workload
    aggregation: SUM
    valueProperty: $.duration_seconds
    groupBy:
      region: $.region
      zone: $.zone
      instance_type: $.instance_type

notification:
  enabled: true
`;

/** The problems a ConfigError carries; fails when fn does not throw one. */
function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    return e.problems;
  }
  assert.fail('expected a ConfigError');
}

describe('parseMeterConfig', () => {
  test("OpenMeter's config.example.yaml loads as-is, other top-level keys ignored", () => {
    const meters = parseMeterConfig(OPENMETER_CONFIG, 'config.yaml');
    assert.deepEqual(meters, [
      {
        slug: 'api_requests_total',
        description: 'API Requests',
        eventType: 'request',
        aggregation: 'COUNT',
        groupBy: [
          { key: 'method', path: '$.method' },
          { key: 'route', path: '$.route' },
        ],
      },
      {
        slug: 'tokens_total',
        description: 'AI Token Usage',
        eventType: 'prompt',
        aggregation: 'SUM',
        valueProperty: '$.tokens',
        groupBy: [
          { key: 'model', path: '$.model' },
          { key: 'type', path: '$.type' },
        ],
      },
      {
        slug: 'workload_runtime_duration_seconds',
        description: 'Workload runtime duration in seconds',
        eventType: 'workload',
        aggregation: 'SUM',
        valueProperty: '$.duration_seconds',
        groupBy: [
          { key: 'region', path: '$.region' },
          { key: 'zone', path: '$.zone' },
          { key: 'instance_type', path: '$.instance_type' },
        ],
      },
    ]);
  });

  test('every aggregation loads; groupBy keeps config order', () => {
    const aggs = ['SUM', 'COUNT', 'AVG', 'MIN', 'MAX', 'UNIQUE_COUNT', 'LATEST'];
    const yaml =
      'meters:\n' +
      aggs
        .map(
          (a) =>
            `  - slug: m_${a.toLowerCase()}\n    eventType: e\n    aggregation: ${a}\n` +
            (a === 'COUNT' ? '' : '    valueProperty: $.v.nested\n') +
            '    groupBy:\n      zeta: $.z\n      alpha: $.a\n',
        )
        .join('');
    const meters = parseMeterConfig(yaml, 'm.yaml');
    assert.deepEqual(
      meters.map((m) => m.aggregation),
      aggs,
    );
    assert.equal(meters.find((m) => m.aggregation === 'COUNT')!.valueProperty, undefined);
    assert.equal(meters.find((m) => m.aggregation === 'LATEST')!.valueProperty, '$.v.nested');
    for (const m of meters)
      assert.deepEqual(
        m.groupBy.map((g) => g.key),
        ['zeta', 'alpha'],
      );
  });

  test('a JSON config is YAML too', () => {
    const meters = parseMeterConfig(
      JSON.stringify({ meters: [{ slug: 'calls', eventType: 'request', aggregation: 'COUNT' }] }),
      'meters.json',
    );
    assert.deepEqual(meters, [{ slug: 'calls', eventType: 'request', aggregation: 'COUNT', groupBy: [] }]);
  });

  test('merge keys (<<: *base), as Go reads them in OpenMeter configs', () => {
    const meters = parseMeterConfig(
      [
        'x-base: &tokens',
        '  eventType: prompt',
        '  aggregation: SUM',
        '  valueProperty: $.tokens',
        'meters:',
        '  - <<: *tokens',
        '    slug: tokens_total',
        '  - <<: *tokens',
        '    slug: tokens_cached',
        '    valueProperty: $.cached',
        '',
      ].join('\n'),
      'meters.yaml',
    );
    assert.deepEqual(meters, [
      { slug: 'tokens_total', eventType: 'prompt', aggregation: 'SUM', valueProperty: '$.tokens', groupBy: [] },
      { slug: 'tokens_cached', eventType: 'prompt', aggregation: 'SUM', valueProperty: '$.cached', groupBy: [] },
    ]);
  });

  test('an empty file, or a config without meters:, has no meters', () => {
    assert.deepEqual(parseMeterConfig('', 'empty.yaml'), []);
    assert.deepEqual(parseMeterConfig('# nothing here\n', 'empty.yaml'), []);
    assert.deepEqual(parseMeterConfig('address: 127.0.0.1:8888\n', 'c.yaml'), []);
  });

  test('invalid YAML, a non-mapping document and a non-list meters: are config errors naming the file', () => {
    for (const [text, re] of [
      ['meters: [unclosed\n', /not valid YAML/],
      ['- just\n- a list\n', /mapping/],
      ['meters:\n  slug: x\n', /meters: must be a list/],
      // A second document would otherwise be passed over in silence, with an invalid meter in it.
      ['meters: []\n---\nmeters:\n  - slug: "bad slug!"\n', /^not valid YAML: a second YAML document starts at line 2; a file holds one$/],
      ['meters: []\n...\ngarbage: [\n', /^not valid YAML: a second YAML document starts at line 3; a file holds one$/],
      // An empty one (a file that ends with ---) holds nothing to miss: the meter in the first is checked.
      ['meters:\n  slug: x\n---\n', /meters: must be a list/],
    ] as const) {
      try {
        parseMeterConfig(text, 'broken.yaml');
        assert.fail(`should throw for ${JSON.stringify(text)}`);
      } catch (e) {
        assert.ok(e instanceof ConfigError, String(e));
        assert.match(e.message, /broken\.yaml/);
        assert.match(e.problems.join('\n'), re);
      }
    }
  });
});

describe('validateMeters: every problem reported together, naming slug and field', () => {
  const BROKEN = `meters:
  - slug: Bad-Slug
    eventType: prompt
    aggregation: SUM
    valueProperty: $.tokens
  - slug: weird_agg
    eventType: prompt
    aggregation: MEDIAN
    valueProperty: $.tokens
  - slug: count_with_value
    eventType: prompt
    aggregation: COUNT
    valueProperty: $.tokens
  - slug: sum_without_value
    eventType: prompt
    aggregation: SUM
  - slug: bad_group_key
    eventType: prompt
    aggregation: COUNT
    groupBy:
      1model: $.model
  - slug: bad_value_path
    eventType: prompt
    aggregation: MAX
    valueProperty: tokens
  - slug: bad_group_path
    eventType: prompt
    aggregation: COUNT
    groupBy:
      model: model
  - slug: twice
    eventType: prompt
    aggregation: COUNT
  - slug: twice
    eventType: other
    aggregation: COUNT
  - slug: no_type
    aggregation: COUNT
  - slug: fine
    eventType: prompt
    aggregation: AVG
    valueProperty: $.tokens
`;

  test('all nine problems, one line each, in config order', () => {
    const problems = problemsOf(() => parseMeterConfig(BROKEN, 'meter.yaml'));
    assert.equal(problems.length, 9, problems.join('\n'));
    const expect: Array<[slug: string, field: string, why: RegExp]> = [
      ['Bad-Slug', 'slug', /\^\[a-z0-9\]/],
      ['weird_agg', 'aggregation', /MEDIAN.*not one of SUM, COUNT, AVG, MIN, MAX, UNIQUE_COUNT, LATEST/],
      ['count_with_value', 'valueProperty', /COUNT/],
      ['sum_without_value', 'valueProperty', /required for SUM/],
      ['bad_group_key', 'groupBy.1model', /key must match/],
      ['bad_value_path', 'valueProperty', /"tokens" is not a \$\.a\.b style JSON path/],
      ['bad_group_path', 'groupBy.model', /"model" is not a \$\.a\.b style JSON path/],
      ['twice', 'slug', /defined twice/],
      ['no_type', 'eventType', /missing/],
    ];
    expect.forEach(([slug, field, why], i) => {
      const p = problems[i]!;
      assert.ok(p.includes(`"${slug}"`), `problem ${i} names the slug ${slug}: ${p}`);
      assert.ok(p.includes(` ${field}:`), `problem ${i} names the field ${field}: ${p}`);
      assert.match(p, why);
    });
    assert.ok(!problems.some((p) => p.includes('"fine"')), 'the valid meter has no problem');
  });

  test('the ConfigError message lists every problem and the file', () => {
    try {
      parseMeterConfig(BROKEN, 'conf/meter.yaml');
      assert.fail('should throw');
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /conf\/meter\.yaml/);
      for (const slug of [
        'Bad-Slug',
        'weird_agg',
        'count_with_value',
        'sum_without_value',
        'bad_group_key',
        'bad_value_path',
        'bad_group_path',
        'twice',
        'no_type',
      ]) {
        assert.ok(e.message.includes(`"${slug}"`), `message mentions ${slug}`);
      }
      assert.equal(e.exitCode, 2);
    }
  });

  test('several problems of one meter are all reported', () => {
    const problems = problemsOf(() =>
      validateMeters([{ slug: 'x-y', aggregation: 'SUM', valueProperty: 'tokens', groupBy: { 'a b': '$.a' } }], 'm.yaml'),
    );
    assert.equal(problems.length, 4, problems.join('\n'));
    assert.match(problems.join('\n'), /slug:/);
    assert.match(problems.join('\n'), /eventType: missing/);
    assert.match(problems.join('\n'), /valueProperty:/);
    assert.match(problems.join('\n'), /groupBy\.a b:/);
  });

  test('a slug or eventType of another kind is named as such, not as missing', () => {
    const problems = problemsOf(() => validateMeters([{ slug: 123, eventType: ['a'], aggregation: 'COUNT' }], 'm.yaml'));
    assert.deepEqual(problems, ['meter #1 slug: not a string (123)', 'meter #1 eventType: not a string (["a"])']);
  });

  test('a meter without a slug or that is not a mapping is named by its position', () => {
    const problems = problemsOf(() => validateMeters([{ eventType: 'e', aggregation: 'COUNT' }, 'oops'], 'm.yaml'));
    assert.equal(problems.length, 2, problems.join('\n'));
    assert.match(problems[0]!, /meter #1 slug: missing/);
    assert.match(problems[1]!, /meter #2/);
  });

  test('slug rules: lower-case words joined by single underscores, 1-64 characters', () => {
    const ok = ['a', 'tokens_total', 'api2_requests', '0', 'a'.repeat(64)];
    const bad = ['', 'Tokens', 'tokens-total', '_tokens', 'tokens_', 'tokens__total', 'tok ens', 'a'.repeat(65), 'ü'];
    for (const slug of ok) {
      assert.equal(validateMeters([{ slug, eventType: 'e', aggregation: 'COUNT' }], 'm.yaml')[0]!.slug, slug);
    }
    for (const slug of bad) {
      const problems = problemsOf(() => validateMeters([{ slug, eventType: 'e', aggregation: 'COUNT' }], 'm.yaml'));
      assert.equal(problems.length, 1, `${JSON.stringify(slug)}: ${problems.join('; ')}`);
      assert.match(problems[0]!, / slug: /);
    }
  });

  test('groupBy key rules; "subject" is reserved (every row has a subject column)', () => {
    for (const key of ['model', 'Model', '_x', 'instance_type', 'a1', 'type']) {
      const [m] = validateMeters([{ slug: 'm', eventType: 'e', aggregation: 'COUNT', groupBy: { [key]: '$.x' } }], 'm.yaml');
      assert.deepEqual(m!.groupBy, [{ key, path: '$.x' }]);
    }
    for (const key of ['1model', 'a-b', 'a.b', 'a b', '', 'subject']) {
      const problems = problemsOf(() =>
        validateMeters([{ slug: 'm', eventType: 'e', aggregation: 'COUNT', groupBy: { [key]: '$.x' } }], 'm.yaml'),
      );
      assert.equal(problems.length, 1, `${JSON.stringify(key)}: ${problems.join('; ')}`);
      assert.ok(problems[0]!.includes(`groupBy.${key}:`), problems[0]);
    }
    const problems = problemsOf(() => validateMeters([{ slug: 'm', eventType: 'e', aggregation: 'COUNT', groupBy: ['$.x'] }], 'm.yaml'));
    assert.match(problems[0]!, /groupBy: must be a mapping/);
  });

  test('a COUNT with an empty valueProperty is accepted; value aggregations need one', () => {
    assert.equal(validateMeters([{ slug: 'c', eventType: 'e', aggregation: 'COUNT', valueProperty: null }], 'm.yaml').length, 1);
    for (const agg of ['SUM', 'AVG', 'MIN', 'MAX', 'UNIQUE_COUNT', 'LATEST']) {
      const problems = problemsOf(() => validateMeters([{ slug: 'v', eventType: 'e', aggregation: agg }], 'm.yaml'));
      assert.deepEqual(problems, [`meter "v" valueProperty: required for ${agg}`]);
    }
  });

  test('a missing aggregation is reported', () => {
    const problems = problemsOf(() => validateMeters([{ slug: 'v', eventType: 'e' }], 'm.yaml'));
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /meter "v" aggregation: null is not one of/);
  });
});

describe('JSON paths', () => {
  test('checkJsonPath accepts $.a.b style paths and rejects everything else', () => {
    for (const p of ['$.tokens', '$.usage.prompt_tokens', '$.a[0].b', '$.completion-tokens', '$.a.b.c.d']) {
      assert.equal(checkJsonPath(p), null, p);
    }
    for (const p of [
      'tokens',
      '$',
      '$.',
      '$..tokens',
      '.tokens',
      "$['tokens']",
      '$.a b',
      '$.a"b',
      '$.a[x]',
      '$.a.',
      'data.tokens',
      42,
      null,
    ]) {
      assert.notEqual(checkJsonPath(p), null, String(p));
    }
  });

  test('valueAtPath reads nested objects and array indexes; missing is undefined', () => {
    const data = { tokens: 10, usage: { prompt_tokens: '21', nested: { deep: null } }, list: [{ v: 1 }, { v: 2 }], flag: false };
    assert.equal(valueAtPath(data, '$.tokens'), 10);
    assert.equal(valueAtPath(data, '$.usage.prompt_tokens'), '21');
    assert.equal(valueAtPath(data, '$.usage.nested.deep'), null);
    assert.equal(valueAtPath(data, '$.list[1].v'), 2);
    assert.equal(valueAtPath(data, '$.flag'), false);
    assert.deepEqual(valueAtPath(data, '$.usage.nested'), { deep: null });
    assert.equal(valueAtPath(data, '$.missing'), undefined);
    assert.equal(valueAtPath(data, '$.usage.nested.deep.deeper'), undefined, 'through null');
    assert.equal(valueAtPath(data, '$.tokens.x'), undefined, 'through a number');
    assert.equal(valueAtPath(data, '$.list[5].v'), undefined);
    assert.equal(valueAtPath(data, '$.list.v'), undefined, 'key into an array');
    assert.equal(valueAtPath(data, '$.usage[0]'), undefined, 'index into an object');
    assert.equal(valueAtPath(null, '$.tokens'), undefined);
    assert.equal(valueAtPath(undefined, '$.tokens'), undefined);
    assert.equal(valueAtPath({ 'completion-tokens': 7 }, '$.completion-tokens'), 7);
  });
});

describe('meterCanUse: could the meter use this event', () => {
  const sum: Meter = { slug: 's', eventType: 'e', aggregation: 'SUM', valueProperty: '$.v', groupBy: [] };
  const latest: Meter = { ...sum, slug: 'l', aggregation: 'LATEST' };
  const unique: Meter = { ...sum, slug: 'u', aggregation: 'UNIQUE_COUNT' };
  const count: Meter = { slug: 'c', eventType: 'e', aggregation: 'COUNT', groupBy: [] };
  const table: Array<[unknown, boolean, boolean]> = [
    // data, usable by SUM/LATEST, usable by UNIQUE_COUNT
    [{ v: 10 }, true, true],
    [{ v: -2.5 }, true, true],
    [{ v: '21' }, true, true],
    [{ v: '0.5' }, true, true],
    [{ v: 'abc' }, false, true],
    [{ v: 'NaN' }, false, true],
    [{ v: 'Infinity' }, false, true],
    [{ v: ' 21' }, false, true],
    [{ v: true }, false, true],
    [{ v: null }, false, false],
    [{ v: { n: 1 } }, false, false],
    [{ v: [1] }, false, false],
    [{}, false, false],
    [null, false, false],
  ];
  test("a path to a member every object inherits (constructor, toString) finds only the data's own", () => {
    const own: Meter = { ...unique, valueProperty: '$.constructor' };
    assert.equal(meterCanUse(own, {}), false);
    assert.equal(meterCanUse({ ...own, valueProperty: '$.a.toString' }, { a: {} }), false);
    assert.equal(meterCanUse(own, JSON.parse('{"constructor":"x"}')), true);
    assert.equal(valueAtPath({}, '$.constructor'), undefined);
    assert.equal(valueAtPath(JSON.parse('{"__proto__":7}'), '$.__proto__'), 7);
  });
  for (const [data, numeric, distinct] of table) {
    test(`data ${JSON.stringify(data)}`, () => {
      assert.equal(meterCanUse(sum, data), numeric, 'SUM');
      assert.equal(meterCanUse(latest, data), numeric, 'LATEST');
      assert.equal(meterCanUse(unique, data), distinct, 'UNIQUE_COUNT');
      assert.equal(meterCanUse(count, data), true, 'COUNT uses every event');
    });
  }
});
