/**
 * End to end: events and a meter.yaml in a temp folder, the real bin/meter spawned on them (`meter ingest`, then
 * `meter query`), and the CLI's output compared with values worked out by hand in this file.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Workdir, csvRows, line, type RunResult } from './helpers.js';
import { CALLS, meterConfig, promptMeter, TOKENS } from './fixtures.js';

/** One event line: id, subject, time and data (null: no data at all), type `prompt` unless given. */
function ev(id: string, subject: string, time: string, data: Record<string, unknown> | null, type = 'prompt'): string {
  return line({ id, subject, time, type, data: data === null ? undefined : data });
}

/** The run's stdout, after checking it exited 0. */
function ok(r: RunResult): string {
  assert.equal(r.code, 0, r.describe());
  return r.stdout;
}

/** The run's stderr, after checking it exited 2 (usage error) and printed nothing on stdout. */
function usageError(r: RunResult): string {
  assert.equal(r.code, 2, r.describe());
  assert.equal(r.stdout, '', r.describe());
  return r.stderr;
}

/** Runs bin/meter in the background, killing it after `ms` (for queries that once looped forever). */
async function runWithin(w: Workdir, args: string[], ms: number): Promise<RunResult> {
  const { child, done } = w.spawn(args);
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  try {
    const r = await done;
    assert.notEqual(r.signal, 'SIGKILL', `did not finish within ${ms} ms: ${r.describe()}`);
    return r;
  } finally {
    clearTimeout(timer);
  }
}

/** A folder with events ingested (and a meter.yaml when given). */
function setup(name: string, events: string[], meterYaml?: string): Workdir {
  const w = new Workdir(name);
  if (meterYaml !== undefined) w.write('meter.yaml', meterYaml);
  w.write('events.ndjson', events);
  const r = w.run(['ingest', 'events.ndjson', '--json']);
  assert.equal(r.code, 0, r.describe());
  const summary = JSON.parse(r.stdout) as { inserted: number; rejected: number };
  assert.equal(summary.rejected, 0, r.describe());
  assert.equal(summary.inserted, events.length, r.describe());
  return w;
}

/** A CSV document from its lines (each line already in CSV form). */
const csvDoc = (...lines: string[]): string => lines.join('\n') + '\n';

// ---------------------------------------------------------------------------------------------------------------
// Aggregations

const AGG_METERS = meterConfig(
  { ...TOKENS, slug: 'tokens_sum' },
  { ...CALLS, groupBy: { model: '$.model' } },
  promptMeter('tokens_avg', 'AVG'),
  promptMeter('tokens_min', 'MIN'),
  promptMeter('tokens_max', 'MAX'),
  promptMeter('users', 'UNIQUE_COUNT', '$.user'),
  promptMeter('tokens_latest', 'LATEST'),
);

/**
 * acme's usable token values: 10, "21", 0.5, -4, 100 (a10 comes last in the file but has the earliest time).
 * Not usable: null, true, "abc", missing, "NaN", "n/a", an object, no data at all.
 */
const AGG_EVENTS = [
  ev('a1', 'acme', '2026-11-01T10:00:00Z', { tokens: 10, model: 'gpt-4o', user: 'u1' }),
  ev('a2', 'acme', '2026-11-01T10:05:00Z', { tokens: '21', model: 'gpt-4o', user: 'u2' }),
  ev('a3', 'acme', '2026-11-01T10:10:00Z', { tokens: 0.5, model: 'mini', user: 'u1' }),
  ev('a4', 'acme', '2026-11-01T10:15:00Z', { tokens: null, model: 'mini', user: 'u3' }),
  ev('a5', 'acme', '2026-11-01T10:20:00Z', { tokens: true, model: 'mini', user: '1' }),
  ev('a6', 'acme', '2026-11-01T10:25:00Z', { tokens: 'abc', model: 'gpt-4o', user: 1 }),
  ev('a7', 'acme', '2026-11-01T10:30:00Z', { model: 'mini' }),
  ev('a8', 'acme', '2026-11-01T10:35:00Z', { tokens: 'NaN', model: 'gpt-4o', user: null }),
  ev('a9', 'acme', '2026-11-01T10:40:00Z', { tokens: -4, model: 'gpt-4o', user: true }),
  ev('a12', 'acme', '2026-11-01T10:45:00Z', { tokens: { n: 5 }, model: 'mini', user: [1] }),
  ev('a11', 'acme', '2026-11-01T10:50:00Z', { tokens: 'n/a', user: { id: 'x' } }),
  ev('n1', 'acme', '2026-11-01T10:55:00Z', null),
  ev('a10', 'acme', '2026-11-01T09:00:00Z', { tokens: 100, model: 'gpt-4o', user: 'u2' }),
  ev('b1', 'beta', '2026-11-01T11:00:00Z', { tokens: 7, model: 'mini', user: 'u1' }),
  ev('b2', 'beta', '2026-11-01T11:30:00Z', { tokens: 'Infinity', model: 'mini', user: 'u9' }),
  ev('g1', 'gamma', '2026-11-01T12:00:00Z', { tokens: 'x', model: 'mini' }),
  // Another type: no meter above counts it.
  ev('c1', 'acme', '2026-11-01T10:00:00Z', { tokens: 1000, model: 'gpt-4o', user: 'zz' }, 'completion'),
];

const DAY = '2026-11-01T00:00:00Z,2026-11-02T00:00:00Z';
const RANGE = ['--from', '2026-11-01', '--to', '2026-11-02'];

describe('aggregations', () => {
  let w: Workdir;
  before(() => {
    w = setup('agg', AGG_EVENTS, AGG_METERS);
  });
  after(() => w.remove());
  const q = (...args: string[]) => ok(w.run(['query', '--format', 'csv', ...RANGE, ...args]));

  test('SUM: numbers and numeric strings count; null, booleans, other strings, objects and missing do not', () => {
    // acme 10 + 21 + 0.5 - 4 + 100 = 127.5; beta 7 ("Infinity" does not count); gamma has no usable value: 0.
    assert.equal(
      q('-m', 'tokens_sum'),
      csvDoc('window_start,window_end,subject,value', `${DAY},acme,127.5`, `${DAY},beta,7`, `${DAY},gamma,0`),
    );
  });

  test('COUNT counts every event of the type, usable value or not', () => {
    // acme: a1-a12 and n1 = 13 (c1 is a completion); beta 2; gamma 1.
    assert.equal(q('-m', 'calls'), csvDoc('window_start,window_end,subject,value', `${DAY},acme,13`, `${DAY},beta,2`, `${DAY},gamma,1`));
  });

  test('AVG over usable values only; empty when a group has none', () => {
    // acme 127.5 / 5 = 25.5; beta 7 / 1.
    assert.equal(
      q('-m', 'tokens_avg'),
      csvDoc('window_start,window_end,subject,value', `${DAY},acme,25.5`, `${DAY},beta,7`, `${DAY},gamma,`),
    );
  });

  test('MIN and MAX (negative values included)', () => {
    assert.equal(
      q('-m', 'tokens_min'),
      csvDoc('window_start,window_end,subject,value', `${DAY},acme,-4`, `${DAY},beta,7`, `${DAY},gamma,`),
    );
    assert.equal(
      q('-m', 'tokens_max'),
      csvDoc('window_start,window_end,subject,value', `${DAY},acme,100`, `${DAY},beta,7`, `${DAY},gamma,`),
    );
  });

  test('UNIQUE_COUNT compares string forms: "1" and 1 are one value; null, objects, arrays, missing are none', () => {
    // acme: u1, u2, u3, "1" (= 1), true -> 5; beta: u1, u9 -> 2; gamma: no user -> 0.
    assert.equal(q('-m', 'users'), csvDoc('window_start,window_end,subject,value', `${DAY},acme,5`, `${DAY},beta,2`, `${DAY},gamma,0`));
  });

  test('LATEST is the usable value with the latest event time (not the last line of the file)', () => {
    // acme: a10 (100) is the last line but the earliest time; n1, a11 and a12 are later but have no usable value,
    // so a9 (-4, 10:40) is the latest. beta: b2 ("Infinity") is later than b1 but does not count.
    assert.equal(
      q('-m', 'tokens_latest'),
      csvDoc('window_start,window_end,subject,value', `${DAY},acme,-4`, `${DAY},beta,7`, `${DAY},gamma,`),
    );
  });

  test('LATEST per hour window', () => {
    // acme 09:00 window: only a10 (100); 10:00 window: a9 (-4). beta 11:00: b1 (7).
    assert.equal(
      q('-m', 'tokens_latest', '-w', 'hour'),
      csvDoc(
        'window_start,window_end,subject,value',
        '2026-11-01T09:00:00Z,2026-11-01T10:00:00Z,acme,100',
        '2026-11-01T10:00:00Z,2026-11-01T11:00:00Z,acme,-4',
        '2026-11-01T11:00:00Z,2026-11-01T12:00:00Z,beta,7',
        '2026-11-01T12:00:00Z,2026-11-01T13:00:00Z,gamma,',
      ),
    );
  });

  test('--group-by: a missing group value is a group of its own, shown empty', () => {
    // acme gpt-4o: 10 + 21 - 4 + 100 = 127; mini: 0.5; no model (a11, n1): 0.
    assert.equal(
      q('-m', 'tokens_sum', '--group-by', 'model'),
      csvDoc(
        'window_start,window_end,subject,model,value',
        `${DAY},acme,,0`,
        `${DAY},acme,gpt-4o,127`,
        `${DAY},acme,mini,0.5`,
        `${DAY},beta,mini,7`,
        `${DAY},gamma,mini,0`,
      ),
    );
    // COUNT by model: acme gpt-4o a1 a2 a6 a8 a9 a10 = 6, mini a3 a4 a5 a7 a12 = 5, none a11 n1 = 2.
    assert.equal(
      q('-m', 'calls', '-g', 'model'),
      csvDoc(
        'window_start,window_end,subject,model,value',
        `${DAY},acme,,2`,
        `${DAY},acme,gpt-4o,6`,
        `${DAY},acme,mini,5`,
        `${DAY},beta,mini,2`,
        `${DAY},gamma,mini,1`,
      ),
    );
  });

  test('--filter KEY=VALUE, also on the empty (missing) value, with and without --group-by', () => {
    assert.equal(q('-m', 'tokens_sum', '--filter', 'model=gpt-4o'), csvDoc('window_start,window_end,subject,value', `${DAY},acme,127`));
    assert.equal(
      q('-m', 'tokens_sum', '-f', 'model=mini', '-g', 'model'),
      csvDoc('window_start,window_end,subject,model,value', `${DAY},acme,mini,0.5`, `${DAY},beta,mini,7`, `${DAY},gamma,mini,0`),
    );
    assert.equal(q('-m', 'calls', '-f', 'model='), csvDoc('window_start,window_end,subject,value', `${DAY},acme,2`));
    assert.equal(q('-m', 'calls', '-f', 'model=none-such'), 'window_start,window_end,subject,value\n');
  });

  test('--subject (repeatable) keeps only those subjects', () => {
    assert.equal(q('-m', 'tokens_sum', '--subject', 'beta'), csvDoc('window_start,window_end,subject,value', `${DAY},beta,7`));
    assert.equal(
      q('-m', 'calls', '-s', 'gamma', '-s', 'acme'),
      csvDoc('window_start,window_end,subject,value', `${DAY},acme,13`, `${DAY},gamma,1`),
    );
    assert.equal(q('-m', 'calls', '-s', 'nobody'), 'window_start,window_end,subject,value\n');
  });

  test('a named subject without rows, or filters that leave none, get a note on stderr (most often a typo); exit 0', () => {
    const run = (...args: string[]) => w.run(['query', '--format', 'csv', ...RANGE, ...args]);
    const some = run('-m', 'calls', '-s', 'acme', '-s', 'acm', '-s', 'x\u202ey');
    assert.equal(some.code, 0, some.describe());
    assert.equal(some.stdout, csvDoc('window_start,window_end,subject,value', `${DAY},acme,13`));
    assert.equal(some.stderr, 'meter: note: no rows for subjects "acm", "x\\u202ey" (matched exactly; `meter subjects` lists them)\n');
    // Across subjects, rows carry none: a name is said only when nothing matched.
    assert.equal(run('-m', 'calls', '-s', 'acme', '-s', 'acm', '--all-subjects').stderr, '');
    assert.equal(
      run('-m', 'calls', '-s', 'acm', '--all-subjects').stderr,
      'meter: note: no rows for subject "acm" (matched exactly; `meter subjects` lists them)\n',
    );
    const filtered = run('-m', 'calls', '-f', 'model=gpt4o');
    assert.equal(filtered.code, 0, filtered.describe());
    assert.equal(filtered.stdout, 'window_start,window_end,subject,value\n');
    assert.equal(filtered.stderr, 'meter: note: no rows match the --filter values (matched exactly)\n');
    assert.equal(run('-m', 'calls', '-f', 'model=gpt-4o').stderr, '');
  });

  test('--all-subjects sums across subjects and leaves the subject cell empty', () => {
    // 127.5 + 7 + 0; COUNT 13 + 2 + 1; users: u1 u2 u3 1 true u9 -> 6 (u1 is shared by acme and beta).
    assert.equal(q('-m', 'tokens_sum', '--all-subjects'), csvDoc('window_start,window_end,subject,value', `${DAY},,134.5`));
    assert.equal(q('-m', 'calls', '--all-subjects'), csvDoc('window_start,window_end,subject,value', `${DAY},,16`));
    assert.equal(q('-m', 'users', '--all-subjects'), csvDoc('window_start,window_end,subject,value', `${DAY},,6`));
    assert.equal(
      q('-m', 'tokens_sum', '--all-subjects', '-g', 'model'),
      csvDoc('window_start,window_end,subject,model,value', `${DAY},,,0`, `${DAY},,gpt-4o,127`, `${DAY},,mini,7.5`),
    );
  });

  test('with no window and no range, the bounds are the first and last event time', () => {
    const out = ok(w.run(['query', '-m', 'calls', '--all-subjects', '--format', 'csv']));
    assert.equal(out, csvDoc('window_start,window_end,subject,value', '2026-11-01T09:00:00Z,2026-11-01T12:00:00Z,,16'));
  });

  test('--format table: aligned, numbers right-aligned, a total line', () => {
    const out = ok(w.run(['query', '-m', 'tokens_sum', ...RANGE]));
    const lines = out.split('\n');
    const row = (subject: string) => lines.find((l) => l.includes(` ${subject} `));
    assert.match(row('acme')!, /2026-11-01T00:00:00Z .*2026-11-02T00:00:00Z .* acme .* 127\.5 │$/);
    assert.match(row('beta')!, / {4}7 │$/, 'right-aligned under 127.5');
    const total = lines.find((l) => /\btotal\b/.test(l));
    assert.ok(total, out);
    assert.match(total, / 134\.5 │$/);
    // All rows have the same width.
    const widths = new Set(lines.filter((l) => l.startsWith('│')).map((l) => l.length));
    assert.equal(widths.size, 1, out);
    assert.equal(lines.filter((l) => l.includes('acme')).length, 1);
  });

  test('--format json: OpenMeter shape {from, to, windowSize, data: [{value, windowStart, windowEnd, subject, groupBy}]}', () => {
    const out = ok(w.run(['query', '-m', 'tokens_sum', ...RANGE, '-w', 'hour', '-g', 'model', '-s', 'acme', '--format', 'json']));
    const doc = JSON.parse(out) as Record<string, unknown>;
    assert.equal(doc.from, '2026-11-01T00:00:00Z');
    assert.equal(doc.to, '2026-11-02T00:00:00Z');
    assert.equal(doc.windowSize, 'HOUR');
    // acme 09:00: a10 100 (gpt-4o). 10:00: no model 0; gpt-4o 10 + 21 - 4 = 27; mini 0.5.
    assert.deepEqual(doc.data, [
      { value: 100, windowStart: '2026-11-01T09:00:00Z', windowEnd: '2026-11-01T10:00:00Z', subject: 'acme', groupBy: { model: 'gpt-4o' } },
      { value: 0, windowStart: '2026-11-01T10:00:00Z', windowEnd: '2026-11-01T11:00:00Z', subject: 'acme', groupBy: { model: '' } },
      { value: 27, windowStart: '2026-11-01T10:00:00Z', windowEnd: '2026-11-01T11:00:00Z', subject: 'acme', groupBy: { model: 'gpt-4o' } },
      { value: 0.5, windowStart: '2026-11-01T10:00:00Z', windowEnd: '2026-11-01T11:00:00Z', subject: 'acme', groupBy: { model: 'mini' } },
    ]);
  });

  test('--format json: no window is windowSize null; --all-subjects is subject null; no value is null', () => {
    const doc = JSON.parse(ok(w.run(['query', '-m', 'tokens_avg', ...RANGE, '--all-subjects', '--format', 'json']))) as {
      windowSize: unknown;
      data: unknown[];
    };
    assert.equal(doc.windowSize, null);
    // (127.5 + 7) / 6 usable values = 22.416666666667 (12 decimals, rounded)
    assert.deepEqual(doc.data, [
      { value: 22.416666666667, windowStart: '2026-11-01T00:00:00Z', windowEnd: '2026-11-02T00:00:00Z', subject: null, groupBy: {} },
    ]);
    const gamma = JSON.parse(ok(w.run(['query', '-m', 'tokens_max', ...RANGE, '-s', 'gamma', '--format', 'json']))) as {
      data: Array<{ value: unknown }>;
    };
    assert.equal(gamma.data.length, 1);
    assert.equal(gamma.data[0]!.value, null);
    const empty = JSON.parse(ok(w.run(['query', '-m', 'tokens_max', ...RANGE, '-s', 'nobody', '--format', 'json']))) as { data: unknown[] };
    assert.deepEqual(empty.data, []);
  });

  test('--format ndjson: one row object per line, the same rows as json', () => {
    const args = ['query', '-m', 'calls', ...RANGE, '-g', 'model', '--format'];
    const nd = ok(w.run([...args, 'ndjson']));
    assert.ok(nd.endsWith('\n'));
    const rows = nd
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(rows.length, 5);
    assert.deepEqual(rows[0], {
      value: 2,
      windowStart: '2026-11-01T00:00:00Z',
      windowEnd: '2026-11-02T00:00:00Z',
      subject: 'acme',
      groupBy: { model: '' },
    });
    assert.deepEqual(
      rows.map((r) => [r.subject, (r.groupBy as { model: string }).model, r.value]),
      [
        ['acme', '', 2],
        ['acme', 'gpt-4o', 6],
        ['acme', 'mini', 5],
        ['beta', 'mini', 2],
        ['gamma', 'mini', 1],
      ],
    );
    assert.deepEqual(rows, (JSON.parse(ok(w.run([...args, 'json']))) as { data: unknown[] }).data);
  });

  test('--output FILE writes the result there and nothing to stdout', () => {
    const r = w.run(['query', '-m', 'tokens_sum', ...RANGE, '--format', 'csv', '--output', 'out.csv']);
    assert.equal(ok(r), '');
    assert.equal(
      w.read('out.csv'),
      csvDoc('window_start,window_end,subject,value', `${DAY},acme,127.5`, `${DAY},beta,7`, `${DAY},gamma,0`),
    );
    const r2 = w.run(['query', '-m', 'calls', ...RANGE, '--all-subjects', '--format', 'json', '-o', 'out.json']);
    assert.equal(ok(r2), '');
    assert.equal((JSON.parse(w.read('out.json')) as { data: Array<{ value: number }> }).data[0]!.value, 16);
  });

  test('meter subjects lists every subject with its event count and first and last time', () => {
    // acme: 13 prompts + 1 completion, first a10 09:00, last n1 10:55.
    assert.equal(
      ok(w.run(['subjects', '--format', 'csv'])),
      csvDoc(
        'subject,events,first,last',
        'acme,14,2026-11-01T09:00:00Z,2026-11-01T10:55:00Z',
        'beta,2,2026-11-01T11:00:00Z,2026-11-01T11:30:00Z',
        'gamma,1,2026-11-01T12:00:00Z,2026-11-01T12:00:00Z',
      ),
    );
    const table = ok(w.run(['subjects']));
    assert.match(table, /acme .* 14 .*2026-11-01T09:00:00Z.*2026-11-01T10:55:00Z/);
    const json = JSON.parse(ok(w.run(['subjects', '--format', 'json']))) as Array<{ subject: string; events: number }>;
    assert.deepEqual(
      json.map((s) => [s.subject, s.events]),
      [
        ['acme', 14],
        ['beta', 2],
        ['gamma', 1],
      ],
    );
  });

  test('meter meters lists every meter with event type, aggregation, value and group-by', () => {
    const out = ok(w.run(['meters']));
    for (const [slug, agg] of [
      ['tokens_sum', 'SUM'],
      ['calls', 'COUNT'],
      ['tokens_avg', 'AVG'],
      ['tokens_min', 'MIN'],
      ['tokens_max', 'MAX'],
      ['users', 'UNIQUE_COUNT'],
      ['tokens_latest', 'LATEST'],
    ]) {
      const row = out.split('\n').find((l) => l.includes(` ${slug} `));
      assert.ok(row, `${slug} listed:\n${out}`);
      assert.match(row, new RegExp(` prompt .* ${agg} `));
    }
    assert.match(out.split('\n').find((l) => l.includes(' tokens_sum '))!, /\$\.tokens .*model: \$\.model/);
    assert.match(out.split('\n').find((l) => l.includes(' users '))!, /\$\.user/);
    const json = JSON.parse(ok(w.run(['meters', '--json']))) as Array<{ slug: string; aggregation: string; valueProperty?: string }>;
    assert.equal(json.length, 7);
    assert.deepEqual(json[0], {
      slug: 'tokens_sum',
      eventType: 'prompt',
      aggregation: 'SUM',
      valueProperty: '$.tokens',
      groupBy: [{ key: 'model', path: '$.model' }],
    });
  });

  test('usage errors exit 2 with a clear message', () => {
    assert.match(usageError(w.run(['query', '-m', 'nope'])), /unknown meter "nope".*tokens_sum/);
    assert.match(usageError(w.run(['query'])), /several meters.*--meter/);
    assert.match(usageError(w.run(['query', '-m', 'calls', '--tz', 'Mars/Olympus'])), /unknown time zone "Mars\/Olympus"/);
    assert.match(usageError(w.run(['query', '-m', 'calls', '--tz', 'europe/budapest'])), /did you mean Europe\/Budapest\?/);
    assert.match(usageError(w.run(['query', '-m', 'calls', '--window', 'weekly'])), /--window "weekly".*minute, hour, day or month/);
    assert.match(usageError(w.run(['query', '-m', 'calls', '--window', 'constructor'])), /--window "constructor"/);
    assert.match(usageError(w.run(['query', '-m', 'calls', '--group-by', 'region'])), /--group-by "region".*model/);
    assert.match(usageError(w.run(['query', '-m', 'calls', '--filter', 'region=eu'])), /--filter "region".*model/);
    assert.match(usageError(w.run(['query', '-m', 'calls', '--filter', 'model'])), /--filter "model".*KEY=VALUE/);
    assert.match(usageError(w.run(['query', '-m', 'calls', '--from', 'yesterday'])), /--from "yesterday"/);
    assert.match(usageError(w.run(['query', '-m', 'calls', '--to', '2026-02-30'])), /--to "2026-02-30"/);
    assert.equal(w.run(['query', '-m', 'calls', '--format', 'xml']).code, 2);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Exact decimal sums; meters apply to events stored before the meter existed

describe('exact decimal sums', () => {
  let w: Workdir;
  before(() => {
    w = setup('decimal', [
      ev('1', 'acme', '2026-11-01T10:00:00Z', { v: 0.1 }),
      ev('2', 'acme', '2026-11-01T10:00:01Z', { v: 0.2 }),
      ev('3', 'big', '2026-11-01T10:00:00Z', { v: 4000000000000000 }),
      ev('4', 'big', '2026-11-01T10:00:01Z', { v: 4000000000000000 }),
      ev('5', 'big', '2026-11-01T10:00:02Z', { v: 4000000000000000 }),
      ev('6', 'big', '2026-11-01T10:00:03Z', { v: 1 }),
      ev('7', 'mix', '2026-11-01T10:00:00Z', { v: '0.1' }),
      ev('8', 'mix', '2026-11-01T10:00:01Z', { v: 0.2 }),
      ev('9', 'mix', '2026-11-01T10:00:02Z', { v: 1 }),
      ev('10', 'neg', '2026-11-01T10:00:00Z', { v: -0.1 }),
      ev('11', 'neg', '2026-11-01T10:00:01Z', { v: '-0.2' }),
      ...Array.from({ length: 10 }, (_, i) => ev(`t${i}`, 'tenth', `2026-11-01T10:00:0${i}Z`, { v: 0.1 })),
      ev('12', 'tiny', '2026-11-01T10:00:00Z', { v: 1e-7 }),
      ev('13', 'tiny', '2026-11-01T10:00:01Z', { v: '0.0000001' }),
      ev('14', 'zero', '2026-11-01T10:00:00Z', { v: 0.3 }),
      ev('15', 'zero', '2026-11-01T10:00:01Z', { v: -0.1 }),
      ev('16', 'zero', '2026-11-01T10:00:02Z', { v: -0.2 }),
    ]);
  });
  after(() => w.remove());

  test('a meter added after ingest applies to the stored events; sums print exactly', () => {
    w.write('meter.yaml', 'meters:\n  - slug: v\n    eventType: prompt\n    aggregation: SUM\n    valueProperty: $.v\n');
    assert.equal(
      ok(w.run(['query', '--format', 'csv', ...RANGE])),
      csvDoc(
        'window_start,window_end,subject,value',
        `${DAY},acme,0.3`, // not 0.30000000000000004
        `${DAY},big,12000000000000001`, // beyond 2^53: 3 * 4e15 + 1
        `${DAY},mix,1.3`,
        `${DAY},neg,-0.3`,
        `${DAY},tenth,1`, // not 0.9999999999999999
        `${DAY},tiny,0.0000002`, // not 2e-7
        `${DAY},zero,0`,
      ),
    );
    assert.equal(
      ok(w.run(['query', '--format', 'csv', ...RANGE, '--all-subjects'])),
      // 0.3 + 12000000000000001 + 1.3 - 0.3 + 1 + 0.0000002 + 0
      csvDoc('window_start,window_end,subject,value', `${DAY},,12000000000000003.3000002`),
    );
    const json = ok(w.run(['query', '--format', 'json', ...RANGE, '-s', 'acme', '-s', 'big']));
    assert.match(json, /"value":0\.3,/);
    assert.match(json, /"value":12000000000000001,/, 'JSON numbers are written from the exact decimal text');
  });

  test('changing the meter needs no re-ingest: AVG and MAX of the same events', () => {
    w.write('meter.yaml', 'meters:\n  - slug: v\n    eventType: prompt\n    aggregation: AVG\n    valueProperty: $.v\n');
    assert.equal(
      ok(w.run(['query', '--format', 'csv', ...RANGE, '-s', 'acme', '-s', 'big', '-s', 'tenth'])),
      // (0.1 + 0.2) / 2; 12000000000000001 / 4; 1 / 10
      csvDoc('window_start,window_end,subject,value', `${DAY},acme,0.15`, `${DAY},big,3000000000000000.25`, `${DAY},tenth,0.1`),
    );
    w.write('meter.yaml', 'meters:\n  - slug: v\n    eventType: prompt\n    aggregation: MAX\n    valueProperty: $.v\n');
    assert.equal(
      ok(w.run(['query', '--format', 'csv', ...RANGE, '-s', 'mix', '-s', 'neg'])),
      csvDoc('window_start,window_end,subject,value', `${DAY},mix,1`, `${DAY},neg,-0.1`),
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Calendar windows in zones

describe('windows in Europe/Budapest across the October DST change', () => {
  // Values are powers of two, so every sum names the events it holds.
  const EVENTS = [
    ev('w0', 'acme', '2026-09-30T21:59:59Z', { v: 256 }), // Sep 30 23:59:59+02:00
    ev('w1', 'acme', '2026-10-24T21:59:59Z', { v: 1 }), // Oct 24 23:59:59+02:00
    ev('w2', 'acme', '2026-10-24T22:00:00Z', { v: 2 }), // Oct 25 00:00:00+02:00
    ev('w3', 'acme', '2026-10-25T00:30:00Z', { v: 4 }), // Oct 25 02:30:00+02:00, the first 02:00 hour
    ev('w4', 'acme', '2026-10-25T00:30:30Z', { v: 8 }), // Oct 25 02:30:30+02:00
    ev('w5', 'acme', '2026-10-25T01:30:00Z', { v: 16 }), // Oct 25 02:30:00+01:00, the second 02:00 hour
    ev('w6', 'acme', '2026-10-25T22:59:59.999Z', { v: 32 }), // Oct 25 23:59:59.999+01:00
    ev('w7', 'acme', '2026-10-25T23:00:00Z', { v: 64 }), // Oct 26 00:00:00+01:00
    ev('w8', 'acme', '2026-10-31T23:00:00Z', { v: 128 }), // Nov 1 00:00:00+01:00
  ];
  const HEAD = 'window_start,window_end,subject,value';
  let w: Workdir;
  before(() => {
    w = setup('dst', EVENTS, 'meters:\n  - slug: v\n    eventType: prompt\n    aggregation: SUM\n    valueProperty: $.v\n');
  });
  after(() => w.remove());
  const q = (...args: string[]) => ok(w.run(['query', '--format', 'csv', ...args]));
  const BUD = ['--tz', 'Europe/Budapest'];

  test('--window day: the 25-hour day holds everything from local midnight to local midnight', () => {
    assert.equal(
      q('-w', 'day', ...BUD, '--from', '2026-10-24', '--to', '2026-10-27'),
      csvDoc(
        HEAD,
        '2026-10-24T00:00:00+02:00,2026-10-25T00:00:00+02:00,acme,1',
        '2026-10-25T00:00:00+02:00,2026-10-26T00:00:00+01:00,acme,62', // 2 + 4 + 8 + 16 + 32
        '2026-10-26T00:00:00+01:00,2026-10-27T00:00:00+01:00,acme,64',
      ),
    );
  });

  test('the same events in UTC days fall differently', () => {
    assert.equal(
      q('-w', 'daily', '--from', '2026-10-24', '--to', '2026-10-27'),
      csvDoc(
        HEAD,
        '2026-10-24T00:00:00Z,2026-10-25T00:00:00Z,acme,3', // 1 + 2
        '2026-10-25T00:00:00Z,2026-10-26T00:00:00Z,acme,124', // 4 + 8 + 16 + 32 + 64
      ),
    );
  });

  test('--window hour: the two 02:00 hours are two windows, told apart by their offset', () => {
    assert.equal(
      q('-w', 'hour', ...BUD, '--from', '2026-10-24', '--to', '2026-10-27'),
      csvDoc(
        HEAD,
        '2026-10-24T23:00:00+02:00,2026-10-25T00:00:00+02:00,acme,1',
        '2026-10-25T00:00:00+02:00,2026-10-25T01:00:00+02:00,acme,2',
        '2026-10-25T02:00:00+02:00,2026-10-25T02:00:00+01:00,acme,12',
        '2026-10-25T02:00:00+01:00,2026-10-25T03:00:00+01:00,acme,16',
        '2026-10-25T23:00:00+01:00,2026-10-26T00:00:00+01:00,acme,32',
        '2026-10-26T00:00:00+01:00,2026-10-26T01:00:00+01:00,acme,64',
      ),
    );
    assert.equal(
      q('-w', 'hourly', ...BUD, '--from', '2026-10-24', '--to', '2026-10-27'),
      q('-w', 'hour', ...BUD, '--from', '2026-10-24', '--to', '2026-10-27'),
    );
  });

  test('--window minute in both 02:30s; --from/--to given with offsets', () => {
    assert.equal(
      q('-w', 'minute', ...BUD, '--from', '2026-10-25T02:00:00+02:00', '--to', '2026-10-25T03:00:00+01:00'),
      csvDoc(
        HEAD,
        '2026-10-25T02:30:00+02:00,2026-10-25T02:31:00+02:00,acme,12',
        '2026-10-25T02:30:00+01:00,2026-10-25T02:31:00+01:00,acme,16',
      ),
    );
  });

  test('--window month: October in Budapest is 31 days and an hour', () => {
    assert.equal(
      q('-w', 'month', ...BUD),
      csvDoc(
        HEAD,
        '2026-09-01T00:00:00+02:00,2026-10-01T00:00:00+02:00,acme,256',
        '2026-10-01T00:00:00+02:00,2026-11-01T00:00:00+01:00,acme,127',
        '2026-11-01T00:00:00+01:00,2026-12-01T00:00:00+01:00,acme,128',
      ),
    );
    // In UTC, w0 (21:59:59Z) is still September and w8 (23:00Z) still October.
    assert.equal(
      q('-w', 'monthly'),
      csvDoc(HEAD, '2026-09-01T00:00:00Z,2026-10-01T00:00:00Z,acme,256', '2026-10-01T00:00:00Z,2026-11-01T00:00:00Z,acme,255'),
    );
  });

  test('--window month from a day after the DST change, with --fill (the month began before the change)', async () => {
    const args = ['query', '--format', 'csv', '-w', 'month', ...BUD, '--from', '2026-10-28', '--to', '2026-11-05', '--fill'];
    assert.equal(
      ok(await runWithin(w, args, 20_000)),
      csvDoc(
        HEAD,
        '2026-10-01T00:00:00+02:00,2026-11-01T00:00:00+01:00,acme,0',
        '2026-11-01T00:00:00+01:00,2026-12-01T00:00:00+01:00,acme,128',
      ),
    );
    assert.equal(
      q('-w', 'month', ...BUD, '--from', '2026-10-20'),
      csvDoc(
        HEAD,
        '2026-10-01T00:00:00+02:00,2026-11-01T00:00:00+01:00,acme,127',
        '2026-11-01T00:00:00+01:00,2026-12-01T00:00:00+01:00,acme,128',
      ),
    );
  });

  test('a date for --from/--to is midnight in --tz; json from/to carry the offsets', () => {
    const doc = JSON.parse(ok(w.run(['query', '--format', 'json', '-w', 'day', ...BUD, '--from', '2026-10-25', '--to', '2026-10-26']))) as {
      from: string;
      to: string;
      windowSize: string;
      data: Array<{ value: number; windowStart: string; windowEnd: string }>;
    };
    assert.equal(doc.from, '2026-10-25T00:00:00+02:00');
    assert.equal(doc.to, '2026-10-26T00:00:00+01:00');
    assert.equal(doc.windowSize, 'DAY');
    assert.deepEqual(
      doc.data.map((r) => [r.windowStart, r.windowEnd, r.value]),
      [['2026-10-25T00:00:00+02:00', '2026-10-26T00:00:00+01:00', 62]],
    );
  });

  test('--fill adds zero rows for the empty hours of the 25-hour day', () => {
    const rows = csvRows(q('-w', 'hour', ...BUD, '--from', '2026-10-25', '--to', '2026-10-26', '--fill'));
    assert.deepEqual(rows[0], ['window_start', 'window_end', 'subject', 'value']);
    assert.equal(rows.length - 1, 25, '25 hour windows');
    assert.deepEqual(rows[1], ['2026-10-25T00:00:00+02:00', '2026-10-25T01:00:00+02:00', 'acme', '2']);
    assert.deepEqual(rows[2], ['2026-10-25T01:00:00+02:00', '2026-10-25T02:00:00+02:00', 'acme', '0']);
    assert.deepEqual(rows[3], ['2026-10-25T02:00:00+02:00', '2026-10-25T02:00:00+01:00', 'acme', '12']);
    assert.deepEqual(rows[4], ['2026-10-25T02:00:00+01:00', '2026-10-25T03:00:00+01:00', 'acme', '16']);
    assert.deepEqual(rows[5], ['2026-10-25T03:00:00+01:00', '2026-10-25T04:00:00+01:00', 'acme', '0']);
    assert.deepEqual(rows[25], ['2026-10-25T23:00:00+01:00', '2026-10-26T00:00:00+01:00', 'acme', '32']);
    assert.equal(
      rows.slice(1).reduce((s, r) => s + Number(r[3]), 0),
      62,
    );
  });
});

describe('windows in Asia/Kathmandu (+05:45)', () => {
  let w: Workdir;
  before(() => {
    w = setup(
      'kathmandu',
      [
        ev('k1', 'ktm', '2026-11-01T10:00:00Z', { v: 1 }), // 15:45+05:45
        ev('k2', 'ktm', '2026-11-01T10:14:59.999Z', { v: 2 }), // 15:59:59.999+05:45
        ev('k3', 'ktm', '2026-11-01T10:15:00Z', { v: 4 }), // 16:00+05:45
        ev('k4', 'ktm', '2026-11-01T18:15:00Z', { v: 8 }), // Nov 2 00:00+05:45
      ],
      'meters:\n  - slug: v\n    eventType: prompt\n    aggregation: SUM\n    valueProperty: $.v\n',
    );
  });
  after(() => w.remove());

  test('hours start at :15 UTC', () => {
    assert.equal(
      ok(w.run(['query', '--format', 'csv', '-w', 'hour', '--tz', 'Asia/Kathmandu'])),
      csvDoc(
        'window_start,window_end,subject,value',
        '2026-11-01T15:00:00+05:45,2026-11-01T16:00:00+05:45,ktm,3',
        '2026-11-01T16:00:00+05:45,2026-11-01T17:00:00+05:45,ktm,4',
        '2026-11-02T00:00:00+05:45,2026-11-02T01:00:00+05:45,ktm,8',
      ),
    );
  });

  test('days start at 18:15 UTC', () => {
    assert.equal(
      ok(w.run(['query', '--format', 'csv', '-w', 'day', '--tz', 'Asia/Kathmandu'])),
      csvDoc(
        'window_start,window_end,subject,value',
        '2026-11-01T00:00:00+05:45,2026-11-02T00:00:00+05:45,ktm,7',
        '2026-11-02T00:00:00+05:45,2026-11-03T00:00:00+05:45,ktm,8',
      ),
    );
  });

  test('an unaligned --from in Kathmandu local time', () => {
    // 2026-11-01T16:00 local = 10:15Z: k1 and k2 are before it.
    assert.equal(
      ok(w.run(['query', '--format', 'csv', '-w', 'day', '--tz', 'Asia/Kathmandu', '--from', '2026-11-01T16:00'])),
      csvDoc(
        'window_start,window_end,subject,value',
        '2026-11-01T00:00:00+05:45,2026-11-02T00:00:00+05:45,ktm,4',
        '2026-11-02T00:00:00+05:45,2026-11-03T00:00:00+05:45,ktm,8',
      ),
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Range bounds and --fill

describe('--from inclusive, --to exclusive', () => {
  let w: Workdir;
  before(() => {
    w = setup(
      'range',
      [
        ev('r8', 'acme', '2026-11-01T09:59:59.999Z', { v: 8 }),
        ev('r1', 'acme', '2026-11-01T10:00:00Z', { v: 1 }),
        ev('r2', 'acme', '2026-11-01T10:59:59.999Z', { v: 2 }),
        ev('r4', 'acme', '2026-11-01T11:00:00Z', { v: 4 }),
      ],
      'meters:\n  - slug: v\n    eventType: prompt\n    aggregation: SUM\n    valueProperty: $.v\n',
    );
  });
  after(() => w.remove());
  const q = (...args: string[]) => ok(w.run(['query', '--format', 'csv', ...args]));

  test('an event exactly at --from counts, one exactly at --to does not', () => {
    assert.equal(
      q('--from', '2026-11-01T10:00:00Z', '--to', '2026-11-01T11:00:00Z'),
      csvDoc('window_start,window_end,subject,value', '2026-11-01T10:00:00Z,2026-11-01T11:00:00Z,acme,3'),
    );
    // The same instants written in +01:00 and -03:30; the bounds print in --tz (UTC).
    assert.equal(
      q('--from', '2026-11-01T11:00:00+01:00', '--to', '2026-11-01T07:30:00-03:30'),
      csvDoc('window_start,window_end,subject,value', '2026-11-01T10:00:00Z,2026-11-01T11:00:00Z,acme,3'),
    );
    assert.equal(
      q('--from', '2026-11-01T09:59:59.999Z', '--to', '2026-11-01T11:00:00.001Z'),
      csvDoc('window_start,window_end,subject,value', '2026-11-01T09:59:59.999Z,2026-11-01T11:00:00.001Z,acme,15'),
    );
  });

  test('unaligned --from/--to with a window: partial first and last windows', () => {
    assert.equal(
      q('-w', 'hour', '--from', '2026-11-01T10:30:00Z', '--to', '2026-11-01T11:00:00.001Z'),
      csvDoc(
        'window_start,window_end,subject,value',
        '2026-11-01T10:00:00Z,2026-11-01T11:00:00Z,acme,2',
        '2026-11-01T11:00:00Z,2026-11-01T12:00:00Z,acme,4',
      ),
    );
  });

  test('only --from, or only --to', () => {
    assert.equal(csvRows(q('--from', '2026-11-01T10:00:00Z'))[1]![3], '7');
    assert.equal(csvRows(q('--to', '2026-11-01T10:00:00Z'))[1]![3], '8');
  });

  test('--from >= --to is a usage error (exit 2)', () => {
    assert.match(
      usageError(w.run(['query', '--from', '2026-11-01T11:00:00Z', '--to', '2026-11-01T10:00:00Z'])),
      /--from .* not before --to/,
    );
    assert.match(usageError(w.run(['query', '--from', '2026-11-01T10:00:00Z', '--to', '2026-11-01T11:00:00+01:00'])), /not before/);
    assert.match(usageError(w.run(['query', '--from', '2026-11-02', '--to', '2026-11-01', '--format', 'csv'])), /not before/);
  });
});

describe('--fill', () => {
  let w: Workdir;
  before(() => {
    w = setup(
      'fill',
      [
        ev('f1', 'acme', '2026-11-01T10:10:00Z', { v: 1, model: 'a' }),
        ev('f2', 'acme', '2026-11-01T12:10:00Z', { v: 2, model: 'a' }),
        ev('f3', 'beta', '2026-11-01T12:30:00Z', { v: 4, model: 'b' }),
      ],
      'meters:\n  - slug: v\n    eventType: prompt\n    aggregation: SUM\n    valueProperty: $.v\n    groupBy:\n      model: $.model\n' +
        '  - slug: n\n    eventType: prompt\n    aggregation: COUNT\n  - slug: top\n    eventType: prompt\n    aggregation: MAX\n    valueProperty: $.v\n',
    );
  });
  after(() => w.remove());
  const q = (...args: string[]) =>
    ok(w.run(['query', '--format', 'csv', '--from', '2026-11-01T10:00:00Z', '--to', '2026-11-01T14:00:00Z', ...args]));

  test('without --fill, windows without events are left out', () => {
    assert.equal(
      q('-m', 'v', '-w', 'hour'),
      csvDoc(
        'window_start,window_end,subject,value',
        '2026-11-01T10:00:00Z,2026-11-01T11:00:00Z,acme,1',
        '2026-11-01T12:00:00Z,2026-11-01T13:00:00Z,acme,2',
        '2026-11-01T12:00:00Z,2026-11-01T13:00:00Z,beta,4',
      ),
    );
  });

  test('with --fill, every window of the range has a row for every group present (0 for SUM and COUNT)', () => {
    const expected = (value: (subject: string, hour: number) => string) =>
      csvDoc(
        'window_start,window_end,subject,value',
        ...[10, 11, 12, 13].flatMap((h) =>
          ['acme', 'beta'].map((s) => `2026-11-01T${h}:00:00Z,2026-11-01T${h + 1}:00:00Z,${s},${value(s, h)}`),
        ),
      );
    assert.equal(
      q('-m', 'v', '-w', 'hour', '--fill'),
      expected((s, h) => (s === 'acme' && h === 10 ? '1' : s === 'acme' && h === 12 ? '2' : s === 'beta' && h === 12 ? '4' : '0')),
    );
    assert.equal(
      q('-m', 'n', '-w', 'hour', '--fill'),
      expected((s, h) => ((s === 'acme' && (h === 10 || h === 12)) || (s === 'beta' && h === 12) ? '1' : '0')),
    );
    // MAX of no events is no value, not 0.
    assert.equal(
      q('-m', 'top', '-w', 'hour', '--fill'),
      expected((s, h) => (s === 'acme' && h === 10 ? '1' : s === 'acme' && h === 12 ? '2' : s === 'beta' && h === 12 ? '4' : '')),
    );
  });

  test('--fill with --group-by and --all-subjects', () => {
    assert.equal(
      q('-m', 'v', '-w', 'hour', '--fill', '--all-subjects', '-g', 'model', '--to', '2026-11-01T13:00:00Z'),
      csvDoc(
        'window_start,window_end,subject,model,value',
        '2026-11-01T10:00:00Z,2026-11-01T11:00:00Z,,a,1',
        '2026-11-01T10:00:00Z,2026-11-01T11:00:00Z,,b,0',
        '2026-11-01T11:00:00Z,2026-11-01T12:00:00Z,,a,0',
        '2026-11-01T11:00:00Z,2026-11-01T12:00:00Z,,b,0',
        '2026-11-01T12:00:00Z,2026-11-01T13:00:00Z,,a,2',
        '2026-11-01T12:00:00Z,2026-11-01T13:00:00Z,,b,4',
      ),
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// CSV: quoting and formula defusing

describe('CSV for spreadsheets', () => {
  const SUBJECTS: Array<[subject: string, model: string, value: number]> = [
    ['plain', '=1+1', 1],
    ['a,b', '-x', 2],
    ['say "hi"', 'm', 3],
    ['two\nlines', 'm', 4],
    ['=HYPERLINK("http://x")', 'm', 5],
    ['+1', 'm', 6],
    ['-2', 'm', -5],
    ['@me', '@sum', 7],
    ['\tTab', 'm', 8],
    ['\rCR', 'm', 9],
    ['credit', 'm', -0.25],
  ];
  let w: Workdir;
  before(() => {
    w = setup(
      'csv',
      SUBJECTS.map(([s, model, v], i) => ev(`c${i}`, s, '2026-11-01T10:00:00Z', { v, model })),
      'meters:\n  - slug: v\n    eventType: prompt\n    aggregation: SUM\n    valueProperty: $.v\n    groupBy:\n      model: $.model\n',
    );
  });
  after(() => w.remove());

  test('RFC 4180 quoting, formula cells defused with a leading quote, negative values plain numbers', () => {
    const out = ok(w.run(['query', '--format', 'csv', ...RANGE, '-g', 'model']));
    // Rows in subject order (by code point): \t, \r, +, -, =, @, a, c, p, s, t.
    assert.equal(
      out,
      [
        'window_start,window_end,subject,model,value',
        `${DAY},'\tTab,m,8`,
        `${DAY},"'\rCR",m,9`,
        `${DAY},'+1,m,6`,
        `${DAY},'-2,m,-5`,
        `${DAY},"'=HYPERLINK(""http://x"")",m,5`,
        `${DAY},'@me,'@sum,7`,
        `${DAY},"a,b",'-x,2`,
        `${DAY},credit,m,-0.25`,
        `${DAY},plain,'=1+1,1`,
        `${DAY},"say ""hi""",m,3`,
        `${DAY},"two\nlines",m,4`,
      ].join('\n') + '\n',
    );
  });

  test('json and ndjson carry the raw text (no defusing there)', () => {
    const doc = JSON.parse(ok(w.run(['query', '--format', 'json', ...RANGE, '-s', '=HYPERLINK("http://x")', '-s', '-2']))) as {
      data: Array<{ subject: string; value: number }>;
    };
    assert.deepEqual(
      doc.data.map((r) => [r.subject, r.value]),
      [
        ['-2', -5],
        ['=HYPERLINK("http://x")', 5],
      ],
    );
    const nd = ok(w.run(['query', '--format', 'ndjson', ...RANGE, '-s', 'two\nlines']));
    assert.equal(nd.split('\n').length, 2, 'a newline in a subject stays escaped inside its one line');
    assert.equal((JSON.parse(nd) as { subject: string }).subject, 'two\nlines');
  });

  test('meter subjects --format csv defuses and quotes too', () => {
    const out = ok(w.run(['subjects', '--format', 'csv']));
    assert.ok(out.includes(`\n"'=HYPERLINK(""http://x"")",1,`), out);
    assert.ok(out.includes('\n"a,b",1,'), out);
    assert.ok(out.includes(`\n'-2,1,`), out);
    assert.ok(out.includes(`\n"'\rCR",1,`), out);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// No config; config discovery; invalid configs; help

describe('without a meter config', () => {
  let w: Workdir;
  before(() => {
    w = setup('noconfig', [
      ev('1', 'acme', '2026-11-01T10:00:00Z', { tokens: 1 }),
      ev('2', 'acme', '2026-11-01T10:30:00Z', null),
      ev('3', 'acme', '2026-11-01T11:00:00Z', {}, 'request'),
      ev('4', 'beta', '2026-11-01T12:00:00Z', {}, 'request'),
    ]);
  });
  after(() => w.remove());

  test('query counts events per subject and type', () => {
    assert.equal(
      ok(w.run(['query', '--format', 'csv', ...RANGE])),
      csvDoc('window_start,window_end,subject,type,value', `${DAY},acme,prompt,2`, `${DAY},acme,request,1`, `${DAY},beta,request,1`),
    );
    assert.equal(
      ok(w.run(['query', '--format', 'csv', ...RANGE, '--all-subjects', '-w', 'hour'])),
      csvDoc(
        'window_start,window_end,subject,type,value',
        '2026-11-01T10:00:00Z,2026-11-01T11:00:00Z,,prompt,2',
        '2026-11-01T11:00:00Z,2026-11-01T12:00:00Z,,request,1',
        '2026-11-01T12:00:00Z,2026-11-01T13:00:00Z,,request,1',
      ),
    );
    assert.equal(
      ok(w.run(['query', '--format', 'csv', ...RANGE, '-f', 'type=request', '-s', 'acme'])),
      csvDoc('window_start,window_end,subject,type,value', `${DAY},acme,request,1`),
    );
  });

  test('meter meters says there is no config; an unknown meter is a usage error', () => {
    // On stderr, a message: stdout holds data only.
    const r = w.run(['meters']);
    assert.equal(r.code, 0, r.describe());
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^meter: no meter config/);
    assert.match(usageError(w.run(['query', '-m', 'tokens'])), /unknown meter "tokens".*no meters are configured/);
  });

  test('--config FILE and METER_CONFIG are found; --config wins over ./meter.yaml', () => {
    w.write('conf/a.yaml', 'meters:\n  - slug: a\n    eventType: prompt\n    aggregation: COUNT\n');
    w.write('conf/b.yaml', 'meters:\n  - slug: b\n    eventType: request\n    aggregation: COUNT\n');
    assert.equal(
      ok(w.run(['query', '--format', 'csv', ...RANGE, '--config', 'conf/a.yaml'])),
      csvDoc('window_start,window_end,subject,value', `${DAY},acme,2`),
    );
    assert.equal(
      ok(w.run(['query', '--format', 'csv', ...RANGE], { env: { METER_CONFIG: 'conf/b.yaml' } })),
      csvDoc('window_start,window_end,subject,value', `${DAY},acme,1`, `${DAY},beta,1`),
    );
    w.write('meter.yaml', 'meters:\n  - slug: dflt\n    eventType: request\n    aggregation: COUNT\n');
    try {
      assert.match(ok(w.run(['meters'])), /meter\.yaml: 1 meter[\s\S]*dflt/);
      assert.equal(
        ok(w.run(['query', '--format', 'csv', ...RANGE, '--all-subjects'])),
        csvDoc('window_start,window_end,subject,value', `${DAY},,2`),
      );
      assert.equal(
        ok(w.run(['query', '--format', 'csv', ...RANGE, '--all-subjects', '--config', 'conf/a.yaml'])),
        csvDoc('window_start,window_end,subject,value', `${DAY},,2`),
      );
      assert.match(ok(w.run(['meters', '--config', 'conf/a.yaml'])), / a .* prompt .* COUNT/);
      assert.match(usageError(w.run(['query', '--config', 'conf/missing.yaml'])), /conf\/missing\.yaml/);
    } finally {
      fs.rmSync(w.path('meter.yaml'));
    }
  });

  test('an invalid config: meters and query exit 2 listing every problem', () => {
    w.write(
      'bad.yaml',
      'ingest:\n  kafka:\n    broker: x\nmeters:\n  - slug: Bad-Slug\n    eventType: prompt\n    aggregation: COUNT\n' +
        '  - slug: no_value\n    eventType: prompt\n    aggregation: SUM\n  - slug: bad_path\n    eventType: prompt\n    aggregation: MAX\n    valueProperty: tokens\n' +
        '  - slug: counted\n    eventType: prompt\n    aggregation: COUNT\n    valueProperty: $.tokens\n',
    );
    for (const args of [
      ['meters', '--config', 'bad.yaml'],
      ['query', '--config', 'bad.yaml'],
      ['meters', '--json', '--config', 'bad.yaml'],
    ]) {
      const err = usageError(w.run(args));
      assert.match(err, /bad\.yaml/);
      assert.match(err, /"Bad-Slug" slug:/);
      assert.match(err, /"no_value" valueProperty: required for SUM/);
      assert.match(err, /"bad_path" valueProperty: "tokens" is not a \$\.a\.b style JSON path/);
      assert.match(err, /"counted" valueProperty: COUNT/);
    }
  });
});

describe('keys named __proto__', () => {
  test('a group-by key and a data key named __proto__ are members like any other in JSON and NDJSON', () => {
    const w = new Workdir('proto-key');
    try {
      w.write(
        'meter.yaml',
        'meters:\n  - {slug: m, eventType: t, aggregation: SUM, valueProperty: $.v, groupBy: {__proto__: $.__proto__}}\n',
      );
      w.write('e.ndjson', [
        line({ id: '1', type: 't', subject: 'c', time: '2026-10-05T00:00:00Z', data: JSON.parse('{"v":1,"__proto__":"x"}') }),
        line({ id: '2', type: 't', subject: 'c', time: '2026-10-05T00:00:00Z', data: { v: 2 } }),
      ]);
      ok(w.run(['ingest', '--quiet', 'e.ndjson']));
      for (const format of ['json', 'ndjson']) {
        const out = ok(w.run(['query', '-g', '__proto__', '--format', format]));
        const groups = out.match(/"groupBy":\{[^}]*\}/g);
        // Two groups: the events without the key (an empty value, first), and x.
        assert.deepEqual(groups, ['"groupBy":{"__proto__":""}', '"groupBy":{"__proto__":"x"}'], out);
      }
    } finally {
      w.remove();
    }
  });
});

describe('help', () => {
  test('meter query --help shows the flags and examples', () => {
    const w = new Workdir('help');
    try {
      const out = ok(w.run(['query', '--help']));
      for (const flag of [
        '--meter',
        '--window',
        '--tz',
        '--from',
        '--to',
        '--subject',
        '--group-by',
        '--filter',
        '--fill',
        '--all-subjects',
        '--format',
        '--output',
      ]) {
        assert.ok(out.includes(flag), `help mentions ${flag}`);
      }
      assert.match(out, /Examples:\n\s+meter query /);
      assert.match(out, /inclusive/);
      assert.match(out, /exclusive/);
    } finally {
      w.remove();
    }
  });
});
