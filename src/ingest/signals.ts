/**
 * Ctrl-C and SIGTERM during an ingest: the first stops it after the current batch, the second at once, rolling
 * back the open batch. Neither exits the process: both end the ingest, whose result says it was interrupted, and
 * the exit code (130) leaves through src/cli.ts like every other.
 */

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
    // A signal sent before the input ended is in the event loop's poll together with the end: libuv runs signal
    // listeners after the other events of that poll, and the whole end of an ingest (the worker's last message, its
    // exit, the final commit) can run inside one of those events. The listener stays until the poll is done (the
    // check phase, where setImmediate runs), so that signal still makes the run an interrupted one (exit 130).
    await new Promise((resolve) => setImmediate(resolve));
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
