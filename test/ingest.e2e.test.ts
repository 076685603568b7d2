/**
 * End-to-end tests of `meter ingest` (and the `events` and `stats` companions that make its results checkable):
 * the real bin/meter is spawned on real files in a temp dir, and the store is opened with better-sqlite3 afterwards
 * to check exactly what was stored.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import zlib from 'node:zlib';
import Database from 'better-sqlite3';
import { contentFingerprint, eventKey } from '../src/core/event.js';
import { TOKENS_AND_COUNT_METERS } from './fixtures.js';
import { BIN, Workdir, event, line, type RunResult } from './helpers.js';

interface Row {
  source: string;
  id: string;
  type: string;
  subject: string;
  time_ms: number;
  data: string | null;
}

/** The stored events, ordered by (source, id). */
function rows(w: Workdir, db = 'meter.db'): Row[] {
  const d = new Database(w.path(db), { readonly: true, fileMustExist: true });
  try {
    return d.prepare('SELECT source, id, type, subject, time_ms, data FROM events ORDER BY source, id').all() as Row[];
  } finally {
    d.close();
  }
}

/** Every column of every stored row, in storage order: "nothing changed" means this is equal. */
function dump(w: Workdir, db = 'meter.db'): unknown[] {
  const d = new Database(w.path(db), { readonly: true, fileMustExist: true });
  try {
    return d.prepare('SELECT * FROM events ORDER BY rowid').all();
  } finally {
    d.close();
  }
}

function count(w: Workdir, db = 'meter.db'): number {
  if (!fs.existsSync(w.path(db))) return 0;
  const d = new Database(w.path(db), { readonly: true, fileMustExist: true });
  try {
    return (d.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
  } finally {
    d.close();
  }
}

interface Counts {
  read: number;
  inserted: number;
  duplicates: number;
  conflicts: number;
  rejected: number;
}

/** The five counts of a --json summary (stdout must be exactly one JSON object line). */
function counts(r: RunResult): Counts {
  assert.match(r.stdout, /^\{.*\}\n$/, `--json prints one JSON line\n${r.describe()}`);
  const s = JSON.parse(r.stdout) as Record<string, unknown>;
  for (const k of ['read', 'inserted', 'duplicates', 'conflicts', 'rejected']) {
    assert.equal(typeof s[k], 'number', `summary key ${k}\n${r.describe()}`);
  }
  return {
    read: s.read as number,
    inserted: s.inserted as number,
    duplicates: s.duplicates as number,
    conflicts: s.conflicts as number,
    rejected: s.rejected as number,
  };
}

function c(read: number, inserted: number, duplicates: number, conflicts: number, rejected: number): Counts {
  return { read, inserted, duplicates, conflicts, rejected };
}

/** Runs bin/meter without blocking (so tests of a group can run side by side); stdin gets `input`, or is closed. */
async function exec(
  w: Workdir,
  args: string[],
  opts: { input?: string | Buffer; env?: Record<string, string | undefined> } = {},
): Promise<RunResult> {
  const p = w.spawn(args, { env: opts.env });
  p.child.stdin.on('error', () => {}); // a run that does not read stdin may exit before it is written
  p.child.stdin.end(opts.input ?? '');
  return p.done;
}

/** Runs and checks the exit code, showing everything on failure. */
async function run(
  w: Workdir,
  args: string[],
  code: number,
  opts: { input?: string | Buffer; env?: Record<string, string | undefined> } = {},
): Promise<RunResult> {
  const r = await exec(w, args, opts);
  assert.equal(r.code, code, r.describe());
  return r;
}

function rejects(w: Workdir, name = 'rejects.ndjson'): Array<Record<string, unknown>> {
  const text = w.read(name);
  if (text === '') return [];
  assert.ok(text.endsWith('\n'), 'rejects file ends with a newline');
  return text
    .slice(0, -1)
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const T0 = Date.UTC(2026, 10, 1, 10, 0, 0);
const BOM = '\uFEFF';

describe('input forms', { concurrency: 4 }, () => {
  test('NDJSON file: every field stored, data as compact JSON or NULL', async () => {
    const w = new Workdir('ndjson');
    w.write('e.ndjson', [
      line({ id: 'a', data: { tokens: 10, model: 'gpt-4o', nested: { x: [1, 2] } } }),
      line({ id: 'b', source: 'api', type: 'completion', subject: 'globex', time: '2026-11-01T11:00:00Z', data: null }),
      line({ id: 'c', data: undefined }),
    ]);
    const r = await run(w, ['ingest', 'e.ndjson', '--json'], 0);
    assert.deepEqual(counts(r), c(3, 3, 0, 0, 0));
    assert.deepEqual(rows(w), [
      { source: 'api', id: 'b', type: 'completion', subject: 'globex', time_ms: T0 + 3_600_000, data: null },
      {
        source: 'test',
        id: 'a',
        type: 'prompt',
        subject: 'acme',
        time_ms: T0,
        data: '{"tokens":10,"model":"gpt-4o","nested":{"x":[1,2]}}',
      },
      { source: 'test', id: 'c', type: 'prompt', subject: 'acme', time_ms: T0, data: null },
    ]);
    w.remove();
  });

  test('a JSON array of events (pretty-printed)', async () => {
    const w = new Workdir('array');
    w.write('batch.json', JSON.stringify([event({ id: 'a' }), event({ id: 'b' }), event({ id: 'c', subject: 'globex' })], null, 2));
    const r = await run(w, ['ingest', 'batch.json', '--json'], 0);
    assert.deepEqual(counts(r), c(3, 3, 0, 0, 0));
    assert.deepEqual(
      rows(w).map((x) => [x.id, x.subject]),
      [
        ['a', 'acme'],
        ['b', 'acme'],
        ['c', 'globex'],
      ],
    );
    w.remove();
  });

  test('a compact JSON array on one line', async () => {
    const w = new Workdir('array-compact');
    w.write('batch.json', JSON.stringify([event({ id: 'a' }), event({ id: 'b' })]));
    assert.deepEqual(counts(await run(w, ['ingest', 'batch.json', '--json'], 0)), c(2, 2, 0, 0, 0));
    assert.equal(count(w), 2);
    w.remove();
  });

  test('a single pretty-printed object', async () => {
    const w = new Workdir('object');
    w.write('one.json', JSON.stringify(event({ id: 'solo', data: { tokens: 7 } }), null, 2) + '\n');
    assert.deepEqual(counts(await run(w, ['ingest', 'one.json', '--json'], 0)), c(1, 1, 0, 0, 0));
    assert.deepEqual(
      rows(w).map((x) => [x.id, x.data]),
      [['solo', '{"tokens":7}']],
    );
    w.remove();
  });

  test('gzip by name, and by magic bytes under another name', async () => {
    const w = new Workdir('gzip');
    w.writeGzip('a.ndjson.gz', [line({ id: 'a' }), '', line({ id: 'b' })]);
    w.writeGzip('b.json', JSON.stringify([event({ id: 'c' }), event({ id: 'd' })]));
    assert.deepEqual(counts(await run(w, ['ingest', 'a.ndjson.gz', 'b.json', '--json'], 0)), c(4, 4, 0, 0, 0));
    assert.deepEqual(
      rows(w).map((x) => x.id),
      ['a', 'b', 'c', 'd'],
    );
    w.remove();
  });

  test('stdin as - and with no file at all, gzip on stdin too', async () => {
    const w = new Workdir('stdin');
    await run(w, ['ingest', '-', '--json'], 0, { input: [line({ id: 'a' }), line({ id: 'b' })].join('\n') + '\n' });
    const r = await run(w, ['ingest', '--json'], 0, { input: [line({ id: 'b' }), line({ id: 'c' })].join('\n') });
    assert.deepEqual(counts(r), c(2, 1, 1, 0, 0));
    const g = await run(w, ['ingest', '--json'], 0, { input: zlib.gzipSync(line({ id: 'd' }) + '\n') });
    assert.deepEqual(counts(g), c(1, 1, 0, 0, 0));
    assert.deepEqual(
      rows(w).map((x) => x.id),
      ['a', 'b', 'c', 'd'],
    );
    w.remove();
  });

  test('stdin redirected from a file, and from a shell pipe, is read whole (read directly, not through the writer)', () => {
    const w = new Workdir('stdin-direct');
    const n = 12_000; // more than a few chunks
    w.write(
      'e.ndjson',
      Array.from({ length: n }, (_, i) => line({ id: `e${i}`, data: { tokens: 1 } })),
    );
    const fromFile = spawnSync('sh', ['-c', `"${process.execPath}" "${BIN}" ingest - --json < e.ndjson`], { cwd: w.dir, encoding: 'utf8' });
    assert.equal(fromFile.status, 0, fromFile.stderr);
    assert.equal(JSON.parse(fromFile.stdout).inserted, n);
    const fromPipe = spawnSync('sh', ['-c', `cat e.ndjson | "${process.execPath}" "${BIN}" ingest --db p.db --json`], {
      cwd: w.dir,
      encoding: 'utf8',
    });
    assert.equal(fromPipe.status, 0, fromPipe.stderr);
    assert.equal(JSON.parse(fromPipe.stdout).inserted, n);
    w.remove();
  });

  test('files and stdin in one run', async () => {
    const w = new Workdir('mixed');
    w.write('a.ndjson', [line({ id: 'a' })]);
    w.writeGzip('b.ndjson.gz', [line({ id: 'b' })]);
    const r = await run(w, ['ingest', 'a.ndjson', '-', 'b.ndjson.gz', '--json'], 0, { input: line({ id: 'c' }) + '\n' });
    assert.deepEqual(counts(r), c(3, 3, 0, 0, 0));
    assert.deepEqual(
      rows(w).map((x) => x.id),
      ['a', 'b', 'c'],
    );
    w.remove();
  });

  test('CRLF line ends, a BOM and blank lines', async () => {
    const w = new Workdir('crlf');
    w.write(
      'win.ndjson',
      BOM + ['', line({ id: 'a' }), '', '   ', line({ id: 'b', data: { s: 'x\r\ny' } }), '', line({ id: 'c' }), ''].join('\r\n'),
    );
    w.write('bom.json', BOM + JSON.stringify([event({ id: 'd' })], null, 2).replace(/\n/g, '\r\n'));
    const r = await run(w, ['ingest', 'win.ndjson', 'bom.json', '--json'], 0);
    assert.deepEqual(counts(r), c(4, 4, 0, 0, 0));
    assert.deepEqual(
      rows(w).map((x) => x.id),
      ['a', 'b', 'c', 'd'],
    );
    assert.equal(rows(w)[1]!.data, '{"s":"x\\r\\ny"}');
    w.remove();
  });

  test('non-ASCII text is stored intact', async () => {
    const w = new Workdir('utf8');
    w.write('e.ndjson', [line({ id: 'ü-1', subject: 'Zürich AG', data: { note: '€ 😀 ő' } })]);
    await run(w, ['ingest', 'e.ndjson'], 0);
    assert.deepEqual(
      rows(w).map((x) => [x.id, x.subject, x.data]),
      [['ü-1', 'Zürich AG', '{"note":"€ 😀 ő"}']],
    );
    w.remove();
  });

  test('times keep millisecond precision and offsets are applied', async () => {
    const w = new Workdir('precision');
    w.write('e.ndjson', [
      line({ id: 'a', time: '2026-11-01T10:00:00.123Z' }),
      line({ id: 'b', time: '2026-11-01T10:00:00.987654321Z' }),
      line({ id: 'c', time: '2026-11-01T15:45:00.001+05:45' }),
      line({ id: 'd', time: '2026-11-01T06:30:00.5-03:30' }),
      line({ id: 'e', time: '2028-02-29T23:59:59.999Z' }),
    ]);
    await run(w, ['ingest', 'e.ndjson'], 0);
    assert.deepEqual(
      rows(w).map((x) => [x.id, x.time_ms]),
      [
        ['a', T0 + 123],
        ['b', T0 + 987],
        ['c', T0 + 1],
        ['d', T0 + 500],
        ['e', Date.UTC(2028, 1, 29, 23, 59, 59, 999)],
      ],
    );
    const ev = await run(w, ['events', '--format', 'ndjson', '--limit', '10'], 0);
    const times = ev.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l).time as string);
    assert.deepEqual(times, [
      '2028-02-29T23:59:59.999Z',
      '2026-11-01T10:00:00.987Z',
      '2026-11-01T10:00:00.500Z',
      '2026-11-01T10:00:00.123Z',
      '2026-11-01T10:00:00.001Z',
    ]);
    w.remove();
  });
});

describe('rejected input', { concurrency: 4 }, () => {
  const good1 = line({ id: 'g1' });
  const good2 = line({ id: 'g2' });
  const notJson = '{"specversion":"1.0","id":"x1",';
  const noSubject = line({ id: 'x2', subject: undefined });
  const badDate = line({ id: 'x3', time: '2026-02-30T00:00:00Z' });
  const stringData = line({ id: 'x4', data: 'tokens=5' });
  const noOffset = line({ id: 'x5', time: '2026-11-01T10:00:00' });
  const wrongSpec = line({ id: 'x6', specversion: '0.3' });
  const base64 = line({ id: 'x7', data: undefined, data_base64: 'eyJ0b2tlbnMiOjV9' });
  const xml = line({ id: 'x8', datacontenttype: 'application/xml' });
  const arrayData = line({ id: 'x9', data: [1, 2] });

  test('--rejects gets exactly {file,line,error,raw} per rejected line, in order; good lines are stored', async () => {
    const w = new Workdir('rejects');
    w.write('bad.ndjson', [good1, notJson, noSubject, badDate, '', stringData, noOffset, wrongSpec, base64, xml, arrayData, good2]);
    const r = await run(w, ['ingest', 'bad.ndjson', '--rejects', 'rejects.ndjson', '--json'], 3);
    assert.deepEqual(counts(r), c(11, 2, 0, 0, 9));
    const got = rejects(w);
    const want: Array<[number, string, RegExp]> = [
      // A line that opens an object it does not close: the hint says how an object over several lines is read.
      [
        2,
        notJson,
        /^invalid JSON: .* \(the line opens an object it does not close: one object per line; an object over several lines is read when the first line of the file is `\{` alone\)$/,
      ],
      [3, noSubject, /subject/],
      [4, badDate, /time/],
      [6, stringData, /data/],
      [7, noOffset, /time.*offset/],
      [8, wrongSpec, /specversion/],
      [9, base64, /data_base64/],
      [10, xml, /datacontenttype/],
      [11, arrayData, /data/],
    ];
    assert.equal(got.length, want.length, JSON.stringify(got, null, 1));
    got.forEach((g, i) => {
      const [ln, raw, error] = want[i]!;
      assert.deepEqual(Object.keys(g).sort(), ['error', 'file', 'line', 'raw']);
      assert.deepEqual({ file: g.file, line: g.line, raw: g.raw }, { file: 'bad.ndjson', line: ln, raw });
      assert.equal(typeof g.error, 'string');
      assert.match(g.error as string, error);
    });
    assert.deepEqual(
      rows(w).map((x) => x.id),
      ['g1', 'g2'],
    );
    w.remove();
  });

  test('rejects of a JSON array carry the element index and the element text', async () => {
    const w = new Workdir('rejects-array');
    const bad = event({ id: 'x', subject: '' });
    const text = JSON.stringify([event({ id: 'a' }), bad, 'not an event', event({ id: 'b' })], null, 2) + '\n';
    w.write('batch.json', text);
    // The line each element starts on (elements are indented by two spaces).
    const starts = text.split('\n').flatMap((l, i) => (/^ {2}[{"]/.test(l) ? [i + 1] : []));
    assert.equal(starts.length, 4);
    const r = await run(w, ['ingest', 'batch.json', '--rejects', 'rejects.ndjson', '--json'], 3);
    assert.deepEqual(counts(r), c(4, 2, 0, 0, 2));
    const got = rejects(w);
    assert.equal(got.length, 2);
    assert.deepEqual(Object.keys(got[0]!).sort(), ['error', 'file', 'index', 'line', 'raw']);
    assert.deepEqual([got[0]!.file, got[0]!.index, got[0]!.line], ['batch.json', 1, starts[1]]);
    assert.deepEqual(JSON.parse(got[0]!.raw as string), bad);
    assert.match(got[0]!.error as string, /subject/);
    assert.deepEqual([got[1]!.index, got[1]!.line, got[1]!.raw], [2, starts[2], '"not an event"']);
    assert.match(got[1]!.error as string, /object/);
    w.remove();
  });

  test('rejects from stdin name the file -, line numbers count blank lines', async () => {
    const w = new Workdir('rejects-stdin');
    await run(w, ['ingest', '--rejects', 'rejects.ndjson'], 3, { input: `\n${good1}\n\n${noSubject}\n` });
    assert.deepEqual(
      rejects(w).map((g) => [g.file, g.line, g.raw]),
      [['-', 4, noSubject]],
    );
    w.remove();
  });

  test('rejects of a gzip file count lines of the decompressed text', async () => {
    const w = new Workdir('rejects-gz');
    w.writeGzip('e.ndjson.gz', [good1, '', badDate]);
    await run(w, ['ingest', 'e.ndjson.gz', '--rejects', 'rejects.ndjson'], 3);
    assert.deepEqual(
      rejects(w).map((g) => [g.file, g.line, g.raw]),
      [['e.ndjson.gz', 3, badDate]],
    );
    w.remove();
  });

  test('an empty rejects file is written when nothing is rejected, replacing an old one', async () => {
    const w = new Workdir('rejects-empty');
    w.write('rejects.ndjson', 'old content\n');
    w.write('e.ndjson', [good1]);
    await run(w, ['ingest', 'e.ndjson', '--rejects', 'rejects.ndjson'], 0);
    assert.equal(w.read('rejects.ndjson'), '');
    w.remove();
  });

  test('without --rejects the first reasons go to stderr with file:line, and the total', async () => {
    const w = new Workdir('rejects-stderr');
    const lines = [good1];
    for (let i = 0; i < 25; i++) lines.push(line({ id: `bad${i}`, type: '' }));
    w.write('bad.ndjson', lines);
    const r = await run(w, ['ingest', 'bad.ndjson'], 3);
    assert.match(r.stderr, /bad\.ndjson:2\b[^\n]*type/);
    // README: the first 10, in input order, then how many more.
    const shown = r.stderr.split('\n').filter((l) => /bad\.ndjson:\d+/.test(l));
    assert.deepEqual(
      shown.map((l) => /bad\.ndjson:(\d+)/.exec(l)![1]),
      ['2', '3', '4', '5', '6', '7', '8', '9', '10', '11'],
      r.stderr,
    );
    assert.match(r.stderr, /\.\.\. 15 more rejected; --rejects FILE writes them all\n/);
    assert.match(r.stderr, /rejected\D{0,3}25\b|\b25\b[^\n]*rejected/);
    assert.equal(count(w), 1);
    w.remove();
  });

  test('a line over --max-event-size is rejected, the rest stored', async () => {
    const w = new Workdir('oversize');
    const big = line({ id: 'big', data: { pad: 'x'.repeat(5000) } });
    w.write('e.ndjson', [good1, big, good2]);
    const r = await run(w, ['ingest', 'e.ndjson', '--max-event-size', '1000', '--rejects', 'rejects.ndjson', '--json'], 3);
    assert.deepEqual(counts(r), c(3, 2, 0, 0, 1));
    const got = rejects(w);
    assert.deepEqual([got[0]!.line, typeof got[0]!.raw], [2, 'string']);
    assert.match(got[0]!.error as string, /too large/);
    assert.ok(big.startsWith(got[0]!.raw as string) || big.startsWith((got[0]!.raw as string).replace(/\.\.\.$/, '')));
    w.remove();
  });

  test('the hint names an object a line does not close, or one it closes without opening; braces in strings do not count', async () => {
    const w = new Workdir('brace-hint');
    const ev = line({ id: 'x', subject: 'a{b' });
    w.write('e.ndjson', [ev.slice(0, -1), `${ev}}`, `${ev.slice(0, -1)},"note":"}"`]);
    const r = await run(w, ['ingest', 'e.ndjson'], 3);
    const lines = r.stderr.split('\n');
    assert.match(lines[0]!, /^e\.ndjson:1: invalid JSON: .* \(the line opens an object it does not close: /);
    assert.match(lines[1]!, /^e\.ndjson:2: invalid JSON: .* \(the line closes an object it did not open: /);
    assert.match(lines[2]!, /^e\.ndjson:3: invalid JSON: .* \(the line opens an object it does not close: /);
    w.remove();
  });

  test('--max-event-size bounds the event, not its line: a CR after it and blanks before it do not count', async () => {
    const w = new Workdir('exact-size');
    const ev = line({ id: 'exact' });
    const size = String(Buffer.byteLength(ev));
    w.write('crlf.ndjson', `${ev}\r\n`);
    w.write('indent.ndjson', `  ${ev} \t \r\n`);
    w.write('over.ndjson', `${ev}\n`);
    for (const file of ['crlf.ndjson', 'indent.ndjson']) {
      const r = await run(w, ['ingest', '--db', `${file}.db`, file, '--max-event-size', size, '--json'], 0);
      assert.equal(counts(r).inserted, 1, file);
    }
    const r = await run(w, ['ingest', '--db', 'over.db', 'over.ndjson', '--max-event-size', String(Number(size) - 1), '--json'], 3);
    assert.equal(counts(r).rejected, 1);
    w.remove();
  });

  test('invalid UTF-8 is rejected, not stored with replacement characters', async () => {
    const w = new Workdir('utf8-bad');
    const text = line({ id: 'x', subject: 'A_B' });
    const at = text.indexOf('A_B') + 1;
    const badLine = Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from([0xff]), Buffer.from(text.slice(at + 1))]);
    w.write('e.ndjson', Buffer.concat([Buffer.from(good1 + '\n'), badLine, Buffer.from('\n' + good2 + '\n')]));
    const r = await run(w, ['ingest', 'e.ndjson', '--rejects', 'rejects.ndjson', '--json'], 3);
    assert.deepEqual(counts(r), c(3, 2, 0, 0, 1));
    assert.match(rejects(w)[0]!.error as string, /UTF-8/);
    assert.equal(rejects(w)[0]!.line, 2);
    assert.deepEqual(
      rows(w).map((x) => x.id),
      ['g1', 'g2'],
    );
    w.remove();
  });

  test('a truncated gzip file keeps the events before the break and reports the rest', async () => {
    const w = new Workdir('gzip-cut');
    const lines = Array.from({ length: 8_000 }, (_, i) => line({ id: `e${i}-${(i * 7919) % 10007}`, data: { n: i } }));
    const gz = zlib.gzipSync(lines.join('\n') + '\n');
    w.write('cut.ndjson.gz', gz.subarray(0, Math.floor(gz.length / 2)));
    w.write('after.ndjson', [line({ id: 'after' })]);
    const r = await run(w, ['ingest', 'cut.ndjson.gz', 'after.ndjson', '--rejects', 'rejects.ndjson', '--json'], 3);
    const s = counts(r);
    assert.ok(s.inserted > 500 && s.inserted < 8_001, `kept ${s.inserted}`);
    assert.equal(s.rejected, 1);
    const got = rejects(w);
    assert.equal(got[0]!.file, 'cut.ndjson.gz');
    assert.match(got[0]!.error as string, /gzip/);
    const ids = new Set(rows(w).map((x) => x.id));
    assert.ok(ids.has('after'), 'the next file is still read');
    assert.equal(ids.size, s.inserted);
    for (let i = 0; i < s.inserted - 1; i++) assert.ok(ids.has(JSON.parse(lines[i]!).id), `event ${i} kept`);
    w.remove();
  });

  test('a file named .gz that is not gzip is rejected as a whole, other files are read', async () => {
    const w = new Workdir('gzip-fake');
    w.write('fake.ndjson.gz', [good1]);
    w.write('ok.ndjson', [good2]);
    const r = await run(w, ['ingest', 'fake.ndjson.gz', 'ok.ndjson', '--rejects', 'rejects.ndjson', '--json'], 3);
    assert.deepEqual(counts(r), c(2, 1, 0, 0, 1));
    assert.match(rejects(w)[0]!.error as string, /gzip/);
    assert.deepEqual(
      rows(w).map((x) => x.id),
      ['g2'],
    );
    w.remove();
  });

  test('an array that never closes keeps its events and reports the end', async () => {
    const w = new Workdir('array-open');
    w.write('open.json', `[\n${good1},\n${good2}\n`);
    const r = await run(w, ['ingest', 'open.json', '--rejects', 'rejects.ndjson', '--json'], 3);
    assert.equal(counts(r).inserted, 2);
    assert.equal(counts(r).rejected, 1);
    assert.equal(rejects(w)[0]!.file, 'open.json');
    // Named at the file's last line (3), not the empty one after its final newline.
    assert.equal(rejects(w)[0]!.line, 3);
    w.remove();
  });

  test("arrays and object streams follow JSON's grammar between values: each fault is a reject on its line, the events around it are stored", async () => {
    const w = new Workdir('array-grammar');
    const bom = '\ufeff';
    const cases: Array<[string, string, string]> = [
      ['missing.json', `[${good1}\n${good2}]`, 'missing.json:2: invalid JSON: missing "," between array elements'],
      ['double.json', `[${good1},\n,${good2}]`, 'double.json:2: invalid JSON: unexpected "," (an array element is missing)'],
      ['leading.json', `[,${good1},${good2}]`, 'leading.json:1: invalid JSON: unexpected "," (an array element is missing)'],
      ['trailing.json', `[${good1},${good2},\n]`, 'trailing.json:2: invalid JSON: "," before "]" (a trailing comma)'],
      [
        'stream.json',
        `{\n"specversion":"1.0","id":"s1","source":"t","type":"prompt","subject":"acme","time":"2026-11-01T10:00:00Z"}\n,\n${good2}`,
        'stream.json:3: invalid JSON: unexpected "," between top-level values',
      ],
      [
        'bom.json',
        `${bom}[${good1},\n${bom}${good2}]`,
        'bom.json:2: a UTF-8 byte order mark (U+FEFF) in the middle of the input (files with BOMs concatenated?); remove it',
      ],
    ];
    for (const [file, text, reject] of cases) {
      w.write(file, text);
      const r = await run(w, ['ingest', '--db', `${file}.db`, file, '--json'], 3);
      assert.equal(counts(r).inserted, 2, `${file}: ${r.describe()}`);
      assert.equal(counts(r).rejected, 1, `${file}: ${r.describe()}`);
      assert.equal(r.stderr.split('\n')[0], reject, file);
    }
    w.remove();
  });
});

describe('missing time', { concurrency: 4 }, () => {
  test('is stamped with the ingestion time, with a warning; a re-run is a duplicate, not a conflict', async () => {
    const w = new Workdir('no-time');
    w.write('e.ndjson', [line({ id: 'a', time: undefined }), line({ id: 'b' })]);
    const before = Date.now();
    const r = await run(w, ['ingest', 'e.ndjson', '--json'], 0);
    const after = Date.now();
    assert.deepEqual(counts(r), c(2, 2, 0, 0, 0));
    assert.match(r.stderr, /warning[^\n]*\b1\b[^\n]*time|time[^\n]*\b1\b/i);
    const a = rows(w).find((x) => x.id === 'a')!;
    assert.ok(a.time_ms >= before - 1000 && a.time_ms <= after, `ingestion time ${a.time_ms} in [${before}, ${after}]`);
    const again = await run(w, ['ingest', 'e.ndjson', '--json'], 0);
    assert.deepEqual(counts(again), c(2, 0, 2, 0, 0));
    assert.equal(rows(w).find((x) => x.id === 'a')!.time_ms, a.time_ms);
    w.remove();
  });

  test('--require-time rejects it', async () => {
    const w = new Workdir('require-time');
    const noTime = line({ id: 'a', time: undefined });
    w.write('e.ndjson', [noTime, line({ id: 'b' })]);
    const r = await run(w, ['ingest', 'e.ndjson', '--require-time', '--rejects', 'rejects.ndjson', '--json'], 3);
    assert.deepEqual(counts(r), c(2, 1, 0, 0, 1));
    assert.deepEqual(
      rejects(w).map((g) => [g.line, g.raw]),
      [[1, noTime]],
    );
    assert.match(rejects(w)[0]!.error as string, /time/);
    assert.deepEqual(
      rows(w).map((x) => x.id),
      ['b'],
    );
    w.remove();
  });
});

describe('deduplication', { concurrency: 4 }, () => {
  const a = line({ id: 'a', data: { tokens: 1 } });
  const b = line({ id: 'b', data: { tokens: 2 } });
  const aCopy = line({ id: 'a', data: { tokens: 1 } });
  const bOtherData = line({ id: 'b', data: { tokens: 999 } });
  const aOtherTime = line({ id: 'a', data: { tokens: 1 }, time: '2026-11-01T10:00:00.001Z' });
  const aOtherSource = line({ id: 'a', source: 'elsewhere', data: { tokens: 3 } });
  const aSameInstant = line({ id: 'a', data: { tokens: 1 }, time: '2026-11-01T15:45:00+05:45' });

  for (const batch of ['50000', '1']) {
    test(`duplicates and conflicting duplicates are counted, the first stored wins (--batch-size ${batch})`, async () => {
      const w = new Workdir('dedupe');
      w.write('e.ndjson', [a, b, aCopy, bOtherData, aOtherTime, aOtherSource, aSameInstant]);
      const r = await run(w, ['ingest', 'e.ndjson', '--batch-size', batch, '--json'], 0);
      assert.deepEqual(counts(r), c(7, 3, 2, 2, 0));
      assert.deepEqual(rows(w), [
        { source: 'elsewhere', id: 'a', type: 'prompt', subject: 'acme', time_ms: T0, data: '{"tokens":3}' },
        { source: 'test', id: 'a', type: 'prompt', subject: 'acme', time_ms: T0, data: '{"tokens":1}' },
        { source: 'test', id: 'b', type: 'prompt', subject: 'acme', time_ms: T0, data: '{"tokens":2}' },
      ]);
      assert.match(r.stderr, /conflict/i);
      w.remove();
    });
  }

  test('across files and across runs, the first stored wins permanently', async () => {
    const w = new Workdir('dedupe-runs');
    w.write('1.ndjson', [a]);
    w.write('2.ndjson', [b, aCopy]);
    assert.deepEqual(counts(await run(w, ['ingest', '1.ndjson', '2.ndjson', '--json'], 0)), c(3, 2, 1, 0, 0));
    w.write('3.ndjson', [bOtherData, aOtherTime, aCopy, line({ id: 'c' })]);
    assert.deepEqual(counts(await run(w, ['ingest', '3.ndjson', '--json'], 0)), c(4, 1, 1, 2, 0));
    assert.deepEqual(
      rows(w).map((x) => [x.id, x.time_ms, x.data]),
      [
        ['a', T0, '{"tokens":1}'],
        ['b', T0, '{"tokens":2}'],
        ['c', T0, '{"tokens":10,"model":"gpt-4o"}'],
      ],
    );
    w.remove();
  });

  test('re-ingesting the same files changes nothing', async () => {
    const w = new Workdir('reingest');
    const many = Array.from({ length: 500 }, (_, i) => line({ id: `n${i}`, subject: `s${i % 7}`, data: { tokens: i } }));
    w.write('a.ndjson', [...many, 'junk', many[3]!]);
    w.write('b.json', JSON.stringify([event({ id: 'arr1' }), event({ id: 'arr2', time: '2026-11-02T00:00:00.5+01:00' })]));
    w.writeGzip('c.ndjson.gz', [line({ id: 'gz1', time: undefined }), line({ id: 'n1', subject: 's1', data: { tokens: 1 } })]);
    const files = ['a.ndjson', 'b.json', 'c.ndjson.gz'];
    const first = counts(await run(w, ['ingest', ...files, '--batch-size', '64', '--json'], 3));
    assert.deepEqual(first, c(506, 503, 2, 0, 1));
    const before = dump(w);
    const second = counts(await run(w, ['ingest', ...files, '--json'], 3));
    assert.deepEqual(second, c(506, 0, 505, 0, 1));
    assert.deepEqual(dump(w), before);
    w.remove();
  });
});

describe('exit codes and errors', { concurrency: 4 }, () => {
  test('0 when everything is accepted, duplicates included', async () => {
    const w = new Workdir('exit0');
    w.write('e.ndjson', [line({ id: 'a' }), line({ id: 'a' })]);
    await run(w, ['ingest', 'e.ndjson'], 0);
    await run(w, ['ingest', 'e.ndjson'], 0);
    w.remove();
  });

  test('3 when some input is rejected, 0 on an empty input', async () => {
    const w = new Workdir('exit3');
    w.write('bad.ndjson', ['{']);
    w.write('empty.ndjson', '');
    await run(w, ['ingest', 'bad.ndjson'], 3);
    assert.deepEqual(counts(await run(w, ['ingest', 'empty.ndjson', '--json'], 0)), c(0, 0, 0, 0, 0));
    w.remove();
  });

  test('2 for a missing file, before anything is stored', async () => {
    const w = new Workdir('exit2-missing');
    w.write('ok.ndjson', [line({ id: 'a' })]);
    const r = await run(w, ['ingest', 'ok.ndjson', 'missing.ndjson'], 2);
    assert.match(r.stderr, /missing\.ndjson/);
    assert.equal(count(w), 0);
    w.remove();
  });

  test('2 for a folder given as a file', async () => {
    const w = new Workdir('exit2-dir');
    fs.mkdirSync(w.path('sub'));
    const r = await run(w, ['ingest', 'sub'], 2);
    assert.match(r.stderr, /sub/);
    w.remove();
  });

  for (const args of [
    ['--batch-size', '0'],
    ['--batch-size', '-5'],
    ['--batch-size', 'abc'],
    ['--batch-size', '1.5'],
    ['--max-event-size', '0'],
    ['--no-such-flag'],
    ['-', '-'],
  ]) {
    test(`2 for a bad flag or usage: ${args.join(' ')}`, async () => {
      const w = new Workdir('exit2-flag');
      w.write('ok.ndjson', [line({ id: 'a' })]);
      const r = await run(w, ['ingest', 'ok.ndjson', ...args], 2, { input: '' });
      assert.ok(r.stderr.length > 0, 'says what is wrong');
      assert.equal(count(w), 0);
      w.remove();
    });
  }

  test('1 when the store is in a missing folder', async () => {
    const w = new Workdir('exit1-folder');
    w.write('ok.ndjson', [line({ id: 'a' })]);
    const r = await run(w, ['ingest', 'ok.ndjson', '--db', 'no/such/folder/x.db'], 1);
    assert.match(r.stderr, /x\.db|folder/);
    assert.equal(fs.existsSync(w.path('no')), false);
    await run(w, ['ingest', 'ok.ndjson'], 1, { env: { METER_DB: w.path('nope', 'y.db') } });
    w.remove();
  });

  test('1 when the store is not a database, which is left untouched', async () => {
    const w = new Workdir('exit1-notdb');
    w.write('ok.ndjson', [line({ id: 'a' })]);
    const junk = "this is not a SQLite database, but somebody's notes\n".repeat(100);
    w.write('notes.db', junk);
    const r = await run(w, ['ingest', 'ok.ndjson', '--db', 'notes.db'], 1);
    assert.match(r.stderr, /notes\.db/);
    assert.equal(w.read('notes.db'), junk);
    w.remove();
  });
});

describe('output and options', { concurrency: 4 }, () => {
  test('the summary on stderr names read, inserted, duplicates, rejected and the rate', async () => {
    const w = new Workdir('summary');
    w.write('e.ndjson', [line({ id: 'a' }), line({ id: 'b' }), line({ id: 'a' }), line({ id: 'b', subject: 'other' }), '{']);
    const r = await run(w, ['ingest', 'e.ndjson'], 3);
    assert.equal(r.stdout, '');
    for (const re of [
      /read\D{0,3}5\b/,
      /inserted\D{0,3}2\b/,
      /duplicates\D{0,3}1\b/,
      /conflicting duplicates\D{0,3}1\b/,
      /rejected\D{0,3}1\b/,
      /events\/s/,
    ]) {
      assert.match(r.stderr, re);
    }
    w.remove();
  });

  test('--json prints the summary as one JSON object on stdout', async () => {
    const w = new Workdir('json');
    w.write('e.ndjson', [line({ id: 'a' }), line({ id: 'a', data: null }), line({ id: 'a' }), 'x']);
    const r = await run(w, ['ingest', 'e.ndjson', '--json'], 3);
    assert.deepEqual(counts(r), c(4, 1, 1, 1, 1));
    w.remove();
  });

  test('--quiet prints nothing on stderr (with --rejects)', async () => {
    const w = new Workdir('quiet');
    w.write('e.ndjson', [line({ id: 'a' }), line({ id: 'a' }), line({ id: 'a', data: null }), line({ id: 'b', time: undefined }), 'bad']);
    const r = await run(w, ['ingest', 'e.ndjson', '--quiet', '--rejects', 'rejects.ndjson'], 3);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, '');
    assert.equal(rejects(w).length, 1);
    assert.equal(count(w), 2);
    w.remove();
  });

  test('--quiet without --rejects says only how many were rejected (exit 3)', async () => {
    const w = new Workdir('quiet2');
    w.write('e.ndjson', [line({ id: 'a' }), 'bad', '{']);
    const r = await run(w, ['ingest', 'e.ndjson', '-q'], 3);
    assert.equal(r.stderr, '2 rejected; --rejects FILE writes them with their reasons\n');
    w.remove();
  });

  test('--quiet still prints errors', async () => {
    const w = new Workdir('quiet-err');
    const r = await run(w, ['ingest', 'missing.ndjson', '--quiet'], 2);
    assert.match(r.stderr, /missing\.ndjson/);
    w.remove();
  });

  test('--json with --quiet still prints the JSON summary', async () => {
    const w = new Workdir('quiet-json');
    w.write('e.ndjson', [line({ id: 'a' })]);
    const r = await run(w, ['ingest', 'e.ndjson', '--quiet', '--json'], 0);
    assert.deepEqual(counts(r), c(1, 1, 0, 0, 0));
    assert.equal(r.stderr, '');
    w.remove();
  });

  test('the store is ./meter.db by default, METER_DB when set, --db above both', async () => {
    const w = new Workdir('db-choice');
    w.write('a.ndjson', [line({ id: 'a' })]);
    w.write('b.ndjson', [line({ id: 'b' }), line({ id: 'b2' })]);
    w.write('c.ndjson', [line({ id: 'c' }), line({ id: 'c2' }), line({ id: 'c3' })]);
    await run(w, ['ingest', 'a.ndjson'], 0);
    assert.deepEqual(
      rows(w, 'meter.db').map((x) => x.id),
      ['a'],
    );
    await run(w, ['ingest', 'b.ndjson'], 0, { env: { METER_DB: w.path('env.db') } });
    assert.deepEqual(
      rows(w, 'env.db').map((x) => x.id),
      ['b', 'b2'],
    );
    await run(w, ['ingest', 'c.ndjson', '--db', 'flag.db'], 0, { env: { METER_DB: w.path('env.db') } });
    assert.deepEqual(
      rows(w, 'flag.db').map((x) => x.id),
      ['c', 'c2', 'c3'],
    );
    assert.equal(count(w, 'env.db'), 2);
    assert.equal(count(w, 'meter.db'), 1);
    // The companions follow the same rule.
    const st = await run(w, ['stats', '--json'], 0, { env: { METER_DB: w.path('env.db') } });
    assert.equal(JSON.parse(st.stdout).events, 2);
    const ev = await run(w, ['events', '--db', 'flag.db', '--format', 'json'], 0, { env: { METER_DB: w.path('env.db') } });
    assert.equal(JSON.parse(ev.stdout).length, 3);
    w.remove();
  });

  test('the store is a versioned SQLite database in WAL mode', async () => {
    const w = new Workdir('schema');
    w.write('e.ndjson', [line({ id: 'a' })]);
    await run(w, ['ingest', 'e.ndjson'], 0);
    const d = new Database(w.path('meter.db'), { readonly: true });
    try {
      assert.equal(d.pragma('journal_mode', { simple: true }), 'wal');
      assert.ok((d.pragma('user_version', { simple: true }) as number) >= 1);
    } finally {
      d.close();
    }
    w.remove();
  });

  test('a version 1 store (subject index) is read as it is, and upgraded to version 3 by the next ingest', async () => {
    const w = new Workdir('schema-v1');
    const v1 = new Database(w.path('meter.db'));
    v1.exec(`CREATE TABLE events (seq INTEGER PRIMARY KEY, k INTEGER, source TEXT NOT NULL, id TEXT NOT NULL,
        type TEXT NOT NULL, subject TEXT NOT NULL, time_ms INTEGER NOT NULL, data TEXT, fp INTEGER NOT NULL,
        ingested_ms INTEGER NOT NULL);
      CREATE UNIQUE INDEX events_k ON events(k);
      CREATE INDEX events_subject_time ON events(subject, time_ms);
      CREATE TABLE collisions (source TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (source, id));
      PRAGMA journal_mode = WAL; PRAGMA user_version = 1;`);
    // What version 1 wrote for two events (keys and fingerprints as ingest computes them).
    const old = v1.prepare(
      'INSERT INTO events (k, source, id, type, subject, time_ms, data, fp, ingested_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)',
    );
    for (const [id, subject, t, tokens] of [
      ['o1', 'acme', 1_790_000_000_000, 5],
      ['o2', 'globex', 1_790_000_100_000, 7],
    ] as const) {
      const data = JSON.stringify({ tokens });
      old.run(eventKey('test', id), 'test', id, 'prompt', subject, t, data, contentFingerprint('prompt', subject, t, data));
    }
    v1.close();
    w.write('meter.yaml', TOKENS_AND_COUNT_METERS);
    const total = async (subject: string) =>
      (
        JSON.parse((await run(w, ['query', '-m', 'tokens', '--subject', subject, '--format', 'json'], 0)).stdout) as {
          data: Array<{ value: number }>;
        }
      ).data.map((r) => r.value);
    // Read-only commands leave it at version 1.
    assert.deepEqual(await total('acme'), [5]);
    const before = new Database(w.path('meter.db'), { readonly: true });
    assert.equal(before.pragma('user_version', { simple: true }), 1);
    before.close();
    // An ingest upgrades it: a re-sent old event is still a duplicate, and old and new rows are found by subject.
    w.write('e.ndjson', [
      line({ id: 'o1', source: 'test', subject: 'acme', time: new Date(1_790_000_000_000).toISOString(), data: { tokens: 5 } }),
      line({ id: 'n1', source: 'test', subject: 'acme', data: { tokens: 100 } }),
      // Other content than the stored o2 (compared through its version 1 fingerprint): a conflict, o2 stays.
      line({ id: 'o2', source: 'test', subject: 'globex', time: new Date(1_790_000_100_000).toISOString(), data: { tokens: 8 } }),
    ]);
    const ing = await run(w, ['ingest', 'e.ndjson', '--json'], 0);
    assert.equal(JSON.parse(ing.stdout).inserted, 1);
    assert.equal(JSON.parse(ing.stdout).duplicates, 1);
    assert.equal(JSON.parse(ing.stdout).conflicts, 1);
    assert.deepEqual(await total('acme'), [105]);
    assert.deepEqual(await total('globex'), [7]);
    const after = new Database(w.path('meter.db'), { readonly: true });
    try {
      assert.equal(after.pragma('user_version', { simple: true }), 4);
      // The fingerprints of version 1 became what fp holds since version 2: the events had a time.
      assert.deepEqual(after.prepare("SELECT id, fp FROM events WHERE id LIKE 'o%' ORDER BY id").raw(true).all(), [
        ['o1', 0],
        ['o2', 0],
      ]);
      assert.equal(after.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'events_subject_time'").pluck().get(), 0);
      assert.deepEqual(after.prepare('SELECT subject, n FROM subject_rows ORDER BY subject, first_seq').raw(true).all(), [
        ['acme', 1],
        ['acme', 1],
        ['globex', 1],
      ]);
    } finally {
      after.close();
    }
    w.remove();
  });
});

describe('schema version 2 -> 3', () => {
  test('a version 2 store gets canonical data at its next ingest: re-sent spellings of stored events are duplicates', async () => {
    const w = new Workdir('schema-v2');
    w.write('meter.yaml', TOKENS_AND_COUNT_METERS);
    w.write('first.ndjson', [line({ id: 'a', subject: 'acme', data: { tokens: 1 } })]);
    await run(w, ['ingest', 'first.ndjson', '-q'], 0);
    // What version 2 stored for events whose data it did not make canonical.
    const v2 = new Database(w.path('meter.db'));
    const spelled = ['{"tokens":2.0,"tokens":9}', '{"tokens":1e3,"model":"gpt\\u002d4o"}', '{ "tokens" : 0.50 }'];
    const ids = ['b', 'c', 'd'];
    const seq = v2.prepare('SELECT max(seq) FROM events').pluck().get() as number;
    const copy = v2.prepare(
      `INSERT INTO events (k, source, id, type, subject, time_ms, data, fp, ingested_ms)
       SELECT ?, source, ?, type, subject, time_ms, ?, fp, ingested_ms FROM events WHERE seq = ?`,
    );
    spelled.forEach((data, i) => copy.run(eventKey('test', ids[i]!), ids[i], data, seq));
    v2.exec(`INSERT INTO subject_rows SELECT subject, seq, 1, time_ms, time_ms, json_array(seq) FROM events WHERE id IN ('b','c','d');
      PRAGMA user_version = 2;`);
    v2.close();
    const time = (JSON.parse(w.read('first.ndjson').trim()) as { time: string }).time;
    w.write('again.ndjson', [
      line({ id: 'b', subject: 'acme', time, data: { tokens: 2 } }),
      line({ id: 'c', subject: 'acme', time, data: { tokens: 1000, model: 'gpt-4o' } }),
      line({ id: 'd', subject: 'acme', time, data: { tokens: 0.5 } }),
    ]);
    const ing = JSON.parse((await run(w, ['ingest', 'again.ndjson', '--json'], 0)).stdout) as {
      inserted: number;
      duplicates: number;
      conflicts: number;
    };
    assert.deepEqual([ing.inserted, ing.duplicates, ing.conflicts], [0, 3, 0]);
    const after = new Database(w.path('meter.db'), { readonly: true });
    try {
      assert.equal(after.pragma('user_version', { simple: true }), 4);
      assert.deepEqual(after.prepare("SELECT data FROM events WHERE id IN ('b','c','d') ORDER BY id").pluck().all(), [
        '{"tokens":2}',
        '{"tokens":1000,"model":"gpt-4o"}',
        '{"tokens":0.5}',
      ]);
    } finally {
      after.close();
    }
    const q = JSON.parse((await run(w, ['query', '-m', 'tokens', '--format', 'json'], 0)).stdout) as { data: Array<{ value: number }> };
    assert.deepEqual(
      q.data.map((r) => r.value),
      [1003.5],
    );
    w.remove();
  });
});

describe('meter events and meter stats', { concurrency: 4 }, () => {
  async function setup(name: string): Promise<Workdir> {
    const w = new Workdir(name);
    w.write('e.ndjson', [
      line({ id: 'e1', subject: 'acme', type: 'prompt', time: '2026-11-01T10:00:00Z', data: { tokens: 1 } }),
      line({ id: 'e2', subject: 'globex', type: 'prompt', time: '2026-11-01T11:00:00.250Z', data: { tokens: 2 } }),
      line({ id: 'e3', subject: 'acme', type: 'completion', time: '2026-11-02T09:00:00+02:00', data: null }),
      line({ id: 'e4', subject: 'acme', type: 'prompt', time: '2026-10-31T23:59:59.999Z', data: { tokens: 4 } }),
    ]);
    await run(w, ['ingest', 'e.ndjson'], 0);
    return w;
  }

  const ids = (r: RunResult) => (JSON.parse(r.stdout) as Array<{ id: string }>).map((e) => e.id);

  test('events --format json lists stored events newest first as CloudEvents', async () => {
    const w = await setup('events-json');
    const r = await run(w, ['events', '--format', 'json'], 0);
    const evs = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(
      evs.map((e) => e.id),
      ['e3', 'e2', 'e1', 'e4'],
    );
    assert.deepEqual(evs[1], {
      specversion: '1.0',
      id: 'e2',
      source: 'test',
      type: 'prompt',
      subject: 'globex',
      time: '2026-11-01T11:00:00.250Z',
      data: { tokens: 2 },
    });
    assert.equal(evs[0]!.time, '2026-11-02T07:00:00Z');
    assert.equal(evs[0]!.data, null);
    w.remove();
  });

  test('events filters: --subject, --type, --from (inclusive), --to (exclusive), --limit', async () => {
    const w = await setup('events-filters');
    assert.deepEqual(ids(await run(w, ['events', '--format', 'json', '--subject', 'acme'], 0)), ['e3', 'e1', 'e4']);
    assert.deepEqual(ids(await run(w, ['events', '--format', 'json', '--subject', 'acme', '--subject', 'globex', '--type', 'prompt'], 0)), [
      'e2',
      'e1',
      'e4',
    ]);
    assert.deepEqual(
      ids(await run(w, ['events', '--format', 'json', '--from', '2026-11-01T10:00:00Z', '--to', '2026-11-01T11:00:00.250Z'], 0)),
      ['e1'],
    );
    assert.deepEqual(ids(await run(w, ['events', '--format', 'json', '--limit', '2'], 0)), ['e3', 'e2']);
    assert.deepEqual(ids(await run(w, ['events', '--format', 'json', '--subject', 'nobody'], 0)), []);
    w.remove();
  });

  test('events --format ndjson prints one event per line that ingests again as duplicates', async () => {
    const w = await setup('events-ndjson');
    const r = await run(w, ['events', '--format', 'ndjson'], 0);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 4);
    assert.deepEqual(
      lines.map((l) => JSON.parse(l).id),
      ['e3', 'e2', 'e1', 'e4'],
    );
    w.write('back.ndjson', r.stdout);
    assert.deepEqual(counts(await run(w, ['ingest', 'back.ndjson', '--json'], 0)), c(4, 0, 4, 0, 0));
    w.remove();
  });

  test('stats --json counts by type and subject, with the time range', async () => {
    const w = await setup('stats');
    const s = JSON.parse((await run(w, ['stats', '--json'], 0)).stdout);
    assert.equal(s.events, 4);
    assert.equal(s.subjects, 2);
    assert.deepEqual(s.byType, [
      { key: 'prompt', events: 3 },
      { key: 'completion', events: 1 },
    ]);
    assert.deepEqual(s.bySubject, [
      { key: 'acme', events: 3 },
      { key: 'globex', events: 1 },
    ]);
    assert.equal(s.first, '2026-10-31T23:59:59.999Z');
    assert.equal(s.last, '2026-11-02T07:00:00Z');
    assert.ok(typeof s.sizeBytes === 'number' && s.sizeBytes > 0);
    w.remove();
  });

  test('events and stats on a missing store fail without creating one', async () => {
    const w = new Workdir('no-store');
    assert.notEqual((await exec(w, ['events'])).code, 0);
    assert.notEqual((await exec(w, ['stats'])).code, 0);
    assert.equal(fs.existsSync(w.path('meter.db')), false);
    w.remove();
  });
});

describe('interruption', () => {
  /** `n` small events with about 5% exact duplicates and 1% conflicting copies of earlier ids. */
  function bigInput(n: number): { text: string; unique: Map<string, string> } {
    const parts: string[] = [];
    const unique = new Map<string, string>();
    for (let i = 0; i < n; i++) {
      let id = `ev-${i}`;
      let tokens = i % 1000;
      if (i % 20 === 19) {
        id = `ev-${i - 7}`;
        tokens = (i - 7) % 1000;
      } else if (i % 100 === 51) {
        id = `ev-${i - 50}`;
        tokens = 1_000_000 + i;
      }
      const l = `{"specversion":"1.0","id":"${id}","source":"gen","type":"prompt","subject":"c${i % 97}","time":"2026-11-01T10:00:00Z","data":{"tokens":${tokens}}}`;
      parts.push(l);
      if (!unique.has(id)) unique.set(id, `{"tokens":${tokens}}`);
    }
    return { text: parts.join('\n') + '\n', unique };
  }

  function checkExact(w: Workdir, unique: Map<string, string>): void {
    const d = new Database(w.path('meter.db'), { readonly: true });
    try {
      const n = (d.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
      const k = (d.prepare('SELECT count(DISTINCT source || char(0) || id) AS n FROM events').get() as { n: number }).n;
      assert.equal(k, n, 'no (source, id) stored twice');
      assert.equal(n, unique.size, 'every unique event of the input is stored');
      // The first copy of each id wins, even across the interruption.
      let wrong = 0;
      for (const r of d.prepare('SELECT id, data FROM events').iterate() as Iterable<{ id: string; data: string }>) {
        if (unique.get(r.id) !== r.data) wrong++;
      }
      assert.equal(wrong, 0, 'stored events are the first copies');
    } finally {
      d.close();
    }
  }

  test('SIGINT during a large ingest, then the same command again: every unique event once', async () => {
    const w = new Workdir('sigint');
    const { text, unique } = bigInput(300_000);
    w.write('big.ndjson', text);
    // The input comes through a named pipe the test feeds: the run cannot finish before the signal, however fast
    // it is, and it reads the pipe as it reads any file.
    const fifo = w.path('big.fifo');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
    const args = ['ingest', 'big.fifo', '--batch-size', '5000', '--json'];
    const p = w.spawn(args);
    const feed = fs.createWriteStream(fifo);
    feed.on('error', () => {}); // the reader goes away when interrupted
    const cut = text.indexOf('\n', Math.floor(text.length / 2)) + 1;
    feed.write(text.slice(0, cut)); // half of it, and the pipe stays open
    // Once a first batch is committed, so the signal lands in the middle of the run.
    for (const deadline = Date.now() + 10_000; Date.now() < deadline && p.child.exitCode === null; ) {
      try {
        if (count(w) > 0) break;
      } catch {
        // The store or its schema may not exist yet.
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(p.child.exitCode, null, 'still running when interrupted (make the input larger if this fails)');
    p.child.kill('SIGINT');
    const first = await p.done;
    // README: exit 130, and the --json summary says so.
    assert.equal(first.code, 130, `the run was interrupted\n${first.describe()}`);
    const stored = count(w);
    assert.ok(stored < unique.size, `interrupted before the end (${stored} stored)`);
    // What the summary reports as inserted is committed.
    assert.equal(JSON.parse(first.stdout).interrupted, true, first.describe());
    assert.equal(JSON.parse(first.stdout).inserted, stored, first.describe());
    feed.destroy();
    const second = await exec(w, ['ingest', 'big.ndjson', '--batch-size', '5000', '--json']);
    assert.equal(second.code, 0, second.describe());
    const s = counts(second);
    assert.equal(s.read, 300_000);
    assert.equal(s.inserted, unique.size - stored);
    assert.equal(s.inserted + s.duplicates + s.conflicts, 300_000);
    checkExact(w, unique);
    w.remove();
  });

  test('SIGTERM while stdin is idle stops cleanly; feeding the whole input again completes the store', async () => {
    const w = new Workdir('sigterm');
    const { text, unique } = bigInput(60_000);
    const lines = text.split('\n');
    const half = lines.slice(0, 30_000).join('\n') + '\n';
    const p = w.spawn(['ingest', '-', '--batch-size', '5000', '--json']);
    p.child.stdin.write(half);
    // Wait until much of the first half is committed (polling the store as another reader would), then stop the
    // run while it waits for more input.
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      try {
        if (fs.existsSync(w.path('meter.db')) && count(w) >= 10_000) break;
      } catch {
        // The schema may not exist yet.
      }
    }
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(count(w) >= 10_000, 'the first half was being stored');
    p.child.kill('SIGTERM');
    const timer = setTimeout(() => p.child.kill('SIGKILL'), 5_000);
    const first = await p.done;
    clearTimeout(timer);
    assert.equal(first.signal, null, `exited by itself after SIGTERM, not killed\n${first.describe()}`);
    assert.equal(first.code, 130, first.describe());
    const stored = count(w);
    assert.ok(stored >= 10_000 && stored < unique.size, `${stored} stored`);
    assert.equal(JSON.parse(first.stdout).interrupted, true, first.describe());
    assert.equal(JSON.parse(first.stdout).inserted, stored, first.describe());
    const second = await exec(w, ['ingest', '--json'], { input: text });
    assert.equal(second.code, 0, second.describe());
    assert.equal(counts(second).inserted, unique.size - stored);
    checkExact(w, unique);
    w.remove();
  });
});

describe('many distinct strings', () => {
  test('more than 65,536 distinct subjects in one run are all stored under their own subject', async () => {
    const w = new Workdir('many-subjects');
    const n = 70_000;
    w.write(
      'e.ndjson',
      Array.from({ length: n }, (_, i) => line({ id: `e${i}`, subject: `customer-${i}`, data: { tokens: i } })),
    );
    const r = await run(w, ['ingest', 'e.ndjson', '--json'], 0);
    assert.equal(JSON.parse(r.stdout).inserted, n);
    const d = new Database(w.path('meter.db'), { readonly: true });
    try {
      const wrong = d.prepare("SELECT count(*) FROM events WHERE subject != 'customer-' || substr(id, 2)").pluck().get();
      assert.equal(wrong, 0);
      assert.equal(d.prepare('SELECT count(DISTINCT subject) FROM events').pluck().get(), n);
    } finally {
      d.close();
    }
    w.remove();
  });
});
