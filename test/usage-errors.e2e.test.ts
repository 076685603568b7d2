/**
 * Usage errors the README promises as exit 2, each with a message that says what to write: no command, help for
 * a command that does not exist, empty or unknown store specs and output paths, numbers too large, conflicting
 * options, meter configs with every problem listed (reserved group-by keys among them); and output that keeps two
 * different customers apart (CSV's formula guard, escapes in tables).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import { defuseCell } from '../src/output/csv.js';
import { terminalSafe } from '../src/output/table.js';
import { event, workdirs } from './helpers.js';

const workdir = workdirs();

describe('usage errors: exit 2 and a message that says what to write', () => {
  const w = workdir('usage-errors');
  w.write('e.ndjson', [JSON.stringify(event({ id: 'a', subject: 'acme' }))]);
  w.write('m.yaml', 'meters:\n  - {slug: tokens, eventType: prompt, aggregation: SUM, valueProperty: $.tokens}\n');
  const usage = (args: string[], message: RegExp | null, env: Record<string, string> = {}) => {
    const r = w.run(args, { env });
    assert.equal(r.code, 2, r.describe());
    if (message) assert.match(r.stderr, message, r.describe());
  };

  test('no command, or help for one that does not exist; help asked for is exit 0', () => {
    usage([], /Usage: meter/);
    usage(['help', 'bogus'], /Usage: meter/);
    for (const args of [['help'], ['help', 'query'], ['help', 'help'], ['--help']]) assert.equal(w.run(args).code, 0, args.join(' '));
  });

  test('stores: an empty --db, another scheme, a ClickHouse URL without //; an empty METER_DB is unset', () => {
    usage(['stats', '--db', ''], /^meter: --db: empty; give a SQLite file path or clickhouse:\/\/host:8123\/db\n$/);
    usage(['ingest', '--db', 'clickhouse:meter', 'e.ndjson'], /^meter: --db clickhouse:meter: not a store meter can open/);
    usage(['stats', '--db', 'mysql://x/y'], /^meter: --db mysql:\/\/x\/y: not a store meter can open/);
    usage(
      ['ingest', '--db', 'sqlite:z.db', 'e.ndjson'],
      /^meter: --db sqlite:z\.db: not a store meter can open; give a SQLite file path \(\.\/sqlite:z\.db for a file of that name\)/,
    );
    usage(['stats'], /^meter: METER_DB file:y\.db: not a store meter can open/, { METER_DB: 'file:y.db' });
    assert.ok(!fs.existsSync(w.path('clickhouse:meter')), 'no SQLite file named after the URL');
    assert.equal(w.run(['ingest', 'e.ndjson'], { env: { METER_DB: '' } }).code, 0);
    assert.ok(fs.existsSync(w.path('meter.db')), 'METER_DB= is the default store');
  });

  test('outputs and numbers: an empty -o or --rejects, a count past 2^53, --fill without --window', () => {
    usage(['query', '--config', 'm.yaml', '-o', ''], /^meter: --output: empty; give a file, or - for standard output\n$/);
    usage(['ingest', '--rejects', '', 'e.ndjson'], /^meter: --rejects: empty; give a file\n$/);
    usage(['events', '-n', '99999999999999999999'], /^meter: --limit "99999999999999999999": too large \(at most 9007199254740991\)\n$/);
    usage(['events', '-n', '0'], /must be a positive whole number/);
    usage(['query', '--config', 'm.yaml', '--fill'], /^meter: --fill needs --window/);
  });

  test('a meter config lists every problem at once, each with its line; group-by keys that are output columns are reserved', () => {
    w.write(
      'bad.yaml',
      [
        'meters:',
        '  - {slug: a, eventType: p, aggregation: SUMM, valueProperty: tokens, groupBy: {value: $.v, window_start: $.w}}',
        '  - slug: b',
        '    aggregation: SUM',
        '    groupBy:',
        '      model: $.model',
        '      "a b": $.x',
        '  - 42',
      ].join('\n'),
    );
    const r = w.run(['meters', '--config', 'bad.yaml']);
    assert.equal(r.code, 2, r.describe());
    assert.deepEqual(r.stderr.trimEnd().split('\n').slice(1), [
      '  line 2: meter "a" aggregation: "SUMM" is not one of SUM, COUNT, AVG, MIN, MAX, UNIQUE_COUNT, LATEST',
      '  line 2: meter "a" valueProperty: "tokens" is not a $.a.b style JSON path',
      '  line 2: meter "a" groupBy.value: "value" is reserved',
      '  line 2: meter "a" groupBy.window_start: "window_start" is reserved',
      // A field left out is on the line its meter starts.
      '  line 3: meter "b" eventType: missing',
      '  line 3: meter "b" valueProperty: required for SUM',
      '  line 7: meter "b" groupBy.a b: key must match ^[a-zA-Z_][0-9a-zA-Z_]*$',
      '  line 8: meter #3: must be a mapping with slug, eventType, aggregation',
    ]);
  });
});

describe('two customers never print alike', () => {
  test("CSV: a cell that starts with ' is guarded too, so '=x and =x stay apart", () => {
    assert.equal(defuseCell('=x'), "'=x");
    assert.equal(defuseCell("'=x"), "''=x");
    assert.equal(defuseCell("'quoted'"), "''quoted'");
    assert.equal(defuseCell('acme'), 'acme');
  });

  test('tables: a backslash is doubled, and characters drawn as nothing are escaped', () => {
    assert.equal(terminalSafe('ac\u200bme'), 'ac\\u200bme');
    assert.equal(terminalSafe('ac\\u200bme'), 'ac\\\\u200bme');
    for (const c of ['\u034f', '\u17b4', '\u115f', '\u3164', '\ufe0f'])
      assert.equal(terminalSafe(`acme${c}`), `acme\\u${c.codePointAt(0)!.toString(16).padStart(4, '0')}`);
  });
});

describe('Ctrl-C and SIGTERM in the other commands', () => {
  test('meter map, as every command but ingest and serve, is ended by the signal at once', async () => {
    const w = workdir('signals');
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      // A map reading a stdin that stays open is mid-run.
      const { child, done } = w.spawn(['map', '--map', 'openai', '-']);
      await new Promise((r) => setTimeout(r, 1500));
      child.kill(sig);
      const r = await done;
      assert.equal(r.signal, sig, r.describe());
    }
  });
});

describe('two rows of a report are never named alike', () => {
  test('a group value "(none)" and a missing one, a subject holding the separator', () => {
    const w = workdir('report-labels');
    w.write('m.yaml', 'meters:\n  - {slug: t, eventType: prompt, aggregation: SUM, valueProperty: $.tokens, groupBy: {model: $.model}}\n');
    w.write('e.ndjson', [
      JSON.stringify(event({ id: '1', subject: 'acme', data: { tokens: 7, model: '(none)' } })),
      JSON.stringify(event({ id: '2', subject: 'acme', data: { tokens: 5 } })),
      JSON.stringify(event({ id: '3', subject: 'a · b', data: { tokens: 1, model: 'x' } })),
    ]);
    assert.equal(w.run(['ingest', 'e.ndjson']).code, 0);
    const labels = (args: string[]) => {
      const r = w.run(['report', '--config', 'm.yaml', '--period', '2026-11', '-o', 'r.html', ...args]);
      assert.equal(r.code, 0, r.describe());
      const doc = JSON.parse(/<script type="application\/json" id="report-data">([^<]*)<\/script>/.exec(w.read('r.html'))![1]!);
      return (doc.meters[0].rows as Array<{ label: string }>).map((x) => x.label).sort();
    };
    assert.deepEqual(labels(['-g', 'model']), ['"(none)"', '(none)', 'x']);
    assert.deepEqual(labels([]), ['"a · b"', 'acme']);
  });
});
