/**
 * Hostile-input corpus, as seeded generated cases: each class of bad input of issue 11 (deep nesting, lone
 * surrogates, long numbers in batch lines, exponent forms, 2.0 vs 2, gzip with trailing bytes, CR-only files, a
 * BOM in the middle, invalid UTF-8) is written at random places among good events in several files of one run.
 * Every run checks the exit code (3 when anything is rejected, else 0), every reject (file, line, array index,
 * reason), the summary, and that every good event of every file is stored: per-subject COUNT, exact SUM and
 * UNIQUE_COUNT through `meter query`, computed for the good events by test/reference.ts. Each case runs on SQLite
 * and on ClickHouse (found or started as in test/differential.test.ts).
 *
 * METER_SEED fixes the generated variants (printed in every failure).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import zlib from 'node:zlib';
import { BIN, Workdir } from './helpers.js';
import { metersYaml, Rng, runSeed } from './gen.js';
import { ingest as refIngest, runQuery, type MeterDef, type Query } from './reference.js';
import { CH_HTTP, CH_PORT, useClickHouse } from './clickhouse-server.js';

const SEED = runSeed();
const RUN_ID = randomBytes(4).toString('hex');
const databases: string[] = [];

before(async () => {
  console.log(`corpus: seed ${SEED} (reproduce with METER_SEED=${SEED} node --test dist/test/corpus.test.js)`);
});

after(async () => {
  for (const d of databases) await fetch(`${CH_HTTP}/`, { method: 'POST', body: `DROP DATABASE IF EXISTS \`${d}\`` }).catch(() => {});
});
// Registered after the hooks above, so that a server the tests started stops after the databases are dropped.
useClickHouse();

const METERS: MeterDef[] = [
  { slug: 'count_all', eventType: 'usage', aggregation: 'COUNT', groupBy: [] },
  { slug: 'sum_v', eventType: 'usage', aggregation: 'SUM', valueProperty: '$.v', groupBy: [] },
  { slug: 'unique_item', eventType: 'usage', aggregation: 'UNIQUE_COUNT', valueProperty: '$.item', groupBy: [] },
];

/** The limit of the spec: an event nesting more than this many levels (the event object is level 1) is rejected. */
const DEPTH_LIMIT = 128;

/** One expected reject: where (line null: anywhere in the file) and a pattern its reason must match. */
interface Bad {
  file: string;
  line: number | null;
  index?: number;
  reason: RegExp;
}

/** A run's inputs and what it must do with them. */
interface Corpus {
  files: Array<{ name: string; content: Buffer }>;
  /** The good events in input order (one event's JSON text each), as the store must hold them. */
  good: string[];
  bad: Bad[];
  /** Conflicting duplicates the run must report (copies of a stored event with other content). */
  conflicts?: number;
}

const SUBJECTS = ['acme', 'beta', 'a"q', '=x', '😀'];

/** Ids are unique across every class, so the run of all classes at once has no accidental copies. */
let uid = 0;

/** Good-event JSON text with a raw data text (number literals as written). */
function ev(base: string, subject: string, data: string, extra = ''): string {
  const id = `${base}#${uid++}`;
  return (
    `{"specversion":"1.0","id":${JSON.stringify(id)},"source":"corpus","type":"usage","subject":${JSON.stringify(subject)},` +
    `"time":"2026-03-0${1 + (id.length % 5)}T10:00:00.${String(id.length % 1000).padStart(3, '0')}Z"${extra},"data":${data}}`
  );
}

/** Builds files line by line, keeping count of line numbers for the expected rejects. */
class FileBuilder {
  readonly lines: string[] = [];
  constructor(
    readonly name: string,
    private readonly c: Corpus,
    private readonly rng: Rng,
  ) {}
  /** 1-based number of the next line. */
  get next(): number {
    return this.lines.length + 1;
  }
  good(n = 1, data?: () => string): void {
    for (let i = 0; i < n; i++) {
      const id = `${this.name}-${this.next}-${i}`;
      const text = ev(
        id,
        this.rng.pick(SUBJECTS),
        data ? data() : `{"v":${this.rng.int(-5, 500)},"item":${this.rng.pick(['1', '"x"', '2'])}}`,
      );
      this.c.good.push(text);
      this.lines.push(text);
    }
  }
  bad(line: string, reason: RegExp, index?: number): void {
    this.c.bad.push({ file: this.name, line: this.next, index, reason });
    this.lines.push(line);
  }
  raw(line: string): void {
    this.lines.push(line);
  }
  done(): void {
    this.c.files.push({ name: this.name, content: Buffer.from(this.lines.join('\n') + '\n') });
  }
}

/** Nested arrays `[[[...]]]` of a depth. */
const nest = (depth: number, inner = '1') => '['.repeat(depth) + inner + ']'.repeat(depth);
/** Nested objects `{"a":{"a":...}}` of a depth. */
const nestObj = (depth: number, inner = '1') => '{"a":'.repeat(depth) + inner + '}'.repeat(depth);

const DEEP = /nested deeper/;
const DEEP_OR_JSON = /nested deeper|invalid JSON/;
const SURROGATE = /surrogate/i;

/** Each class builds one corpus from its own generator. */
const CLASSES: Record<string, (rng: Rng) => Corpus> = {
  'deep nesting: 100,000 nested [ on a line, closed and unclosed, between good events in several files'(rng) {
    const c: Corpus = { files: [], good: [], bad: [] };
    for (let f = 0; f < 3; f++) {
      const b = new FileBuilder(`deep-${f}.ndjson`, c, rng);
      b.good(rng.int(1, 3));
      b.bad('['.repeat(100_000) + (rng.chance(0.5) ? ']'.repeat(100_000) : ''), DEEP_OR_JSON);
      b.good(rng.int(1, 3));
      b.bad('{"a":'.repeat(rng.int(20_000, 60_000)), DEEP_OR_JSON);
      b.good(rng.int(1, 3));
      b.done();
    }
    return c;
  },

  'deep nesting: a 20,000-deep array in an extension attribute of an event inside a batch-array line'(rng) {
    const c: Corpus = { files: [], good: [], bad: [] };
    const b = new FileBuilder('batch-deep.ndjson', c, rng);
    b.good(2);
    const at = rng.int(0, 2);
    const items: string[] = [];
    for (let i = 0; i < 3; i++) {
      if (i === at) items.push(ev(`deep-ext-${i}`, 'acme', '{"v":1000}', `,"traceext":${nest(rng.int(20_000, 30_000))}`));
      else {
        const text = ev(`batch-${i}`, rng.pick(SUBJECTS), `{"v":${rng.int(1, 9)}}`);
        items.push(text);
        c.good.push(text);
      }
    }
    c.bad.push({ file: b.name, line: b.next, index: at, reason: DEEP });
    b.raw(`[${items.join(',')}]`);
    b.good(2);
    b.done();
    const b2 = new FileBuilder('after.ndjson', c, rng);
    b2.good(3);
    b2.done();
    return c;
  },

  'deep nesting: events exactly at and one over the 128-level limit, in data and in an extension attribute'(rng) {
    const c: Corpus = { files: [], good: [], bad: [] };
    const b = new FileBuilder('limit.ndjson', c, rng);
    for (const where of ['data', 'ext'] as const) {
      for (const depth of [DEPTH_LIMIT, DEPTH_LIMIT + 1, DEPTH_LIMIT + rng.int(2, 50)]) {
        b.good(rng.int(0, 2));
        // As the README counts: `data`'s own object is level 1, so data holds depth - 1 more containers; an
        // extension attribute's value is level 1 as well.
        const deep = rng.chance(0.5) ? nestObj(depth - 1, '{}') : nest(depth - 1, '[]');
        const id = `limit-${where}-${depth}`;
        const text =
          where === 'data'
            ? ev(id, 'acme', `{"v":7,"deep":${nestObj(depth - 2, '{}')}}`)
            : ev(id, 'acme', '{"v":7}', `,"traceext":${deep}`);
        if (depth <= DEPTH_LIMIT) {
          c.good.push(text);
          b.raw(text);
        } else b.bad(text, DEEP);
      }
    }
    b.good(2);
    b.done();
    return c;
  },

  'lone surrogates in subject, id, source, type, data keys and data values are rejected; pairs are kept'(rng) {
    const c: Corpus = { files: [], good: [], bad: [] };
    const lone = () => rng.pick(['\\ud800', '\\udbff', '\\udc00', '\\udfff', '\\ude00\\ud83d']);
    for (let f = 0; f < 2; f++) {
      const b = new FileBuilder(`surrogates-${f}.ndjson`, c, rng);
      const base = (over: Record<string, string>, data = '{"v":1}') => {
        const fields = { id: `"s-${f}-${b.next}-${uid++}"`, source: '"corpus"', type: '"usage"', subject: '"acme"', ...over };
        return `{"specversion":"1.0","id":${fields.id},"source":${fields.source},"type":${fields.type},"subject":${fields.subject},"time":"2026-03-01T10:00:00Z","data":${data}}`;
      };
      b.good(1);
      b.bad(base({ subject: `"c${lone()}"` }), SURROGATE);
      b.good(rng.int(1, 2));
      b.bad(base({ id: `"id${lone()}"` }), SURROGATE);
      b.bad(base({ source: `"${lone()}src"` }), SURROGATE);
      b.good(1);
      b.bad(base({ type: `"usage${lone()}"` }), SURROGATE);
      b.bad(base({}, `{"v":1,"k${lone()}":2}`), SURROGATE);
      b.bad(base({}, `{"v":1,"s":["ok","x${lone()}"]}`), SURROGATE);
      // A valid pair written as escapes is an ordinary character.
      const pair = base({ subject: '"\\ud83d\\ude00"' }, '{"v":5,"e":"\\ud83d\\ude00"}');
      c.good.push(pair);
      b.raw(pair);
      b.good(1);
      b.done();
    }
    return c;
  },

  'long numbers in a batch-array line after the first line keep every digit; the same event alone is a duplicate'(rng) {
    const c: Corpus = { files: [], good: [], bad: [] };
    const b = new FileBuilder('long.ndjson', c, rng);
    b.good(1);
    const longs = ['9007199254740993', '12345678901234567890', '-9007199254740995', '18014398509481985', '0.1234567890123456789'];
    const items = Array.from({ length: rng.int(2, 5) }, (_, i) =>
      ev(`long-${i}`, rng.pick(SUBJECTS), `{"v":${rng.pick(longs)},"item":${rng.pick(longs)}}`),
    );
    c.good.push(...items);
    b.raw(`[${items.join(',')}]`);
    b.good(1);
    // Re-sent alone, each is an exact copy of what the batch stored: a duplicate, never a conflict.
    for (const x of items) b.raw(x);
    b.done();
    return c;
  },

  'numbers past double precision and in exponent form sum exactly'(rng) {
    const c: Corpus = { files: [], good: [], bad: [] };
    const lits = [
      '10000000000000000000001',
      '0.1000000000000000000001',
      '1e-7',
      '1E+22',
      '2.5e-30',
      '-10000000000000000000001',
      '123456789012345678901234567890.5',
    ];
    for (let f = 0; f < 2; f++) {
      const b = new FileBuilder(`exp-${f}.ndjson`, c, rng);
      b.good(rng.int(4, 10), () => `{"v":${rng.pick(lits)}}`);
      b.good(2);
      b.good(rng.int(2, 6), () => `{"v":${JSON.stringify(rng.pick(lits))}}`);
      b.done();
    }
    return c;
  },

  '{"item":2.0} and {"item":2} are one UNIQUE_COUNT value, whatever else the event holds'(rng) {
    const c: Corpus = { files: [], good: [], bad: [] };
    const b = new FileBuilder('item.ndjson', c, rng);
    const spellings = ['2', '2.0', '2.00', '2e0', '20e-1', '0.2e1'];
    b.good(rng.int(6, 12), () => {
      const noise = rng.chance(0.5) ? ',"n":9007199254740993' : '';
      return `{"v":1,"item":${rng.pick(spellings)}${noise}}`;
    });
    b.done();
    return c;
  },

  'gzip with trailing bytes after a complete member: every event decoded before them is stored'(rng) {
    const c: Corpus = { files: [], good: [], bad: [] };
    for (const [name, trailer, rejected] of [
      ['garbage.ndjson.gz', randomBytesFrom(rng, rng.int(1, 64)), true],
      ['newline.ndjson.gz', Buffer.from('\n'), false],
    ] as const) {
      const b = new FileBuilder(name, c, rng);
      // Large enough that the decoder's last buffered 16 KiB hold many events.
      b.good(rng.int(200, 1500));
      const gz = zlib.gzipSync(b.lines.join('\n') + '\n');
      c.files.push({ name, content: Buffer.concat([gz, trailer]) });
      if (rejected) c.bad.push({ file: name, line: null, reason: /gzip|trailing/i });
    }
    const plain = new FileBuilder('plain.ndjson', c, rng);
    plain.good(3);
    plain.done();
    return c;
  },

  'a CR-only file is rejected with a hint about line endings; the files around it are stored'(rng) {
    const c: Corpus = { files: [], good: [], bad: [] };
    const before = new FileBuilder('before.ndjson', c, rng);
    before.good(2);
    before.done();
    // The CR-only file's events are not NDJSON lines: not stored, one reject that says why.
    const cr = Array.from({ length: rng.int(2, 5) }, (_, i) => ev(`cr-${i}`, 'acme', '{"v":1}')).join('\r') + '\r';
    c.files.push({ name: 'cr-only.ndjson', content: Buffer.from(cr) });
    c.bad.push({ file: 'cr-only.ndjson', line: 1, reason: /line ending|\bCR\b|carriage return|\\r/i });
    const afterF = new FileBuilder('after.ndjson', c, rng);
    afterF.good(2);
    afterF.done();
    return c;
  },

  'a BOM in the middle of a file is rejected as a byte order mark; a BOM at the start is accepted'(rng) {
    const c: Corpus = { files: [], good: [], bad: [] };
    const b = new FileBuilder('bom.ndjson', c, rng);
    b.good(rng.int(1, 3));
    b.bad('\uFEFF' + ev('bom-mid', 'acme', '{"v":1}'), /BOM|byte order mark/i);
    b.good(rng.int(1, 3));
    b.done();
    const start = new FileBuilder('bom-start.ndjson', c, rng);
    start.good(2);
    start.done();
    c.files[c.files.length - 1]!.content = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), c.files[c.files.length - 1]!.content]);
    return c;
  },

  'invalid UTF-8 lines are rejected; the good events around them in several files are stored'(rng) {
    const c: Corpus = { files: [], good: [], bad: [] };
    const parts: Buffer[][] = [];
    for (let f = 0; f < 2; f++) {
      const name = `utf8-${f}.ndjson`;
      const chunks: Buffer[] = [];
      let line = 1;
      const good = (n: number) => {
        for (let i = 0; i < n; i++) {
          const text = ev(`${name}-${line}`, rng.pick(SUBJECTS), `{"v":${rng.int(1, 99)}}`);
          c.good.push(text);
          chunks.push(Buffer.from(text + '\n'));
          line++;
        }
      };
      good(rng.int(1, 3));
      for (const bytes of [[0xc3, 0x28], [0xff], [0xed, 0xa0, 0x80], [0xe2, 0x82]]) {
        const text = ev(`${name}-bad-${line}`, 'acme', '{"v":1}');
        const at = text.indexOf('acme') + 2;
        chunks.push(Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from(bytes), Buffer.from(text.slice(at) + '\n')]));
        c.bad.push({ file: name, line, reason: /UTF-8/ });
        line++;
        good(rng.int(1, 2));
      }
      c.files.push({ name, content: Buffer.concat(chunks) });
      parts.push(chunks);
    }
    return c;
  },
};

function randomBytesFrom(rng: Rng, n: number): Buffer {
  // Not a gzip member: the first byte is never 0x1f.
  return Buffer.from(Array.from({ length: n }, (_, i) => (i === 0 ? rng.int(0x20, 0x7e) : rng.int(0, 255))));
}

function run(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: '1' };
    delete env.METER_DB;
    delete env.METER_CONFIG;
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env });
    let stdout = '',
      stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Per-subject values of a meter over the good events, as the reference computes them. */
function expectedBySubject(good: string[], slug: string): Record<string, string | null> {
  const { events } = refIngest(good);
  const q: Query = {
    meter: METERS.find((m) => m.slug === slug)!,
    window: null,
    tz: 'UTC',
    subjects: [],
    groupBy: [],
    filters: [],
    fill: false,
    allSubjects: false,
  };
  return Object.fromEntries(runQuery(events, q).map((r) => [r.subject, r.value]));
}

/** Per-subject values from `meter query --format ndjson` output, keeping each value's digits as printed. */
function actualBySubject(ndjson: string): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const l of ndjson.split('\n').filter(Boolean)) {
    const subject = JSON.parse(l).subject as string;
    const m = /^\{"value":(null|-?[0-9.]+),/.exec(l);
    out[subject] = m === null ? `<unreadable: ${l}>` : m[1] === 'null' ? null : m[1]!;
  }
  return out;
}

/** Runs one corpus on one backend and returns every problem found (empty when it behaves). */
async function check(name: string, c: Corpus, backend: 'sqlite' | 'clickhouse', w: Workdir, where: string): Promise<string[]> {
  const db =
    backend === 'sqlite' ? w.path(`${backend}.db`) : `clickhouse://127.0.0.1:${CH_PORT}/meter_corpus_${RUN_ID}_${databases.length}`;
  if (backend === 'clickhouse') databases.push(db.slice(db.lastIndexOf('/') + 1));
  const rejects = w.path(`${backend}-rejects.ndjson`);
  const files = c.files.map((f) => f.name);
  const problems: string[] = [];
  const say = (s: string) => problems.push(`${backend}: ${s}`);
  const r = await run(['ingest', ...files, '--json', '--rejects', rejects, '--db', db], w.dir);
  const expectCode = c.bad.length > 0 ? 3 : 0;
  if (r.code !== expectCode)
    say(`meter ingest ${files.join(' ')} exited ${r.code}, expected ${expectCode}\n    stderr: ${r.stderr.slice(0, 600)}`);
  // Rejects: exactly the bad inputs, each where it is and with a reason that says what is wrong.
  const got = fs.existsSync(rejects)
    ? fs
        .readFileSync(rejects, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { file: string; line: number; index?: number; error: string })
    : [];
  const unmatched = [...got];
  for (const b of c.bad) {
    const i = unmatched.findIndex(
      (g) => path.basename(g.file) === b.file && (b.line === null || g.line === b.line) && (b.index === undefined || g.index === b.index),
    );
    if (i < 0) {
      say(
        `no reject for ${b.file}:${b.line ?? '*'}${b.index !== undefined ? ` [${b.index}]` : ''} (expected a reason matching ${b.reason})`,
      );
      continue;
    }
    const g = unmatched.splice(i, 1)[0]!;
    if (!b.reason.test(g.error))
      say(
        `reject ${g.file}:${g.line}${g.index !== undefined ? ` [${g.index}]` : ''}: reason "${g.error.slice(0, 200)}" does not match ${b.reason}`,
      );
  }
  for (const g of unmatched)
    say(`unexpected reject ${g.file}:${g.line}${g.index !== undefined ? ` [${g.index}]` : ''}: ${g.error.slice(0, 200)}`);
  // The summary: every good event inserted once; copies of them are duplicates, not conflicts.
  const ref = refIngest(c.good);
  try {
    const s = JSON.parse(r.stdout) as Record<string, number>;
    if (s.inserted !== ref.counts.inserted) say(`summary: inserted ${s.inserted}, expected ${ref.counts.inserted} (every good event)`);
    if (s.conflicts !== (c.conflicts ?? 0)) say(`summary: ${s.conflicts} conflicting duplicates, expected ${c.conflicts ?? 0}`);
  } catch {
    say(`no JSON summary on stdout: ${r.stdout.slice(0, 300)}`);
  }
  // What is stored: per-subject COUNT, exact SUM and UNIQUE_COUNT of the good events.
  for (const slug of ['count_all', 'sum_v', 'unique_item']) {
    const q = await run(['query', '--meter', slug, '--format', 'ndjson', '--config', 'meter.yaml', '--db', db], w.dir);
    if (q.code !== 0) {
      say(`meter query --meter ${slug} exited ${q.code}: ${q.stderr.slice(0, 300)}`);
      continue;
    }
    const actual = actualBySubject(q.stdout),
      expected = expectedBySubject(c.good, slug);
    if (JSON.stringify(actual, Object.keys(actual).sort()) !== JSON.stringify(expected, Object.keys(expected).sort())) {
      say(`${slug} per subject: stored ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)} (from every good event)`);
    }
  }
  void name;
  void where;
  return problems;
}

async function runCorpus(name: string, c: Corpus, where: string): Promise<void> {
  const w = new Workdir(`corpus-${name.slice(0, 20)}`);
  try {
    for (const f of c.files) w.write(f.name, f.content);
    w.write('meter.yaml', metersYaml(METERS));
    const sqliteDir = w,
      chDir = w;
    const problems = (await Promise.all([check(name, c, 'sqlite', sqliteDir, where), check(name, c, 'clickhouse', chDir, where)])).flat();
    if (problems.length > 0) {
      assert.fail(
        `${where}\n${problems.length} problem(s):\n  ${problems.join('\n  ')}\nfiles: ${c.files.map((f) => `${f.name} (${f.content.length} bytes)`).join(', ')}`,
      );
    }
  } finally {
    w.remove();
  }
}

describe(`hostile corpus (seed ${SEED})`, () => {
  let k = 0;
  for (const [name, build] of Object.entries(CLASSES)) {
    const caseSeed = new Rng(SEED).fork(++k).seed;
    test(name, async () => {
      await runCorpus(
        name,
        build(new Rng(caseSeed)),
        `seed ${SEED}, class "${name}" (case seed ${caseSeed}); reproduce with METER_SEED=${SEED}`,
      );
    });
  }

  test('every class at once: all files in one run', async () => {
    const all: Corpus = { files: [], good: [], bad: [] };
    let j = 0;
    for (const [name, build] of Object.entries(CLASSES)) {
      const c = build(new Rng(SEED).fork(1000 + j++));
      // File names are per class: prefix them so classes never share one.
      const prefix = `c${j}-`;
      all.files.push(...c.files.map((f) => ({ name: prefix + f.name, content: f.content })));
      all.good.push(...c.good);
      all.bad.push(...c.bad.map((b) => ({ ...b, file: prefix + b.file })));
      void name;
    }
    await runCorpus('all', all, `seed ${SEED}, all classes in one run; reproduce with METER_SEED=${SEED}`);
  });
});
