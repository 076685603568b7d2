/**
 * The ClickHouse server the backend tests run against: 127.0.0.1:METER_CH_HTTP_PORT (default 18123). Every test
 * file that uses ClickHouse calls `useClickHouse()`: a server already answering is used; otherwise a private one is
 * started through scripts/clickhouse.sh. When ClickHouse is not installed, the file's tests fail saying how to
 * install it (`npm test` does not install anything, so it never needs root): a ClickHouse test never skips.
 *
 * Test files run in parallel processes, and all of them share one server. The server the tests started is stopped
 * by the last file using it: each process registers its pid under .clickhouse/test-users while it uses the server,
 * and a lock (an atomic mkdir) makes "register and start" and "unregister and stop" one step each.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { ROOT } from './helpers.js';

export const CH_PORT = Number(process.env.METER_CH_HTTP_PORT ?? 18123);
export const CH_HTTP = `http://127.0.0.1:${CH_PORT}`;

const SCRIPT = path.join(ROOT, 'scripts', 'clickhouse.sh');
/** The script's default folder: the server it starts keeps its pid, config, data and logs there. */
const DIR = path.join(ROOT, '.clickhouse');
const USERS = path.join(DIR, 'test-users');
const LOCK = path.join(DIR, 'test-lock');
/** Present while a server that the tests started runs: the last test file using it stops it. */
const STARTED_BY_TESTS = path.join(DIR, 'started-by-tests');

export async function chAnswers(): Promise<boolean> {
  try {
    const r = await fetch(`${CH_HTTP}/?query=SELECT%201`, { signal: AbortSignal.timeout(2000) });
    return r.ok && (await r.text()).trim() === '1';
  } catch {
    return false;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs `fn` holding the lock shared by the test processes; a lock whose holder died is taken over. */
async function locked<T>(fn: () => Promise<T> | T): Promise<T> {
  fs.mkdirSync(DIR, { recursive: true });
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      fs.mkdirSync(LOCK);
      fs.writeFileSync(path.join(LOCK, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let holder = Number.NaN;
    try {
      holder = Number(fs.readFileSync(path.join(LOCK, 'pid'), 'utf8'));
    } catch {
      // Taken a moment ago (no pid yet) or released a moment ago: try again.
    }
    if (Number.isInteger(holder) && holder > 0 && !alive(holder)) fs.rmSync(LOCK, { recursive: true, force: true });
    else if (Date.now() > deadline) assert.fail(`${LOCK}: held for 3 minutes (by pid ${holder}); remove it if no test runs`);
    else await new Promise((r) => setTimeout(r, 100));
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(LOCK, { recursive: true, force: true });
  }
}

/** Makes sure a server answers, starting one when none does (never installing one; see the header). */
async function ensureClickHouse(): Promise<void> {
  if (await chAnswers()) return;
  const r = spawnSync('bash', [SCRIPT, 'start'], { encoding: 'utf8', env: { ...process.env, METER_CH_NO_INSTALL: '1' } });
  const up = r.status === 0 && (await chAnswers());
  if (up) fs.writeFileSync(STARTED_BY_TESTS, '');
  assert.ok(
    up,
    r.status === 3
      ? `the ClickHouse tests need a ClickHouse server and none answers on ${CH_HTTP}.\n${r.stderr}`
      : `no ClickHouse server answers on ${CH_HTTP} and \`bash scripts/clickhouse.sh start\` failed (exit ${r.status}); ` +
          `start one by hand, or set METER_CH_HTTP_PORT to a running server's HTTP port\n${r.stdout}\n${r.stderr}`,
  );
}

/** The pids of the test processes using the server now (files of processes that died are removed). */
function liveUsers(): string[] {
  if (!fs.existsSync(USERS)) return [];
  return fs.readdirSync(USERS).filter((f) => {
    if (alive(Number(f))) return true;
    fs.rmSync(path.join(USERS, f), { force: true });
    return false;
  });
}

/**
 * Hooks of this test file: before its first test a ClickHouse server answers on CH_HTTP (or the file's tests fail,
 * saying why); after its last, a server the tests started is stopped unless another test file still uses it.
 */
export function useClickHouse(): void {
  const me = path.join(USERS, String(process.pid));
  before(async () => {
    await locked(async () => {
      fs.mkdirSync(USERS, { recursive: true });
      // With no other test file running, a marker is left by a run that was killed: what runs now is not ours.
      if (liveUsers().length === 0) fs.rmSync(STARTED_BY_TESTS, { force: true });
      fs.writeFileSync(me, '');
      await ensureClickHouse();
    });
  });
  after(async () => {
    await locked(() => {
      fs.rmSync(me, { force: true });
      if (liveUsers().length > 0 || !fs.existsSync(STARTED_BY_TESTS)) return;
      spawnSync('bash', [SCRIPT, 'stop'], { stdio: 'ignore' });
      fs.rmSync(STARTED_BY_TESTS, { force: true });
    });
  });
}
