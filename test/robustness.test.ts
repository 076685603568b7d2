/**
 * Robustness of the CLI around its input and output, each defect class as generated cases from a seeded PRNG
 * (set METER_TEST_SEED to replay; the seed is in every failure message): gzip with trailing bytes, large tables,
 * clear messages for odd input and flags. Each case runs the real bin/meter.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import zlib from 'node:zlib';
import Database from 'better-sqlite3';
import { line, workdirs, type RunResult } from './helpers.js';
import { prng } from '../bench/generate.js';

const SEED = Number(process.env.METER_TEST_SEED ?? Date.now() % 2 ** 31);
const workdir = workdirs();

function why(label: string, r?: RunResult): string {
  return `seed ${SEED} (METER_TEST_SEED=${SEED} to replay): ${label}${r ? '\n' + r.describe() : ''}`;
}

/** N distinct valid event lines with ids `${prefix}${i}`. */
function eventLines(n: number, prefix: string, rand: () => number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const tokens = Math.floor(rand() * 1e6);
    out.push(
      line({
        id: `${prefix}${i}`,
        subject: `c${i % 13}`,
        time: new Date(Date.parse('2026-10-01T00:00:00Z') + i * 1000).toISOString(),
        data: { tokens, pad: 'x'.repeat(Math.floor(rand() * 40)) },
      }),
    );
  }
  return out;
}

function storedIds(file: string): string[] {
  if (!fs.existsSync(file)) return [];
  const db = new Database(file, { readonly: true });
  try {
    // Sorted by input position (prefix, then number): a chunk is stored in subject order, not input order.
    const ids = db.prepare('SELECT id FROM events').pluck().all() as string[];
    return ids.sort((x, y) => x[0]!.localeCompare(y[0]!) || Number(x.slice(1)) - Number(y.slice(1)));
  } finally {
    db.close();
  }
}

function rejectsOf(file: string): Array<{ file: string; line: number; error: string }> {
  const text = fs.readFileSync(file, 'utf8').trim();
  return text === '' ? [] : text.split('\n').map((l) => JSON.parse(l));
}

describe('gzip with bytes after a complete member: like gzip -dc', () => {
  const KINDS = ['newline', 'zeros', 'whitespace', 'garbage', 'member', 'truncated member'] as const;
  for (const n of [1, 10, 1000, 20_000]) {
    test(`${n} events followed by each kind of trailing bytes, from a file and from stdin`, () => {
      const rand = prng(SEED + n);
      const w = workdir(`gz-${n}`);
      const lines = eventLines(n, 'a', rand);
      const body = zlib.gzipSync(lines.join('\n') + (rand() < 0.5 ? '\n' : ''), { level: 1 + Math.floor(rand() * 9) });
      for (const kind of KINDS) {
        const second = eventLines(1 + Math.floor(rand() * 2000), 'b', rand);
        let tail: Buffer;
        if (kind === 'newline') tail = Buffer.from('\n');
        else if (kind === 'zeros') tail = Buffer.alloc(1 + Math.floor(rand() * 4096));
        else if (kind === 'whitespace')
          tail = Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 20) }, () => ' \t\r\n'[Math.floor(rand() * 4)]).join(''));
        else if (kind === 'garbage') {
          // Random bytes that are neither padding nor a gzip header.
          tail = Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 3000) }, () => Math.floor(rand() * 256)));
          tail[0] = 0x21 + Math.floor(rand() * 0x5e);
        } else {
          // Its text starts on a new line: the first member's text may end without one.
          const gz = zlib.gzipSync('\n' + second.join('\n') + '\n');
          tail = kind === 'member' ? gz : gz.subarray(0, 10 + Math.floor(rand() * (gz.length - 18)));
        }
        const input = Buffer.concat([body, tail]);
        w.write('in.ndjson.gz', input);
        for (const via of ['file', 'stdin'] as const) {
          const db = `${kind.replace(' ', '-')}-${via}.db`;
          const args = ['ingest', ...(via === 'file' ? ['in.ndjson.gz'] : ['-']), '--db', db, '--rejects', 'rejects.ndjson', '--quiet'];
          const r = via === 'file' ? w.run(args) : w.run(args, { input }); // stdin through a pipe
          const label = `${n} events + ${kind} (${tail.length} bytes) via ${via}`;
          const ids = storedIds(w.path(db));
          const rejects = rejectsOf(w.path('rejects.ndjson'));
          const firstIds = lines.map((_, i) => `a${i}`);
          // Every event of the complete member is stored, in order, whatever follows it.
          assert.deepEqual(ids.slice(0, n), firstIds, why(`${label}: events of the complete member`, r));
          const name = via === 'file' ? 'in.ndjson.gz' : '-';
          if (kind === 'newline' || kind === 'zeros' || kind === 'whitespace') {
            assert.equal(r.code, 0, why(label, r));
            assert.equal(ids.length, n, why(label, r));
            assert.deepEqual(rejects, [], why(label, r));
          } else if (kind === 'member') {
            assert.equal(r.code, 0, why(label, r));
            assert.deepEqual(ids, [...firstIds, ...second.map((_, i) => `b${i}`)], why(label, r));
            assert.deepEqual(rejects, [], why(label, r));
          } else if (kind === 'garbage') {
            assert.equal(r.code, 3, why(label, r));
            assert.equal(ids.length, n, why(label, r));
            assert.equal(rejects.length, 1, why(`${label}: ${JSON.stringify(rejects)}`, r));
            assert.equal(rejects[0]!.file, name);
            assert.match(rejects[0]!.error, /trailing garbage after gzip data ignored/, why(label, r));
          } else {
            // A truncated second member: what it decodes to before the cut is a prefix of its events.
            assert.equal(r.code, 3, why(label, r));
            assert.deepEqual(
              ids.slice(n),
              second.slice(0, ids.length - n).map((_, i) => `b${i}`),
              why(label, r),
            );
            assert.equal(rejects.length, 1, why(`${label}: ${JSON.stringify(rejects)}`, r));
            assert.equal(rejects[0]!.file, name);
            assert.match(rejects[0]!.error, /gzip data is corrupt or truncated/, why(label, r));
          }
        }
      }
    });
  }
});

describe('table output is streamed: any number of rows', () => {
  test('150,000 subjects as a query table and a subjects table: exit 0, every row once, escapes kept, the total line', () => {
    const rand = prng(SEED ^ 0x5eed);
    const w = workdir('table-150k');
    const N = 150_000;
    // Subjects of random length; a few far wider than the first page's, and some with control characters.
    const subjects = Array.from({ length: N }, (_, i) => {
      const r = rand();
      if (r < 0.001) return `wide-${i}-${'w'.repeat(50 + Math.floor(rand() * 100))}`;
      if (r < 0.002) return `esc-${i}\u001b[2J\t`;
      return `s${i}-${'x'.repeat(Math.floor(rand() * 12))}`;
    });
    const lines = subjects.map((subject, i) => line({ id: `t${i}`, subject, data: { tokens: 1 + (i % 7) } }));
    w.write('t.ndjson', lines);
    assert.equal(w.run(['ingest', 't.ndjson', '--db', 't.db', '-q']).code, 0);
    const shown = (s: string) => s.replace(/\u001b/g, '\\u001b').replace(/\t/g, '\\u0009');
    const check = (r: RunResult, what: string, subjectColumn: number) => {
      assert.equal(r.code, 0, why(what, r));
      assert.doesNotMatch(r.stdout, /[\u0000-\u0009\u000b-\u001f]/, why(`${what}: a raw control character`));
      const rows = r.stdout
        .split('\n')
        .filter((l) => l.startsWith('│ '))
        .slice(1);
      const cells = rows.map((l) => l.split('│').map((c) => c.trim()));
      const seen = new Map<string, number>();
      for (const c of cells) seen.set(c[subjectColumn]!, (seen.get(c[subjectColumn]!) ?? 0) + 1);
      for (const s of subjects) assert.equal(seen.get(shown(s)), 1, why(`${what}: subject ${JSON.stringify(s)} is not printed once`));
      return cells;
    };
    const q = w.run(['query', '--db', 't.db']);
    const cells = check(q, 'query table', 3);
    assert.equal(cells.length, N + 1, why('query table: rows and the total line'));
    assert.deepEqual(cells.at(-1)!.slice(1, 2), ['total'], why('query table: the last line is the total'));
    assert.equal(cells.at(-1)!.at(-2), String(N), why('query table: the COUNT total'));
    assert.match(q.stdout, new RegExp(`${N} rows`));
    const s = w.run(['subjects', '--db', 't.db']);
    assert.equal(check(s, 'subjects table', 1).length, N, why('subjects table'));
  });
});

describe('long subjects: memory bounded by characters, not only by counts', () => {
  test('60 subjects of 512 KiB (more than a chunk of 16 Mi characters): every event stored once, every hourly row exact, CSV as the events give it', () => {
    const w = workdir('long-subjects');
    // Subjects that share a 512 KiB prefix and differ at the end, all in one hour: they pass the parse worker's
    // chunk bound (posted before its count of events), the writer's subject_rows bound and an hour-table page's
    // text bound (each row read on its own).
    const subject = (i: number) => `${'p'.repeat(512 * 1024)}${String(i).padStart(3, '0')}`;
    const lines = Array.from({ length: 60 }, (_, i) => line({ id: `l${i}`, subject: subject(i), data: { tokens: i } }));
    w.write('l.ndjson', lines);
    const ing = w.run(['ingest', 'l.ndjson', '--db', 'l.db', '-q']);
    assert.equal(ing.code, 0, why('ingest', ing));
    assert.equal(storedIds(w.path('l.db')).length, 60);
    const subjects = w.run(['subjects', '--db', 'l.db', '--format', 'csv']);
    assert.equal(subjects.code, 0, why('subjects', subjects));
    assert.equal(subjects.stdout.trim().split('\n').length, 61, why('subjects: a header and 60 rows'));
    w.write('m.yaml', 'meters:\n  - slug: t\n    eventType: prompt\n    aggregation: SUM\n    valueProperty: $.tokens\n');
    const args = ['query', '--db', 'l.db', '--config', 'm.yaml', '--window', 'hour', '--format', 'csv'];
    const rolled = w.run(args),
      raw = w.run([...args, '--no-rollup']);
    assert.equal(rolled.code, 0, why('query', rolled));
    assert.equal(rolled.stdout, raw.stdout);
    const rows = rolled.stdout.trim().split('\n').slice(1);
    assert.equal(rows.length, 60);
    rows.forEach((r, i) => assert.ok(r.endsWith(`,${subject(i)},${i}`), why(`row ${i}: ${r.slice(0, 60)}...${r.slice(-20)}`)));
  });
});

describe('tables never show one customer as another', () => {
  test('format characters (a right-to-left override, zero-width characters, a tag character) are shown as escapes in every table', () => {
    const w = workdir('format-chars');
    const subjects = ['acme\u202e321-tsuc\u202c', 'ac\u200bme', 'acme\ufeff', 'x\u{e0041}y', 'acme'];
    w.write(
      'f.ndjson',
      subjects.map((subject, i) => line({ id: `f${i}`, subject, data: { tokens: 1 } })),
    );
    assert.equal(w.run(['ingest', 'f.ndjson', '--db', 'f.db', '-q']).code, 0);
    const shown = ['acme\\u202e321-tsuc\\u202c', 'ac\\u200bme', 'acme\\ufeff', 'x\\u{e0041}y'];
    for (const args of [['query'], ['subjects'], ['events'], ['stats']]) {
      const r = w.run([...args, '--db', 'f.db']);
      assert.equal(r.code, 0, r.describe());
      assert.doesNotMatch(r.stdout, /[\p{Cf}]/u, r.describe());
      for (const s of args[0] === 'stats' ? [] : shown) assert.ok(r.stdout.includes(s), `${args[0]}: ${s}\n${r.describe()}`);
    }
  });
});

describe('clear messages, exit codes as the README says', () => {
  test('a reject quoting control characters of its line shows them as \\u escapes, never as raw bytes', () => {
    const w = workdir('control-chars');
    w.write('c.ndjson', 'bad \u001b[31mline\u0007\n\u0000\n{"a":"\u001b\u009b"\n');
    const r = w.run(['ingest', 'c.ndjson']);
    assert.equal(r.code, 3, r.describe());
    assert.doesNotMatch(r.stderr, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/, r.describe());
    assert.match(r.stderr, /^c\.ndjson:1: invalid JSON: .*\\u001b\[31mline\\u0007/m, r.describe());
    assert.match(r.stderr, /^c\.ndjson:2: invalid JSON: .*\\u0000/m, r.describe());
  });

  test('meter events with --from not before --to: exit 2 with the message of meter query', () => {
    const rand = prng(SEED ^ 0xe7e7);
    const w = workdir('events-range');
    w.write('a.ndjson', eventLines(20, 'e', rand));
    assert.equal(w.run(['ingest', 'a.ndjson', '--db', 'e.db', '-q']).code, 0);
    for (let i = 0; i < 12; i++) {
      const a = Date.parse('2026-09-01T00:00:00Z') + Math.floor(rand() * 90) * 86_400_000 + (i % 2 ? Math.floor(rand() * 86_400_000) : 0);
      const b = i % 3 === 0 ? a : a - 1 - Math.floor(rand() * 30 * 86_400_000);
      const fmt = (ms: number) => (i % 2 ? new Date(ms).toISOString() : new Date(ms).toISOString().slice(0, 10));
      const from = fmt(a),
        to = fmt(b);
      if (Date.parse(from) < Date.parse(to)) continue; // a date may round an ordered pair back into order
      for (const cmd of ['events', 'query']) {
        const r = w.run([cmd, '--db', 'e.db', '--from', from, '--to', to]);
        assert.equal(r.code, 2, why(`${cmd} --from ${from} --to ${to}`, r));
        assert.match(r.stderr, new RegExp(`--from ${from} is not before --to ${to}`), why(cmd, r));
        assert.equal(r.stdout, '', why(cmd, r));
      }
    }
    const ok = w.run(['events', '--db', 'e.db', '--from', '2026-10-01', '--to', '2026-10-02', '--format', 'ndjson']);
    assert.equal(ok.code, 0, ok.describe());
    assert.equal(ok.stdout.trim().split('\n').length, 20);
  });

  test('--db naming a directory: exit 1 saying so, for every command', () => {
    const w = workdir('db-dir');
    w.write('a.ndjson', [line()]);
    fs.mkdirSync(w.path('store.d'));
    for (const cmd of [['ingest', 'a.ndjson'], ['query'], ['stats'], ['subjects'], ['events']]) {
      const r = w.run([...cmd, '--db', 'store.d']);
      assert.equal(r.code, 1, r.describe());
      assert.match(r.stderr, /^meter: store\.d: is a directory, not a store file/, r.describe());
      assert.doesNotMatch(r.stderr, /disk I\/O/, r.describe());
    }
  });

  test("40,000 --subject values (past SQLite's 32,766 parameters): the same rows as the two that exist", () => {
    const w = workdir('many-subjects');
    w.write('a.ndjson', [line({ id: 'a', subject: 'acme' }), line({ id: 'b', subject: 'globex' }), line({ id: 'c', subject: 'other' })]);
    assert.equal(w.run(['ingest', 'a.ndjson']).code, 0);
    const many = Array.from({ length: 40_000 }, (_, i) => ['-s', `nobody-${i}`]).flat();
    for (const extra of [[], ['--no-rollup'], ['-w', 'day']]) {
      const two = w.run(['query', '--format', 'csv', '-s', 'acme', '-s', 'globex', ...extra]);
      const r = w.run(['query', '--format', 'csv', ...many, '-s', 'acme', '-s', 'globex', ...extra]);
      assert.equal(r.code, 0, r.describe());
      assert.equal(r.stdout, two.stdout);
      assert.equal(r.stdout.trim().split('\n').length, 3, r.describe());
    }
  });

  test('--output that cannot be opened: exit 2 naming it; a write that fails (a full disk): exit 1; no stack trace', () => {
    const w = workdir('output-path');
    w.write('a.ndjson', [line()]);
    w.write('meter.yaml', 'meters:\n  - slug: calls\n    eventType: prompt\n    aggregation: COUNT\n');
    w.write('prices.yaml', 'currency: USD\nprices:\n  - meter: calls\n    price: { type: unit, amount: "0.01" }\n');
    assert.equal(w.run(['ingest', 'a.ndjson']).code, 0);
    fs.mkdirSync(w.path('out.d'));
    const commands = [['query'], ['invoice', '--prices', 'prices.yaml', '--period', '2026-11'], ['report']];
    for (const cmd of commands) {
      for (const [target, code] of [
        ['missing/out.txt', 'ENOENT'],
        ['out.d', 'EISDIR'],
      ]) {
        const r = w.run([...cmd, '-o', target!]);
        assert.equal(r.code, 2, r.describe());
        assert.equal(r.stderr, `meter: --output ${target}: cannot write (${code})\n`, r.describe());
      }
    }
    // Never over the store, its WAL, the config, the price file or an input, however they are spelled.
    fs.symlinkSync('meter.db', w.path('link.db'));
    const before = w.run(['query', '--format', 'csv']).stdout;
    for (const [cmd, flag, target, what] of [
      [['query'], '--output', 'meter.db', 'the store (--db)'],
      [['query'], '--output', './meter.db-wal', 'the store (--db)'],
      [['invoice', '--prices', 'prices.yaml', '--period', '2026-11'], '--output', 'link.db', 'the store (--db)'],
      [['report'], '--output', 'meter.yaml', 'the meter config (--config)'],
      [['invoice', '--prices', 'prices.yaml', '--period', '2026-11'], '--output', 'prices.yaml', 'the price file (--prices)'],
      [['ingest', 'a.ndjson'], '--rejects', 'a.ndjson', 'an input'],
      [['ingest', 'a.ndjson'], '--rejects', 'meter.db', 'the store (--db)'],
    ] as const) {
      const r = w.run([...cmd, flag, target]);
      assert.equal(r.code, 2, r.describe());
      assert.equal(r.stderr, `meter: ${flag} ${target}: is ${what}; writing to it would destroy it (choose another file)\n`, r.describe());
    }
    assert.equal(w.run(['query', '--format', 'csv']).stdout, before);
    assert.equal(w.read('a.ndjson'), line() + '\n');
    if (fs.existsSync('/dev/full')) {
      const r = w.run(['query', '--format', 'csv', '-o', '/dev/full']);
      assert.equal(r.code, 1, r.describe());
      assert.equal(r.stderr, 'meter: --output /dev/full: cannot write (ENOSPC)\n', r.describe());
    }
  });

  test('CR-only line endings: rejected with a reason naming them; CRLF and LF still read', () => {
    const rand = prng(SEED ^ 0xc4);
    const w = workdir('cr-only');
    for (let i = 0; i < 10; i++) {
      const k = 2 + Math.floor(rand() * 60);
      const lines = eventLines(k, `r${i}-`, rand);
      const pad = () => (rand() < 0.3 ? ' ' : '');
      w.write('cr.ndjson', lines.map((l) => l + pad()).join('\r') + (rand() < 0.5 ? '\r' : ''));
      const r = w.run(['ingest', 'cr.ndjson', '--db', `cr${i}.db`, '--rejects', 'rej.ndjson', '-q']);
      assert.equal(r.code, 3, why(`${k} CR-separated events`, r));
      const rejects = rejectsOf(w.path('rej.ndjson'));
      assert.equal(rejects.length, 1, why(`${k} CR-separated events: ${JSON.stringify(rejects)}`, r));
      assert.match(rejects[0]!.error, /lines end with CR only .*convert with tr '\\r' '\\n'/, why('the reason', r));
      for (const [eol, name] of [
        ['\r\n', 'crlf'],
        ['\n', 'lf'],
      ] as const) {
        w.write(`${name}.ndjson`, lines.join(eol) + eol);
        const ok = w.run(['ingest', `${name}.ndjson`, '--db', `${name}${i}.db`, '-q']);
        assert.equal(ok.code, 0, why(name, ok));
        assert.equal(storedIds(w.path(`${name}${i}.db`)).length, k);
      }
    }
  });

  test('a byte order mark starting a later line is rejected as such; the other lines are stored', () => {
    const rand = prng(SEED ^ 0xb0b);
    const w = workdir('mid-bom');
    for (let i = 0; i < 8; i++) {
      const lines = eventLines(5 + Math.floor(rand() * 200), `m${i}-`, rand);
      const marked = new Set<number>();
      const text = lines.map((l, j) => (j > 0 && rand() < 0.1 ? (marked.add(j), '\uFEFF' + l) : l));
      if (marked.size === 0) {
        text[1] = '\uFEFF' + text[1];
        marked.add(1);
      }
      // Sometimes the file starts with a BOM too, which is fine.
      w.write('bom.ndjson', (rand() < 0.5 ? '\uFEFF' : '') + text.join('\n') + '\n');
      const r = w.run(['ingest', 'bom.ndjson', '--db', `b${i}.db`, '--rejects', 'rej.ndjson', '-q']);
      assert.equal(r.code, 3, why('mid-file BOMs', r));
      const rejects = rejectsOf(w.path('rej.ndjson'));
      assert.deepEqual(
        rejects.map((x) => x.line),
        [...marked].map((j) => j + 1),
        why('rejected lines', r),
      );
      for (const x of rejects) assert.match(x.error, /a UTF-8 byte order mark \(U\+FEFF\) in the middle of the input/, why('reason', r));
      assert.equal(storedIds(w.path(`b${i}.db`)).length, lines.length - marked.size, why('stored', r));
    }
  });
});
