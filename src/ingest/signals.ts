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
  try {
    return await fn({ afterBatch: afterBatch.signal, now: now.signal });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
