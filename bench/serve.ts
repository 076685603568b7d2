/**
 * Load benchmark of `meter serve` (npm run bench:serve): wrk (serve-wrk.ts; autocannon, serve-load.ts, where wrk
 * is not installed or with --autocannon) from a second process on loopback, 50 connections, single-event requests
 * and 100-event batches into a new SQLite store, next to `meter ingest` of the same kind of events from a file.
 * Prints events/s and p50/p99 latency, and the server's CPU time per event (all its threads, from /proc): on a
 * shared machine the rates follow the load of the moment, the CPU time much less.
 * Every round runs every row, the load average is printed with each round, and the ratios (to the floor, to ingest)
 * are taken within a round, then their medians over the rounds.
 *
 *   npm run bench:serve -- --duration 10 --connections 50 --events 1000000 --rounds 3 [--sync-each-commit]
 *   npm run bench:serve -- --preload 1000000    # each server's store holds this many events before the load
 *   npm run bench:serve -- --autocannon         # autocannon even where wrk is installed
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchEvent } from './serve-events.js';
import { haveWrk, type LoadResult, wrkLoad } from './serve-wrk.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.resolve(HERE, '..', '..', 'bin', 'meter');

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

const duration = arg('duration', '10');
const connections = arg('connections', '50');
const fileEvents = Number(arg('events', '1000000'));
const rounds = Number(arg('rounds', '3'));
const preload = Number(arg('preload', '0'));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meter-bench-serve-'));

/** wrk when it is installed (`apt-get install wrk`), else autocannon: see serve-wrk.ts. */
const WRK = !process.argv.includes('--autocannon') && haveWrk();

const loadAverage = () =>
  `load average ${os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')} (${os.cpus().length} cores)`;

/** CPU time (user + system, every thread) of a running process, in ms, or null where /proc is not there. */
function cpuMs(pid: number): number | null {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks of 1/100 s (USER_HZ)
  } catch {
    return null;
  }
}

/** Starts a server on a new store, runs the load process against it, stops the server. */
async function load(label: string, batch: number, serveArgs: string[] = [], floor = false): Promise<LoadResult> {
  const db = path.join(dir, `${label.replace(/\W+/g, '-')}.db`);
  if (!floor && preload > 0) {
    const file = path.join(dir, 'preload.ndjson');
    if (!fs.existsSync(file)) writeEvents(file, 'preload', preload);
    const r = spawnSync(process.execPath, [BIN, 'ingest', '--db', db, '--quiet', file], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`preload failed: ${r.stderr}`);
  }
  const cmd = floor ? [path.join(HERE, 'serve-floor.js')] : [BIN, 'serve', '--db', db, '--port', '0', ...serveArgs];
  const server = spawn(process.execPath, cmd, { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    let err = '';
    const url = await new Promise<string>((resolve, reject) => {
      server.stderr.setEncoding('utf8').on('data', (d: string) => {
        err += d;
        const m = /listening on (\S+)/.exec(err);
        if (m) resolve(m[1]!);
      });
      server.on('exit', () => reject(new Error(`meter serve exited: ${err}`)));
    });
    const result = WRK
      ? wrkLoad({ url, batch, connections, duration, prefix: label.replace(/\W+/g, '-'), dir })
      : autocannonLoad(url, batch, label);
    const cpu = cpuMs(server.pid!);
    const stopped = new Promise((resolve) => server.on('exit', resolve));
    server.kill('SIGTERM');
    await stopped;
    const stored = floor ? null : spawnSync(process.execPath, [BIN, 'stats', '--db', db, '--json'], { encoding: 'utf8' });
    const events = stored === null ? 0 : (JSON.parse(stored.stdout) as { events: number }).events - preload;
    const cpuPerEvent =
      cpu === null ? '' : `  ${((cpu * 1000) / Math.max(1, result.eventsPerSec * Number(duration))).toFixed(1)} us CPU/event`;
    console.log(
      `${label.padEnd(28)} ${String(result.eventsPerSec).padStart(9)} events/s  p50 ${result.p50ms} ms  p99 ${result.p99ms} ms${cpuPerEvent}  ` +
        `(${result.requests} requests, ${result.non2xx} not 204, ${result.errors} errors; ${events} events stored)`,
    );
    return result;
  } finally {
    if (server.exitCode === null) server.kill('SIGKILL');
    fs.rmSync(db, { force: true });
    fs.rmSync(`${db}-wal`, { force: true });
    fs.rmSync(`${db}-shm`, { force: true });
  }
}

/** The load of autocannon (serve-load.ts), in a process of its own. */
function autocannonLoad(url: string, batch: number, label: string): LoadResult {
  const args = ['--url', url, '--batch', String(batch), '--connections', connections, '--duration', duration, '--prefix', label];
  const r = spawnSync(process.execPath, [path.join(HERE, 'serve-load.js'), ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`load process failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as LoadResult;
}

/** `meter ingest` of the file (written on the first call) into a new store: events/s, whole process. */
function ingestRate(): number {
  const file = path.join(dir, 'events.ndjson');
  if (!fs.existsSync(file)) writeEvents(file, 'file', fileEvents);
  const db = path.join(dir, 'ingest.db');
  for (const f of [db, `${db}-wal`, `${db}-shm`]) fs.rmSync(f, { force: true });
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [BIN, 'ingest', '--db', db, '--quiet', file], { encoding: 'utf8' });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`ingest failed: ${r.stderr}`);
  const rate = Math.round(fileEvents / seconds);
  console.log(
    `${'meter ingest (file)'.padEnd(28)} ${String(rate).padStart(9)} events/s  (${fileEvents} events in ${seconds.toFixed(2)} s, whole process)`,
  );
  return rate;
}

function writeEvents(file: string, prefix: string, n: number): void {
  const out = fs.openSync(file, 'w');
  let buf: string[] = [];
  for (let i = 0; i < n; i++) {
    buf.push(benchEvent(prefix, i));
    if (buf.length === 10_000) {
      fs.writeSync(out, buf.join('\n') + '\n');
      buf = [];
    }
  }
  if (buf.length) fs.writeSync(out, buf.join('\n') + '\n');
  fs.closeSync(out);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

try {
  console.log(
    `meter serve load: ${connections} connections, ${duration} s each, ${WRK ? 'wrk' : 'autocannon (install wrk to give the server the core autocannon takes)'} in a second process, new SQLite store each${preload > 0 ? ` holding ${preload} events first` : ''}, ${rounds} round(s)`,
  );
  const ofFloor: number[] = [],
    ofIngest: number[] = [],
    singles: number[] = [];
  for (let round = 1; round <= rounds; round++) {
    console.log(`--- round ${round}: ${loadAverage()}`);
    const floor = await load('floor: bare node:http, 1 event', 1, [], true);
    const single = await load('single events', 1);
    const batched = await load('100-event batches', 100);
    if (process.argv.includes('--sync-each-commit')) {
      await load('single, --sync-each-commit', 1, ['--sync-each-commit']);
      await load('batches, --sync-each-commit', 100, ['--sync-each-commit']);
    }
    const ingest = ingestRate();
    singles.push(single.eventsPerSec);
    ofFloor.push(single.eventsPerSec / floor.eventsPerSec);
    ofIngest.push(batched.eventsPerSec / ingest);
    console.log(
      `round ${round}: single events ${(single.eventsPerSec / floor.eventsPerSec).toFixed(2)} of the floor; ` +
        `batches ${(batched.eventsPerSec / ingest).toFixed(2)} of ingest's rate; ${loadAverage()}`,
    );
  }
  console.log(
    `medians of ${rounds} round(s): single events ${median(singles)} events/s (${median(singles) >= 20_000 ? 'meets' : 'misses'} the 20,000 target), ` +
      `${median(ofFloor).toFixed(2)} of the floor; batches ${median(ofIngest).toFixed(2)} of ingest's rate (target >= 0.50)`,
  );
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
