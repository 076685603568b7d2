/**
 * The ClickHouse server the backend tests run against: 127.0.0.1:METER_CH_HTTP_PORT (default 18123). A test file
 * that finds none answering starts a private one through scripts/clickhouse.sh and stops it when it is done.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './helpers.js';

export const CH_PORT = Number(process.env.METER_CH_HTTP_PORT ?? 18123);
export const CH_HTTP = `http://127.0.0.1:${CH_PORT}`;

export async function chAnswers(): Promise<boolean> {
  try {
    const r = await fetch(`${CH_HTTP}/?query=SELECT%201`, { signal: AbortSignal.timeout(2000) });
    return r.ok && (await r.text()).trim() === '1';
  } catch {
    return false;
  }
}

/** Makes sure a server answers, starting one when none does; true when it started one (stop it with stopClickHouse). */
export async function ensureClickHouse(): Promise<boolean> {
  if (await chAnswers()) return false;
  const r = spawnSync('bash', [path.join(ROOT, 'scripts', 'clickhouse.sh'), 'start'], { encoding: 'utf8', env: { ...process.env } });
  assert.ok(
    r.status === 0 && (await chAnswers()),
    `no ClickHouse server answers on ${CH_HTTP} and scripts/clickhouse.sh start failed; start one with ` +
      `\`bash scripts/clickhouse.sh start\` (or set METER_CH_HTTP_PORT to a running server's HTTP port)\n${r.stdout}\n${r.stderr}`,
  );
  return true;
}

export function stopClickHouse(): void {
  spawnSync('bash', [path.join(ROOT, 'scripts', 'clickhouse.sh'), 'stop'], { stdio: 'ignore' });
}
