/**
 * Test helpers: a fresh temp folder per test, real input files, and the real `bin/meter` spawned on them. On a
 * failed expectation the command, folder, status, stdout and stderr are printed, so a failure explains itself.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after } from 'node:test';
import zlib from 'node:zlib';
import type Database from 'better-sqlite3';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.join(ROOT, 'bin', 'meter');

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The command line and folder, for failure messages. */
  describe(): string;
}

/** A temp folder holding a test's inputs and store. */
export class Workdir {
  readonly dir: string;
  constructor(name: string) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `meter-${name.replace(/\W+/g, '-').slice(0, 40)}-`));
  }
  path(...parts: string[]): string {
    return path.join(this.dir, ...parts);
  }
  /** Writes a file (lines joined with \n, ending in \n, when given an array). */
  write(name: string, content: string | Buffer | string[]): string {
    const p = this.path(name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, Array.isArray(content) ? content.join('\n') + '\n' : content);
    return p;
  }
  writeGzip(name: string, content: string | string[]): string {
    return this.write(name, zlib.gzipSync(Array.isArray(content) ? content.join('\n') + '\n' : content));
  }
  read(name: string): string {
    return fs.readFileSync(this.path(name), 'utf8');
  }
  /** Runs bin/meter here, synchronously. */
  run(args: string[], opts: { input?: string | Buffer; env?: Record<string, string | undefined> } = {}): RunResult {
    const r: SpawnSyncReturns<string> = spawnSync(process.execPath, [BIN, ...args], {
      cwd: this.dir,
      input: opts.input,
      encoding: 'utf8',
      env: { ...cleanEnv(), ...opts.env },
      maxBuffer: 256 * 1024 * 1024,
    });
    return result(args, this.dir, r.status, r.signal, r.stdout, r.stderr);
  }
  /** Runs bin/meter here in the background; resolves when it exits. */
  spawn(args: string[], opts: { env?: Record<string, string | undefined>; input?: string } = {}) {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: this.dir, env: { ...cleanEnv(), ...opts.env } });
    let stdout = '',
      stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    // A test that stops the child may do so while input it wrote is still on its way: the child has closed its
    // end, which is not a failure of the test (what the child did is checked from its exit and the store).
    child.stdin.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE' && e.code !== 'ECONNRESET') throw e;
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    const done = new Promise<RunResult>((resolve) =>
      child.on('close', (code, signal) => resolve(result(args, this.dir, code, signal, stdout, stderr))),
    );
    return { child, done };
  }
  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The environment without variables that would point meter at another store or config. */
function cleanEnv(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env };
  delete env.METER_DB;
  delete env.METER_CONFIG;
  delete env.METER_CLICKHOUSE_PASSWORD;
  env.NO_COLOR = '1';
  return env;
}

function result(
  args: string[],
  dir: string,
  code: number | null,
  signal: NodeJS.Signals | null,
  stdout: string,
  stderr: string,
): RunResult {
  return {
    code,
    signal,
    stdout,
    stderr,
    describe: () =>
      `meter ${args.join(' ')}\n  in ${dir}\n  status ${code} ${signal ?? ''}\n  stdout: ${stdout.slice(0, 4000)}\n  stderr: ${stderr.slice(0, 4000)}`,
  };
}

/** A valid CloudEvent line with overrides; `undefined` values remove a field. */
export function event(over: Record<string, unknown> = {}): Record<string, unknown> {
  const base: Record<string, unknown> = {
    specversion: '1.0',
    id: 'e1',
    source: 'test',
    type: 'prompt',
    subject: 'acme',
    time: '2026-11-01T10:00:00Z',
    data: { tokens: 10, model: 'gpt-4o' },
  };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) delete base[k];
    else base[k] = v;
  }
  return base;
}

export function line(over: Record<string, unknown> = {}): string {
  return JSON.stringify(event(over));
}

/** Parses CSV text without quotes in cells into rows (tests keep their cells simple or check quoting directly). */
export function csvRows(text: string): string[][] {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => l.split(','));
}

/**
 * What a store's subject_rows list, against its events: n entries, d distinct seqs, found (seqs that are stored
 * rows) and right (rows listed under their own subject, inside the list's time span; null for no entries). A
 * whole store has n = d = found = right = its number of events.
 */
export function subjectRowsListing(db: Database.Database): { n: number; d: number; found: number; right: number | null } {
  return db
    .prepare(
      `SELECT count(*) AS n, count(DISTINCT j.value) AS d, count(e.seq) AS found,
         sum(e.subject = p.subject AND e.time_ms BETWEEN p.min_time AND p.max_time) AS right
       FROM subject_rows p, json_each(p.seqs) j LEFT JOIN events e ON e.seq = j.value`,
    )
    .get() as { n: number; d: number; found: number; right: number | null };
}

/** Workdirs that are removed when the test file ends: `const workdir = workdirs();` then `workdir('name')`. */
export function workdirs(): (name: string) => Workdir {
  const made: Workdir[] = [];
  after(() => made.forEach((w) => w.remove()));
  return (name) => {
    const w = new Workdir(name);
    made.push(w);
    return w;
  };
}
