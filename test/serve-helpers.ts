/**
 * Starting `bin/meter serve` in a test: on port 0 (the kernel picks a free one), waiting for the URL it prints on
 * stderr. Every server started here is stopped by stopAll() (call it from `after`), also when a test fails.
 */
import type { ChildProcess } from 'node:child_process';
import type { Workdir, RunResult } from './helpers.js';
import { CALLS, meterConfig, promptMeter, TOKENS } from './fixtures.js';

export interface Served {
  url: string;
  child: ChildProcess;
  done: Promise<RunResult>;
  /** SIGTERM, then the exit. */
  stop(): Promise<RunResult>;
  /** SIGKILL, then the exit. */
  kill(): Promise<RunResult>;
}

const running = new Set<ChildProcess>();

export async function startServe(w: Workdir, args: string[], env: Record<string, string | undefined> = {}): Promise<Served> {
  const { child, done } = w.spawn(['serve', '--port', '0', ...args], { env });
  running.add(child);
  void done.then(() => running.delete(child));
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`meter serve printed no URL within 20 s: ${stderr}`)), 20_000);
    child.stderr!.on('data', (d: Buffer | string) => {
      stderr += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void done.then((r) => {
      clearTimeout(timer);
      reject(new Error(`meter serve exited before listening:\n${r.describe()}`));
    });
  });
  return {
    url,
    child,
    done,
    stop: () => {
      child.kill('SIGTERM');
      return done;
    },
    kill: () => {
      child.kill('SIGKILL');
      return done;
    },
  };
}

/**
 * Runs a test body against a server; on failure the error carries the cause (a fetch failure's socket error) and
 * the server's status and stderr, so that a failure explains itself.
 */
export async function explained<T>(server: Served, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (e) {
    const err = e as Error & { cause?: unknown };
    const cause = err.cause
      ? ` (cause: ${String((err.cause as Error).message ?? err.cause)} ${(err.cause as { code?: string }).code ?? ''})`
      : '';
    server.child.kill('SIGKILL');
    const r = await server.done;
    err.message = `${err.message}${cause}\nserver: ${r.describe()}`;
    throw err;
  }
}

/** Kills every server still running (a test that failed before stopping its own). */
export async function stopAll(): Promise<void> {
  for (const c of running) c.kill('SIGKILL');
  running.clear();
}

/** A meter config the serve tests share. */
export const SERVE_CONFIG = meterConfig(
  { ...TOKENS, slug: 'tokens_total', groupBy: { model: '$.model', type: '$.type' } },
  { ...CALLS, slug: 'requests', groupBy: { model: '$.model' } },
  promptMeter('latency_max', 'MAX', '$.ms'),
);
