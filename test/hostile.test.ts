/**
 * Hostile input: every malformed thing a producer (or an attacker) can send. Each bad event is rejected with a
 * reason in --rejects, the good events around it are kept, and the run ends with exit 3 (or 0) in bounded time
 * and memory: never exit 1 with a stack trace, never a hang.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import zlib from 'node:zlib';
import Database from 'better-sqlite3';
import { BIN, type Workdir, event, line, workdirs } from './helpers.js';

const TIMEOUT_MS = 60_000;
const HAS_TIME = fs.existsSync('/usr/bin/time');

interface Bounded {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** Peak resident set size in KiB (when /usr/bin/time is present). */
  peakRssKb: number | null;
  describe(): string;
}

/** Runs bin/meter with a hard time limit, measuring peak RSS when /usr/bin/time is available. */
function runBounded(w: Workdir, args: string[], opts: { input?: string | Buffer; timeoutMs?: number } = {}): Bounded {
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: '1' };
  delete env.METER_DB;
  delete env.METER_CONFIG;
  const [cmd, argv] = HAS_TIME ? ['/usr/bin/time', ['-v', process.execPath, BIN, ...args]] : [process.execPath, [BIN, ...args]];
  const t0 = Date.now();
  const r = spawnSync(cmd, argv, {
    cwd: w.dir,
    input: opts.input,
    encoding: 'utf8',
    env,
    timeout: opts.timeoutMs ?? TIMEOUT_MS,
    killSignal: 'SIGKILL',
    maxBuffer: 64 * 1024 * 1024,
  });
  const ms = Date.now() - t0;
  let stderr = r.stderr ?? '';
  let peakRssKb: number | null = null;
  if (HAS_TIME) {
    const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
    if (m) peakRssKb = Number(m[1]);
    const cut = stderr.search(/\n?\tCommand (being timed|terminated by signal)/);
    if (cut >= 0) stderr = stderr.slice(0, cut);
    // /usr/bin/time reports the child's status in its own exit code; a signal shows in its output.
  }
  const sig = /Command terminated by signal (\d+)/.exec(r.stderr ?? '');
  return {
    code: sig ? null : r.status,
    signal: r.signal ?? (sig ? (('SIG' + sig[1]) as NodeJS.Signals) : null),
    stdout: r.stdout ?? '',
    stderr,
    ms,
    peakRssKb,
    describe: () =>
      `meter ${args.join(' ').slice(0, 300)}\n  in ${w.dir}\n  status ${r.status} ${r.signal ?? ''} ${r.error?.message ?? ''} (${ms} ms, rss ${peakRssKb} KiB)\n` +
      `  stdout: ${(r.stdout ?? '').slice(0, 2000)}\n  stderr: ${stderr.slice(0, 2000)}`,
  };
}

/** No crash: a normal exit (0 or 3), no internal error and no stack trace, within the time limit. */
function assertNoCrash(r: Bounded, codes: number[] = [3]): void {
  assert.equal(r.signal, null, `killed (time limit or crash)\n${r.describe()}`);
  assert.ok(codes.includes(r.code as number), `exit ${r.code}, expected ${codes.join(' or ')}\n${r.describe()}`);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at .+:\d+:\d+|RangeError|TypeError|FATAL|heap out of memory/i, r.describe());
}

interface Reject {
  file: string;
  line: number;
  index?: number;
  error: string;
  raw: string;
}

function readRejects(w: Workdir, name = 'rejects.ndjson'): Reject[] {
  const text = w.read(name);
  return text === ''
    ? []
    : text
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as Reject);
}

function storedIds(w: Workdir, db = 'meter.db'): string[] {
  const d = new Database(w.path(db), { readonly: true });
  try {
    return d.prepare('SELECT id FROM events ORDER BY id').pluck().all() as string[];
  } finally {
    d.close();
  }
}

/** A valid event line with a unique id. */
function good(id: string, tokens = 1): string {
  return line({ id, data: { tokens } });
}

const workdir = workdirs();

/** One bad input line and what its reject reason must say. */
interface BadCase {
  name: string;
  bytes: Buffer;
  reason: RegExp;
}

const str = (s: string) => Buffer.from(s, 'utf8');
const obj = (over: Record<string, unknown>) => str(JSON.stringify(event({ id: 'bad', ...over })));

function badCases(): BadCase[] {
  const cases: BadCase[] = [];
  // Truncated JSON, at several points.
  const full = line({ id: 'trunc' });
  for (const cut of [1, 10, 40, full.length - 20, full.length - 1]) {
    cases.push({ name: `truncated at ${cut}`, bytes: str(full.slice(0, cut)), reason: /invalid JSON/ });
  }
  // Wrong types for every field.
  const wrong: Record<string, unknown[]> = {
    specversion: [1, 1.0, true, null, [], {}, '', '0.3', '1.0 '],
    id: [42, true, null, [], { a: 1 }, ''],
    source: [42, false, null, ['s'], {}, ''],
    type: [42, true, null, [], {}, ''],
    subject: [42, true, null, ['acme'], { name: 'acme' }, ''],
    time: [1767225600000, true, [], {}, '', 'yesterday', '2026-02-30T00:00:00Z', '2026-11-01T10:00:00', '2026-11-01T24:00:00Z'],
    data: ['tokens=5', 42, true, [1, 2], '{"tokens":5}'],
    datacontenttype: [42, 'text/plain', 'application/xml', true],
    data_base64: ['AAAA', 42],
  };
  for (const [field, values] of Object.entries(wrong)) {
    for (const v of values) {
      cases.push({ name: `${field} = ${JSON.stringify(v)}`, bytes: obj({ [field]: v }), reason: new RegExp(`(^|; )${field}: `) });
    }
  }
  for (const field of ['specversion', 'id', 'source', 'type', 'subject']) {
    cases.push({ name: `${field} missing`, bytes: obj({ [field]: undefined }), reason: new RegExp(`(^|; )${field}: missing`) });
  }
  // Every field wrong at once: every field is named in one reason.
  cases.push({
    name: 'every field wrong',
    bytes: str(JSON.stringify({ specversion: 2, id: 1, source: 2, type: 3, subject: 4, time: 5, data: 6, datacontenttype: 7 })),
    reason: /specversion: .*id: .*source: .*type: .*subject: .*time: .*datacontenttype: .*data: /,
  });
  // Not an object at all.
  for (const v of ['42', '"event"', 'null', 'true', '[1]', '-0', '1e400']) {
    cases.push({ name: `top-level ${v}`, bytes: str(v), reason: /event must be a JSON object/ });
  }
  // 10 MB strings (larger than the default 1 MiB event limit).
  const ten = 'x'.repeat(10 * 1024 * 1024);
  cases.push({ name: '10 MB subject', bytes: obj({ subject: ten }), reason: /too large/ });
  cases.push({ name: '10 MB data string', bytes: obj({ data: { tokens: 1, note: ten } }), reason: /too large/ });
  cases.push({ name: '10 MB id, unterminated', bytes: str(`{"specversion":"1.0","id":"${ten}`), reason: /too large/ });
  // Deep nesting: 10,000 levels of objects and of arrays in data, and 10,000 nested arrays as the event.
  const head = JSON.stringify(event({ id: 'deep', data: undefined })).slice(0, -1);
  cases.push({
    name: 'data 10k objects deep',
    bytes: str(`${head},"data":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}}`),
    reason: /nested deeper/,
  });
  cases.push({
    name: 'data 10k arrays deep',
    bytes: str(`${head},"data":{"a":${'['.repeat(10_000)}${']'.repeat(10_000)}}}`),
    reason: /nested deeper/,
  });
  cases.push({
    name: 'data 300k arrays deep',
    bytes: str(`${head},"data":{"a":${'['.repeat(300_000)}${']'.repeat(300_000)}}}`),
    reason: /nested deeper/,
  });
  // Refused by the depth scan before JSON.parse, which would hold tens of bytes a level (a 10 MB line of `[`
  // took 750 MB), and said so, not "invalid JSON".
  cases.push({
    name: 'data 1M arrays, never closed',
    bytes: str(`${head},"data":{"a":${'['.repeat(1_000_000)}`),
    reason: /^nested deeper than 100000 levels \(an event may nest 128\)$/,
  });
  cases.push({ name: 'event 10k arrays deep', bytes: str(`${'['.repeat(10_000)}${']'.repeat(10_000)}`), reason: /must be a JSON object/ });
  cases.push({ name: 'unbalanced 100k opening braces', bytes: str('{"a":'.repeat(100_000)), reason: /invalid JSON/ });
  // Invalid UTF-8: a stray byte, an overlong encoding, an encoded surrogate, a truncated sequence.
  const pre = str(line({ id: 'utf8', subject: 'ac' }).replace('"ac"', '"ac'));
  for (const [name, bytes] of [
    ['0xff byte', [0xff]],
    ['overlong /', [0xc0, 0xaf]],
    ['encoded surrogate', [0xed, 0xa0, 0x80]],
    ['truncated euro sign', [0xe2, 0x82]],
    ['lone continuation', [0x80, 0x80]],
  ] as Array<[string, number[]]>) {
    const b = Buffer.concat([pre.subarray(0, pre.indexOf('"ac') + 3), Buffer.from(bytes), pre.subarray(pre.indexOf('"ac') + 3)]);
    cases.push({ name: `invalid UTF-8: ${name}`, bytes: b, reason: /invalid UTF-8/ });
  }
  // NUL bytes: raw inside a string, raw between tokens, and escaped in an attribute (CloudEvents strings exclude it).
  const nulIn = str(line({ id: 'nul-raw', subject: 'acXme' }));
  nulIn[nulIn.indexOf('acXme') + 2] = 0;
  cases.push({ name: 'raw NUL in a string', bytes: nulIn, reason: /invalid JSON/ });
  cases.push({
    name: 'raw NUL between tokens',
    bytes: Buffer.concat([str('{"specversion":"1.0",'), Buffer.from([0]), str(line({ id: 'nul2' }).slice(21))]),
    reason: /invalid JSON/,
  });
  for (const field of ['id', 'source', 'type', 'subject']) {
    cases.push({ name: `escaped NUL in ${field}`, bytes: obj({ [field]: 'ac\u0000me' }), reason: new RegExp(`${field}: .*(NUL|control)`) });
  }
  // Binary garbage on a line of its own (no newline inside).
  const garbage = Buffer.alloc(4096);
  let seed = 7;
  for (let i = 0; i < garbage.length; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    let b = seed >>> 24;
    if (b === 0x0a) b = 0x0b;
    garbage[i] = b;
  }
  garbage[0] = 0x01; // not `{`, `[` or whitespace
  cases.push({ name: 'binary garbage line', bytes: garbage, reason: /invalid (JSON|UTF-8)/ });
  return cases;
}

describe('hostile input', () => {
  test('every bad line is rejected with its reason, good lines around them are kept, memory and time bounded', () => {
    const w = workdir('hostile-lines');
    const cases = badCases();
    const parts: Buffer[] = [];
    const goodIds: string[] = [];
    const badAt = new Map<number, BadCase>();
    let n = 0;
    const push = (b: Buffer) => {
      parts.push(b, Buffer.from('\n'));
      return ++n;
    };
    push(str(good('g-first')));
    goodIds.push('g-first');
    cases.forEach((c, i) => {
      badAt.set(push(c.bytes), c);
      push(str(good(`g${i}`)));
      goodIds.push(`g${i}`);
    });
    // A 50 MB line (one event with a huge data string) between two good ones; CRLF line ends on the last good one.
    badAt.set(push(Buffer.concat([obj({}).subarray(0, -2), str(`,"note":"${'y'.repeat(50 * 1024 * 1024)}"}}`)])), {
      name: '50 MB line',
      bytes: Buffer.alloc(0),
      reason: /too large/,
    });
    parts.push(str(good('g-last') + '\r\n'));
    goodIds.push('g-last');
    w.write('hostile.ndjson', Buffer.concat(parts));

    const r = runBounded(w, ['ingest', 'hostile.ndjson', '--rejects', 'rejects.ndjson', '--json']);
    assertNoCrash(r);
    assert.ok(r.ms < TIMEOUT_MS, r.describe());
    if (r.peakRssKb !== null) {
      // The input holds a 50 MB line and 10 MB strings; none of them may be held whole (or several times).
      assert.ok(r.peakRssKb < 400 * 1024, `peak RSS ${r.peakRssKb} KiB\n${r.describe()}`);
    }
    const summary = JSON.parse(r.stdout);
    assert.equal(summary.rejected, badAt.size, r.describe());
    assert.equal(summary.inserted, goodIds.length, r.describe());

    const rejects = readRejects(w);
    const byLine = new Map(rejects.map((x) => [x.line, x]));
    for (const [ln, c] of badAt) {
      const rej = byLine.get(ln);
      assert.ok(rej, `${c.name} (line ${ln}) was not rejected`);
      assert.equal(rej.file, 'hostile.ndjson');
      assert.match(rej.error, c.reason, `${c.name} (line ${ln}): reason "${rej.error}"`);
      assert.equal(typeof rej.raw, 'string');
      assert.ok(rej.raw.length <= 10_003, `${c.name}: raw text of ${rej.raw.length} chars is not clipped`);
    }
    assert.deepEqual(
      [...byLine.keys()].filter((l) => !badAt.has(l)),
      [],
      'good lines were rejected',
    );
    assert.deepEqual(storedIds(w), [...goodIds].sort());
  });

  test('a JSON array that never closes keeps the events before the break and reports the rest', () => {
    const w = workdir('hostile-array');
    // Closes neither the last object nor the array.
    w.write('open.json', `[\n${good('a1')},\n${good('a2')},\n${good('a3').slice(0, 50)}`);
    // Every element complete, the array never closed.
    w.write('open2.json', `[${good('b1')},${good('b2')},`);
    // A string that never ends, 20 MB long.
    w.write('open3.json', Buffer.concat([str(`[${good('c1')},{"id":"`), Buffer.alloc(20 * 1024 * 1024, 'z')]));
    const r = runBounded(w, ['ingest', 'open.json', 'open2.json', 'open3.json', '--rejects', 'rejects.ndjson', '--json']);
    assertNoCrash(r);
    assert.deepEqual(storedIds(w), ['a1', 'a2', 'b1', 'b2', 'c1']);
    const rejects = readRejects(w);
    for (const f of ['open.json', 'open2.json', 'open3.json']) {
      const mine = rejects.filter((x) => x.file === f);
      assert.ok(mine.length >= 1, `${f}: nothing rejected\n${JSON.stringify(rejects)}`);
      for (const x of mine) assert.match(x.error, /end of input|not closed|too large/, `${f}: ${x.error}`);
    }
    const a3 = rejects.find((x) => x.file === 'open.json' && x.index === 2);
    assert.ok(a3, `the unfinished third element is reported with its index\n${JSON.stringify(rejects)}`);
    assert.ok(
      rejects.some((x) => x.file === 'open2.json' && /array not closed/.test(x.error)),
      JSON.stringify(rejects),
    );
  });

  test('a whole file of binary garbage is rejected line by line, nothing stored, no hang', () => {
    const w = workdir('hostile-binary');
    const buf = Buffer.alloc(8 * 1024 * 1024);
    let s = 12345;
    for (let i = 0; i < buf.length; i += 4) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      buf.writeUInt32LE(s, i);
    }
    buf[0] = 0x02;
    buf[1] = 0x03; // no gzip magic, no JSON opening
    w.write('garbage.bin', buf);
    // Also garbage that starts like a JSON array and like a pretty-printed object.
    w.write('garbage-array.json', Buffer.concat([str('['), buf.subarray(0, 1024 * 1024)]));
    w.write('garbage-object.json', Buffer.concat([str('{\n'), buf.subarray(0, 1024 * 1024)]));
    w.write('ok.ndjson', [good('after-garbage')]);
    const r = runBounded(w, [
      'ingest',
      'garbage.bin',
      'garbage-array.json',
      'garbage-object.json',
      'ok.ndjson',
      '--rejects',
      'rejects.ndjson',
      '--json',
    ]);
    assertNoCrash(r);
    assert.deepEqual(storedIds(w), ['after-garbage']);
    const rejects = readRejects(w);
    for (const f of ['garbage.bin', 'garbage-array.json', 'garbage-object.json']) {
      assert.ok(
        rejects.some((x) => x.file === f),
        `${f}: nothing rejected`,
      );
    }
    for (const x of rejects) {
      assert.ok(x.error.length > 0, 'a reject without a reason');
      assert.ok(x.raw.length <= 10_003, 'raw text not clipped');
    }
    assert.equal(JSON.parse(r.stdout).rejected, rejects.length);
  });

  test('numbers like 1e400 and -0: exact (never Infinity, never -0), "Infinity" reported as unusable', () => {
    const w = workdir('hostile-numbers');
    w.write('meter.yaml', 'meters:\n  - slug: tokens\n    eventType: prompt\n    aggregation: SUM\n    valueProperty: $.tokens\n');
    w.write('n.ndjson', [
      line({ id: 'huge', data: { tokens: 0 } }).replace('"tokens":0', '"tokens":1e400'),
      line({ id: 'neghuge', data: { tokens: 0 } }).replace('"tokens":0', '"tokens":-1e400'),
      line({ id: 'tiny', data: { tokens: 0 } }).replace('"tokens":0', '"tokens":1e-400'),
      line({ id: 'negzero', data: { tokens: 0 } }).replace('"tokens":0', '"tokens":-0'),
      line({ id: 'negzero-str', data: { tokens: '-0' } }),
      line({ id: 'inf-str', data: { tokens: 'Infinity' } }),
      line({ id: 'five', data: { tokens: 5 } }),
      // Numbers in attribute fields are wrong types.
      line({ id: 'x' }).replace('"id":"x"', '"id":1e400'),
      line({ id: 'y' }).replace('"time":"2026-11-01T10:00:00Z"', '"time":-0'),
    ]);
    const r = runBounded(w, ['ingest', 'n.ndjson', '--rejects', 'rejects.ndjson', '--json']);
    assertNoCrash(r);
    const summary = JSON.parse(r.stdout);
    assert.equal(summary.rejected, 2, r.describe());
    assert.equal(summary.inserted, 7, r.describe());
    // 1e400 and -1e400 are exact numbers (they cancel); "Infinity" is no number: counted as unusable.
    assert.equal(summary.unusable.tokens, 1, r.describe());
    for (const x of readRejects(w)) assert.match(x.error, /^(id|time): /);
    const q = runBounded(w, ['query', '--format', 'csv'], { timeoutMs: 20_000 });
    assertNoCrash(q, [0]);
    // 1e400 - 1e400 + 1e-400 + 0 + 0 + 5, to the last digit.
    assert.equal(q.stdout.trimEnd().split('\n')[1]!.split(',').at(-1), `5.${'0'.repeat(399)}1`, q.describe());
    const only = runBounded(w, ['query', '--format', 'json', '--from', '2026-11-01T00:00:00Z', '--to', '2026-11-02T00:00:00Z'], {
      timeoutMs: 20_000,
    });
    assertNoCrash(only, [0]);
    assert.doesNotMatch(only.stdout, /Infinity|NaN|-0\b/, only.describe());
  });

  test('a value beyond 2^53 (9007199254740993) is never silently billed as another number', () => {
    // A double cannot hold it: it must be summed exactly, or the event rejected or reported unusable.
    const w2 = workdir('hostile-bigint');
    w2.write('meter.yaml', 'meters:\n  - slug: tokens\n    eventType: prompt\n    aggregation: SUM\n    valueProperty: $.tokens\n');
    w2.write('b.ndjson', [line({ id: 'big', data: { tokens: 0 } }).replace('"tokens":0', '"tokens":9007199254740993')]);
    const b = runBounded(w2, ['ingest', 'b.ndjson', '--rejects', 'rejects.ndjson', '--json']);
    assertNoCrash(b, [0, 3]);
    const bs = JSON.parse(b.stdout);
    const reported = bs.rejected === 1 || bs.unusable.tokens === 1;
    const bq = runBounded(w2, ['query', '--format', 'csv'], { timeoutMs: 20_000 });
    const total = bq.stdout.trimEnd().split('\n')[1]?.split(',').at(-1);
    assert.ok(reported || total === '9007199254740993', `tokens 9007199254740993 was silently billed as ${total}\n${b.describe()}`);
  });

  test('an empty file, a blank file and a BOM-only file: exit 0, nothing stored', () => {
    const w = workdir('hostile-empty');
    w.write('empty.ndjson', '');
    w.write('blank.ndjson', '\n\n  \r\n\t\n');
    w.write('bom.ndjson', Buffer.from([0xef, 0xbb, 0xbf]));
    w.writeGzip('empty.ndjson.gz', '');
    const r = runBounded(w, ['ingest', 'empty.ndjson', 'blank.ndjson', 'bom.ndjson', 'empty.ndjson.gz', '--json']);
    assertNoCrash(r, [0]);
    const s = JSON.parse(r.stdout);
    assert.deepEqual([s.read, s.inserted, s.rejected], [0, 0, 0]);
    const stdin = runBounded(w, ['ingest', '-', '--json'], { input: '' });
    assertNoCrash(stdin, [0]);
    assert.equal(JSON.parse(stdin.stdout).read, 0);
  });

  test('a file named .gz that is not gzip, and a truncated gzip: reported, the other files still ingested', () => {
    const w = workdir('hostile-gz');
    w.write('plain.ndjson.gz', [good('not-really-gzip')]);
    w.write('random.gz', Buffer.from('this is not gzip at all\n'));
    const gz = zlib.gzipSync(Array.from({ length: 2000 }, (_, i) => good(`t${i}`)).join('\n') + '\n');
    w.write('truncated.ndjson.gz', gz.subarray(0, Math.floor(gz.length / 2)));
    const corrupt = Buffer.from(gz);
    for (let i = 200; i < 400; i++) corrupt[i] = corrupt[i]! ^ 0x5a;
    w.write('corrupt.ndjson.gz', corrupt);
    w.writeGzip('real.ndjson.gz', [good('real-gzip')]);
    w.write('ok.ndjson', [good('plain-ok')]);
    const files = ['plain.ndjson.gz', 'random.gz', 'truncated.ndjson.gz', 'corrupt.ndjson.gz', 'real.ndjson.gz', 'ok.ndjson'];
    const r = runBounded(w, ['ingest', ...files, '--rejects', 'rejects.ndjson', '--json']);
    assertNoCrash(r);
    const rejects = readRejects(w);
    for (const f of ['plain.ndjson.gz', 'random.gz']) {
      const x = rejects.find((y) => y.file === f);
      assert.ok(x, `${f} not reported\n${JSON.stringify(rejects)}`);
      assert.match(x.error, /not gzip/);
    }
    for (const f of ['truncated.ndjson.gz', 'corrupt.ndjson.gz']) {
      assert.ok(
        rejects.some((y) => y.file === f && /gzip/.test(y.error)),
        `${f}: gzip failure not reported\n${JSON.stringify(rejects).slice(0, 3000)}`,
      );
    }
    const ids = storedIds(w);
    assert.ok(ids.includes('real-gzip') && ids.includes('plain-ok'), ids.slice(0, 10).join());
    assert.ok(!ids.includes('not-really-gzip'));
    // What the truncated gzip held before the break is kept, in order, without gaps.
    const t = ids
      .filter((i) => /^t\d+$/.test(i))
      .map((i) => Number(i.slice(1)))
      .sort((a, b) => a - b);
    assert.ok(t.length > 0, 'nothing kept from the truncated gzip');
    assert.ok(
      t.every((v, i) => v === i),
      'events before the break are missing',
    );
  });

  test('hostile input on stdin and in a pretty-printed object stream', () => {
    const w = workdir('hostile-stdin');
    const input = Buffer.concat([
      str(good('s1') + '\n'),
      Buffer.from([0xff, 0xfe, 0x00, 0x0a]),
      str('{"specversion":"1.0"\n'),
      str(good('s2') + '\n'),
    ]);
    const r = runBounded(w, ['ingest', '-', '--rejects', 'rejects.ndjson', '--json'], { input });
    assertNoCrash(r);
    assert.deepEqual(storedIds(w), ['s1', 's2']);
    assert.deepEqual(
      readRejects(w).map((x) => [x.file, x.line]),
      [
        ['-', 2],
        ['-', 3],
      ],
    );

    // Pretty-printed objects, one of them broken mid-way.
    const pretty = [
      JSON.stringify(event({ id: 'p1' }), null, 2),
      '{\n  "specversion": "1.0",\n  "id": 5\n}',
      JSON.stringify(event({ id: 'p2' }), null, 2),
    ].join('\n');
    w.write('pretty.json', pretty + '\n');
    const p = runBounded(w, ['ingest', 'pretty.json', '--db', 'p.db', '--rejects', 'rejects.ndjson', '--json']);
    assertNoCrash(p);
    assert.deepEqual(storedIds(w, 'p.db'), ['p1', 'p2']);
    const rej = readRejects(w);
    assert.equal(rej.length, 1);
    assert.match(rej[0]!.error, /id: must be a string/);
  });
});
