/**
 * Ctrl-C and SIGTERM during an ingest: the first stops it after the current batch, the second at once, rolling
 * back the open batch. Neither exits the process: both end the ingest, whose result says it was interrupted, and
 * the exit code (130) leaves through src/cli.ts like every other.
 */

import fs from 'node:fs';

/** The two ways to stop an ingest, as AbortSignals for the pipeline. */
export interface StopSignals {
  /** Aborted by the first signal: stop after the current batch. */
  afterBatch: AbortSignal;
  /** Aborted by the second: stop at once. */
  now: AbortSignal;
}

/** Signals that came before withStopSignals listened (see catchEarlySignals). */
const early: NodeJS.Signals[] = [];
const onEarly = (sig: NodeJS.Signals) => early.push(sig);

/**
 * Listens for SIGINT and SIGTERM from the start of the process (bin/meter, for `meter ingest` and `meter serve`):
 * one that comes while the CLI loads and the store opens is then the command's stop (ingest: its first or second,
 * exit 130; serve: a clean stop, exit 0), instead of the default death by the signal.
 */
export function catchEarlySignals(): void {
  process.on('SIGINT', onEarly);
  process.on('SIGTERM', onEarly);
}

function stopCatchingEarly(): void {
  process.off('SIGINT', onEarly);
  process.off('SIGTERM', onEarly);
}

/** The first SIGINT or SIGTERM: one caught early (catchEarlySignals), or the next to come. */
export function nextStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    stopCatchingEarly();
    const sig = early.shift();
    if (sig !== undefined) resolve(sig);
  });
}

/** Runs `fn` with SIGINT and SIGTERM turned into StopSignals; `onFirst` is told of the first signal. */
export async function withStopSignals<T>(onFirst: (sig: NodeJS.Signals) => void, fn: (stop: StopSignals) => Promise<T>): Promise<T> {
  const afterBatch = new AbortController();
  const now = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      now.abort();
      return;
    }
    onFirst(sig);
    afterBatch.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  stopCatchingEarly();
  for (const sig of early.splice(0)) onSignal(sig);
  try {
    return await fn({ afterBatch: afterBatch.signal, now: now.signal });
  } finally {
    await signalsSentBefore(() => signals > 0);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

/**
 * Lets a signal sent before the run ended reach its listener, so that it still makes the run an interrupted one
 * (exit 130): Ctrl-C on `producer | meter ingest -` ends the producer too, and the end of the input may come first.
 * Two ways it can still be on its way when the run ends:
 * - in the event loop: libuv runs signal listeners after the other events of a poll, and the whole end of an ingest
 *   (the worker's last message, its exit, the final commit) can run inside one of those events, or the signal comes
 *   while it runs. Two turns of the loop (each through its check phase, where setImmediate runs) dispatch it.
 * - not yet taken by a thread: the kernel hands a process's signal to one of its threads, which may wait for a core
 *   on a busy machine while the others finish the run. Until then it is pending for the whole process (ShdPnd in
 *   /proc/self/status, on Linux): the run waits for it, up to a second.
 */
async function signalsSentBefore(arrived: () => boolean): Promise<void> {
  await turn();
  await turn();
  for (let waited = 0; waited < 1000 && !arrived() && stopSignalPending(); waited += 5) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    await turn();
  }
}

/** Whether a SIGINT or SIGTERM is pending for the process (Linux; false where that cannot be read). */
function stopSignalPending(): boolean {
  let status: string;
  try {
    status = fs.readFileSync('/proc/self/status', 'latin1');
  } catch {
    return false;
  }
  const m = /^ShdPnd:\s*([0-9a-f]+)$/m.exec(status);
  if (m === null) return false;
  // Bit n-1 stands for signal n: SIGINT is 2, SIGTERM 15.
  const pending = BigInt(`0x${m[1]}`);
  return (pending & ((1n << 1n) | (1n << 14n))) !== 0n;
}
