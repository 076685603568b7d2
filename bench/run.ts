/**
 * `npm run bench`: meter against the parse floor and DuckDB, side by side on the same generated file, in one run.
 *
 *   npm run bench                          # 1M events, 3 runs each, medians
 *   npm run bench -- --events 200000 --runs 5
 *   npm run bench -- --big 10000000        # also: every query shape in a 10M-event store, once
 *   npm run bench -- --no-sqlite-utils     # without the sqlite-utils ingest
 *   npm run bench -- --big 10000000 --only-big
 *
 * Whole-process wall times for every CLI run (what a user waits for); peak RSS from the process itself. The first
 * run installs DuckDB (see duckdb-package.ts).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDuckDb } from './duckdb-package.js';
import { writeLog } from './generate.js';
import { chooseDedupe, load, runShapes, type ShapeResult } from './shapes.js';
import { meterConfig, TOKENS } from '../test/fixtures.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.join(ROOT, 'bin', 'meter');
const DIST = path.join(ROOT, 'dist', 'bench');
const DATA = path.join(ROOT, 'bench', 'data');

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

const EVENTS = Number(arg('events', '1000000'));
const RUNS = Number(arg('runs', '3'));
const BIG = Number(arg('big', '0'));
const CLICKHOUSE = arg('clickhouse', '');
/** sqlite-utils (from the OS packages) ingests the same file once per benchmark: it takes about 10x meter's time. */
const SQLITE_UTILS = !process.argv.includes('--no-sqlite-utils');
/** Only the --big part (its store and query shapes). */
const ONLY_BIG = process.argv.includes('--only-big');
/** DuckDB's dedupe variant (see duckdb-shapes.ts); default: the fastest of the three on this file, tried first. */
const DEDUPE = arg('dedupe', '');

const METERS = meterConfig({ ...TOKENS, slug: 'tokens_total' });

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

interface Timed {
  seconds: number;
  rssMb: number | null;
  stdout: string;
}

/** Runs a command to completion; wall time and, through /usr/bin/time when present, peak RSS. */
function timed(cmd: string, args: string[], opts: { stdoutTo?: string } = {}): Timed {
  const useTime = fs.existsSync('/usr/bin/time');
  const rssFile = path.join(DATA, '.rss');
  const full = useTime ? ['/usr/bin/time', ['-f', '%M', '-o', rssFile, cmd, ...args]] : [cmd, args];
  const out = opts.stdoutTo ? fs.openSync(opts.stdoutTo, 'w') : 'pipe';
  const t0 = process.hrtime.bigint();
  const r = spawnSync(full[0] as string, full[1] as string[], {
    stdio: ['ignore', out, 'pipe'],
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    env: { ...process.env, METER_DB: undefined, METER_CONFIG: undefined, NO_COLOR: '1' },
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (typeof out === 'number') fs.closeSync(out);
  if (r.status !== 0 && r.status !== 3) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  }
  const rss = useTime ? Number(fs.readFileSync(rssFile, 'utf8').trim().split('\n').pop()) / 1024 : null;
  return { seconds, rssMb: rss, stdout: r.stdout ?? '' };
}

function rmStore(db: string): void {
  for (const s of ['', '-wal', '-shm']) fs.rmSync(db + s, { force: true });
}

async function ensureLog(n: number): Promise<string> {
  fs.mkdirSync(DATA, { recursive: true });
  const file = path.join(DATA, `events-${n}.ndjson`);
  if (!fs.existsSync(file)) {
    process.stderr.write(`generating ${file} ...\n`);
    const tmp = file + '.tmp';
    const out = fs.createWriteStream(tmp);
    await writeLog(
      { events: n, duplicateRate: 0.02, subjects: 1000, seed: 42, startMs: Date.parse('2026-10-01T00:00:00Z'), withBadLines: false },
      out,
    );
    await new Promise<void>((resolve) => out.end(resolve));
    fs.renameSync(tmp, file);
  }
  return file;
}

/** A number from an event's id (FNV-1a): what a record is made of depends on its id alone. */
function idHash(id: string): number {
  let h = 2166136261;
  for (let k = 0; k < id.length; k++) h = Math.imul(h ^ id.charCodeAt(k), 16777619);
  return h >>> 0;
}

/**
 * The same number of records as raw OpenAI responses, for `ingest --map openai`: the same ids, subjects and
 * times as the plain log's events, as Chat Completions responses (one in 10 a Responses object, one in 20 a
 * request/response log record), with usage details. Everything in a record follows from its event, so the plain
 * log's exact duplicates are exact duplicates here too (the same response logged twice).
 */
async function ensureOpenAiLog(plain: string, n: number): Promise<string> {
  const file = path.join(DATA, `openai-${n}.ndjson`);
  if (fs.existsSync(file)) return file;
  process.stderr.write(`generating ${file} ...\n`);
  const tmp = file + '.tmp';
  const out = fs.createWriteStream(tmp);
  let buf = '';
  for await (const l of (await import('node:readline')).createInterface({ input: fs.createReadStream(plain) })) {
    const e = JSON.parse(l) as { id: string; subject: string; time: string; data: { tokens: number; model: string } };
    const created = Math.floor(Date.parse(e.time) / 1000);
    const h = idHash(e.id);
    const input = e.data.tokens,
      output = h % 900,
      cached = input % 3 === 0 ? Math.floor(input / 2) : 0;
    const chat = {
      id: `chatcmpl-${e.id}`,
      object: 'chat.completion',
      created,
      model: e.data.model,
      customer_id: e.subject,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Hello! How can I help you today?', refusal: null, annotations: [] },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage: {
        prompt_tokens: input,
        completion_tokens: output,
        total_tokens: input + output,
        prompt_tokens_details: { cached_tokens: cached, audio_tokens: 0 },
        completion_tokens_details: {
          reasoning_tokens: output % 64,
          audio_tokens: 0,
          accepted_prediction_tokens: 0,
          rejected_prediction_tokens: 0,
        },
      },
      service_tier: 'default',
      system_fingerprint: 'fp_44709d6fcb',
    };
    const rec =
      h % 10 === 1
        ? {
            id: `resp_${e.id}`,
            object: 'response',
            created_at: created,
            status: 'completed',
            model: e.data.model,
            output: [],
            usage: {
              input_tokens: input,
              input_tokens_details: { cached_tokens: cached },
              output_tokens: output,
              output_tokens_details: { reasoning_tokens: 0 },
              total_tokens: input + output,
            },
            user: null,
            metadata: { customer_id: e.subject },
            service_tier: 'default',
          }
        : h % 20 === 2
          ? {
              ts: e.time,
              customer_id: e.subject,
              request: { model: e.data.model, user: e.subject },
              response: { ...chat, customer_id: undefined },
            }
          : chat;
    buf += JSON.stringify(rec) + '\n';
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      buf = '';
    }
  }
  await new Promise<void>((resolve) => out.end(buf, resolve));
  fs.renameSync(tmp, file);
  return file;
}

function row(label: string, seconds: number, rate: string, extra = ''): void {
  process.stdout.write(`${label.padEnd(44)} ${seconds.toFixed(2).padStart(8)} s  ${rate.padStart(16)}  ${extra}\n`);
}

async function main(): Promise<void> {
  ensureDuckDb(ROOT);
  if (ONLY_BIG) return big();
  const file = await ensureLog(EVENTS);
  let lines = 0;
  for await (const chunk of fs.createReadStream(file)) {
    for (let i = (chunk as Buffer).indexOf(10); i !== -1; i = (chunk as Buffer).indexOf(10, i + 1)) lines++;
  }
  const mb = fs.statSync(file).size / 1e6;
  const config = path.join(DATA, 'meter.yaml');
  fs.writeFileSync(config, METERS);
  const db = path.join(DATA, 'bench.db');
  process.stdout.write(
    `meter benchmark: ${lines.toLocaleString('en-US')} lines (${EVENTS.toLocaleString('en-US')} unique events), ${mb.toFixed(0)} MB, ${RUNS} runs, medians\n\n`,
  );

  process.stdout.write(`${load()}\n`);
  const floor: number[] = [],
    storeFloor: number[] = [],
    ingest: number[] = [],
    rss: number[] = [],
    reingest: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    floor.push(timed(process.execPath, [path.join(DIST, 'floor.js'), file]).seconds);
    storeFloor.push(Number(timed(process.execPath, [path.join(DIST, 'sqlite-floor.js'), file, `${db}.floor`]).stdout.trim()));
    rmStore(db);
    const ing = timed(process.execPath, [BIN, 'ingest', '--db', db, '--quiet', file]);
    ingest.push(ing.seconds);
    if (ing.rssMb !== null) rss.push(ing.rssMb);
    reingest.push(timed(process.execPath, [BIN, 'ingest', '--db', db, '--quiet', file]).seconds);
  }
  const f = median(floor),
    g = median(ingest),
    r = median(reingest);
  const rate = (s: number) => `${Math.round(lines / s).toLocaleString('en-US')} ev/s`;
  row('parse floor (split + JSON.parse)', f, rate(f));
  row(
    'meter ingest (new store)',
    g,
    rate(g),
    `x${(f / g).toFixed(2)} of floor (target >= 0.35)` + (rss.length ? `, peak RSS ${median(rss).toFixed(0)} MB` : ''),
  );
  row('meter ingest again (all duplicates)', r, rate(r), `x${(f / r).toFixed(2)} of floor (target >= 0.40)`);
  // Parse and writes run on two threads: ingest cannot be faster than the slower of the two floors.
  const sf = median(storeFloor),
    bound = Math.max(f, sf);
  row('store floor (SQLite INSERTs of the rows, in memory)', sf, rate(sf), `x${(f / sf).toFixed(2)} of the parse floor`);
  row('two-thread bound: max(parse floor, store floor)', bound, rate(bound), `meter ingest x${(bound / g).toFixed(2)} of it`);
  if (SQLITE_UTILS && spawnSync('sqlite-utils', ['--version']).status !== 0) {
    // A peer that is not installed is said so, not timed as a failure: the other figures still stand.
    process.stdout.write('sqlite-utils: not installed (apt-get install sqlite-utils), so not compared; --no-sqlite-utils hides this\n');
  } else if (SQLITE_UTILS) {
    const su = path.join(DATA, 'sqlite-utils.db');
    rmStore(su);
    const t = timed('sqlite-utils', ['insert', su, 'events', file, '--nl', '--pk', 'source', '--pk', 'id', '--ignore']).seconds;
    row('sqlite-utils insert --nl --pk source --pk id --ignore', t, rate(t), `meter ingest x${(t / g).toFixed(1)} faster (target >= 5)`);
    rmStore(su);
  }
  process.stdout.write(`${load()}\n\n`);
  shapes(file, db, EVENTS, RUNS);

  // The same records as raw OpenAI responses: the mapping runs in the parse worker, in ingest's speed class.
  const raw = await ensureOpenAiLog(file, EVENTS);
  const mapped: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    rmStore(db);
    mapped.push(timed(process.execPath, [BIN, 'ingest', '--db', db, '--quiet', '--map', 'openai', raw]).seconds);
  }
  const m = median(mapped);
  row(
    'meter ingest --map openai (new store)',
    m,
    rate(m),
    `x${(g / m).toFixed(2)} of plain ingest's events/s (target >= 0.80), ${(fs.statSync(raw).size / 1e6).toFixed(0)} MB`,
  );

  if (CLICKHOUSE) {
    // A new database each run: ingest must find an empty store.
    const chDb = `${CLICKHOUSE.replace(/\/+$/, '')}_${Date.now()}`;
    const ch = timed(process.execPath, [BIN, 'ingest', '--db', chDb, '--quiet', file]);
    row('ClickHouse: meter ingest', ch.seconds, rate(ch.seconds));
    const chq = timed(process.execPath, [BIN, 'query', '--db', chDb, '--config', config, '--window', 'hour', '--format', 'csv'], {
      stdoutTo: '/dev/null',
    });
    row('ClickHouse: meter query --window hour --format csv', chq.seconds, '');
  }

  if (BIG > 0) await big();
}

/** A --big store: its ingest (once: the store is kept) and every query shape in it, once. */
async function big(): Promise<void> {
  const big = await ensureLog(BIG);
  const bigDb = path.join(DATA, `bench-${BIG}.db`);
  process.stdout.write(`${load()}\n`);
  if (!fs.existsSync(bigDb)) {
    const t = timed(process.execPath, [BIN, 'ingest', '--db', bigDb, '--quiet', big]);
    const rateBig = `${Math.round(BIG / t.seconds).toLocaleString('en-US')} ev/s`;
    row(
      `meter ingest ${BIG.toLocaleString('en-US')} events`,
      t.seconds,
      rateBig,
      t.rssMb !== null ? `peak RSS ${t.rssMb.toFixed(0)} MB` : '',
    );
  }
  fs.writeFileSync(path.join(DATA, 'meter.yaml'), METERS);
  shapes(big, bigDb, BIG, 1);
}

/**
 * The query shapes on a store and its raw log: the first query after the ingest (which catches the rollups up),
 * the in-process invoice queries, then every shape next to DuckDB.
 */
function shapes(file: string, db: string, events: number, runs: number): void {
  const config = path.join(DATA, 'meter.yaml');
  const dir = path.join(DATA, 'out');
  fs.mkdirSync(dir, { recursive: true });
  const timer = (cmd: string, args: string[]) => timed(cmd, args);
  const meter = (args: string[]): [string, string[]] => [process.execPath, [BIN, 'query', '--db', db, '--config', config, ...args]];
  const duck = (shape: string, dedupe: string, out: string): [string, string[]] => [
    process.execPath,
    [path.join(DIST, 'duckdb-shapes.js'), file, shape, dedupe, out],
  ];
  const n = events.toLocaleString('en-US');
  process.stdout.write(`query shapes at ${n} events (${runs} run${runs === 1 ? '' : 's'}, medians)\n`);
  const size = (f: string) => (fs.existsSync(f) ? fs.statSync(f).size : 0);
  const before = size(db) + size(db + '-wal');
  const first = timed(...meter(['--window', 'month', '--format', 'csv', '-o', path.join(dir, 'first.csv')])).seconds;
  const after = size(db) + size(db + '-wal');
  row('first query after the ingest (catches up)', first, '', `store grew ${((after - before) / 1e6).toFixed(1)} MB`);
  const inproc = timed(process.execPath, [path.join(DIST, 'store-query.js'), db]).stdout.trim();
  process.stdout.write(`${inproc}\n`);
  const dedupe = DEDUPE || chooseDedupe(timer, duck, dir);
  process.stdout.write(`  DuckDB dedupe used: ${dedupe}\n`);
  const results: ShapeResult[] = runShapes(timer, meter, (shape, out) => duck(shape, dedupe, out), runs, dir);
  process.stdout.write(
    `${'shape'.padEnd(32)} ${'rows'.padStart(8)} ${'meter'.padStart(8)} ${'--no-rollup'.padStart(12)} ${'DuckDB'.padStart(8)}  meter/DuckDB\n`,
  );
  for (const r of results) {
    const m = median(r.meter),
      raw = median(r.raw),
      d = median(r.duck);
    process.stdout.write(
      `${r.shape.label.padEnd(32)} ${String(r.rows).padStart(8)} ${m.toFixed(2).padStart(7)}s ${raw.toFixed(2).padStart(11)}s ${d.toFixed(2).padStart(7)}s  ` +
        `x${(m / d).toFixed(2)}${r.equal ? '' : '  VALUES DIFFER'}\n`,
    );
  }
  process.stdout.write(`${load()}\n\n`);
}

await main();
