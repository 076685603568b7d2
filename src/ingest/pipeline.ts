/**
 * The ingest use case: inputs -> validated events -> the store, with every rejected input reported. Reading and
 * parsing run in a worker thread (src/ingest/worker.ts) while this thread writes, so both cores work. No console
 * here: the command supplies where rejects and progress go.
 */
import type { UsageEvent } from '../core/event.js';
import type { MapChoice } from '../core/maps/index.js';
import type { Meter } from '../core/meter.js';
import { InputError, InterruptedError, StoreError } from '../errors.js';
import { STDIN_NAME, stdinMode } from '../input/open.js';
import { RowStatus, type Store } from '../store/store.js';
import { fromColumns, StringDecoder } from './columns.js';
import type { ParsedChunk, RejectRecord } from './parse.js';
import { takeParseWorker } from './prestart.js';
import type { MainMessage, WorkerInput, WorkerMessage } from './worker.js';

export type { RejectRecord } from './parse.js';

/**
 * A second signal stopped the ingest at once (exit 130). `summary` is the run's as far as it went, with `inserted`
 * the events of the batches committed before the open one was rolled back: `--json` still prints it.
 */
export class IngestStoppedAtOnce extends InterruptedError {
  constructor(
    message: string,
    readonly summary: IngestSummary,
  ) {
    super(message);
  }
}

/** The numbers a run reports. */
export interface IngestSummary {
  read: number;
  inserted: number;
  duplicates: number;
  conflicts: number;
  rejected: number;
  /** Accepted events without `time`, stamped with the ingestion time. */
  missingTime: number;
  /** Accepted events more than a day in the future: a producer with a wrong clock is a billing risk. */
  futureTime: number;
  /** Per meter slug: new events of its type whose value it cannot use. */
  unusable: Record<string, number>;
  /** With --map: records that carry no usage, by reason (read = inserted + duplicates + rejected + these). */
  skipped: Record<string, number>;
  /** With --map: streams whose chunks were read but whose usage chunk never came (they cannot be billed). */
  unbilledStreams: number;
  elapsedMs: number;
  eventsPerSec: number;
  interrupted: boolean;
}

export interface IngestOptions {
  inputs: string[];
  /** Events per transaction: a commit happens once at least this many were written since the last one. */
  batchSize: number;
  maxEventBytes: number;
  requireTime: boolean;
  meters: Meter[];
  onReject(r: RejectRecord): void;
  onProgress?(s: IngestSummary): void;
  /** Stop after the current batch: at its commit, or (reading stdin, which may stay idle) after the current chunk. */
  signal?: AbortSignal;
  /** Stop at once: the open batch is rolled back and ingest throws InterruptedError. */
  stopNow?: AbortSignal;
  /** `--map`: raw records to map to events in the parse worker. */
  map?: MapChoice | null;
}

const FUTURE_MS = 24 * 3_600_000;
/** Events per message from the parse worker (the first is smaller, so the writer starts sooner). */
const FIRST_CHUNK_SIZE = 1000,
  CHUNK_SIZE = 5000;
/** How long a stop waits for the worker to post what it received from stdin. */
const STOP_WAIT_MS = 5_000;
/** Chunks the worker may run ahead of the writer. */
const CREDITS = 6;

/** Ingests every input into the store; returns once everything accepted is committed and synced. */
export async function ingest(store: Store, o: IngestOptions): Promise<IngestSummary> {
  const started = Date.now();
  const future = started + FUTURE_MS;
  const s: IngestSummary = {
    read: 0,
    inserted: 0,
    duplicates: 0,
    conflicts: 0,
    rejected: 0,
    missingTime: 0,
    futureTime: 0,
    unusable: Object.fromEntries(o.meters.filter((m) => m.valueProperty).map((m) => [m.slug, 0])),
    skipped: {},
    unbilledStreams: 0,
    elapsedMs: 0,
    eventsPerSec: 0,
    interrupted: false,
  };
  // Stdin that the worker cannot read itself (a terminal) is forwarded from this thread's stdin.
  const readsStdin = o.inputs.includes(STDIN_NAME);
  const stdin = readsStdin ? stdinMode() : 'forwarded';
  const forwardsStdin = readsStdin && stdin === 'forwarded';
  const workerData: WorkerInput = {
    inputs: o.inputs,
    meters: o.meters,
    requireTime: o.requireTime,
    nowMs: started,
    fingerprints: store.needsFingerprints,
    maxEventBytes: o.maxEventBytes,
    stdin,
    firstChunkSize: FIRST_CHUNK_SIZE,
    chunkSize: CHUNK_SIZE,
    batchSize: o.batchSize,
    credits: CREDITS,
    map: o.map ?? null,
  };
  const worker = takeParseWorker();
  worker.postMessage({ kind: 'start', input: workerData });
  if (forwardsStdin) process.stdin.pipe(worker.stdin!);
  let sinceCommit = 0;
  /** Set by the first signal when reading files: the next commit ends the run. */
  let stopAtCommit = false;
  /** Inserted events committed so far (the rest of s.inserted is in the open batch). */
  let committedInserted = 0;
  const strings = new StringDecoder();

  /** `commitNow`: the worker ended a batch early (a quiet live input): commit what is open, even with no event here. */
  const write = async (chunk: ParsedChunk, skipped: Record<string, number>, commitNow: boolean) => {
    s.read += chunk.read;
    for (const [reason, n] of Object.entries(skipped)) s.skipped[reason] = (s.skipped[reason] ?? 0) + n;
    for (const r of chunk.rejects) {
      s.rejected++;
      o.onReject(r);
    }
    // The worker ends chunks on every batchSize events, so commits fall exactly there, in input order.
    if (chunk.events.length === 0 && !(commitNow && sinceCommit > 0)) return;
    sinceCommit += chunk.events.length;
    const commit = sinceCommit >= o.batchSize || commitNow;
    await writePart(chunk.events, commit);
    if (commit) {
      sinceCommit = 0;
      committedInserted = s.inserted;
    }
  };

  const writePart = async (events: UsageEvent[], commit: boolean) => {
    const r = await store.writeBatch(events, Date.now(), { commit, signal: o.stopNow });
    s.inserted += r.inserted;
    s.duplicates += r.duplicates;
    s.conflicts += r.conflicts;
    for (let i = 0; i < events.length; i++) {
      if (r.status[i] !== RowStatus.inserted) continue;
      const e = events[i]!;
      if (e.timeMissing) s.missingTime++;
      if (e.timeMs > future) s.futureTime++;
      if (e.unusable) for (const m of e.unusable) s.unusable[o.meters[m]!.slug]!++;
    }
  };

  // Messages are handled one at a time, in order: each chunk is written before the next is looked at.
  let queue = Promise.resolve();
  const failure = await new Promise<Error | null>((resolve) => {
    let finished = false;
    const finish = (e: Error | null) => {
      if (finished) return;
      finished = true;
      resolve(e);
    };
    const onAbort = () => {
      s.interrupted = true;
      // Files end, so the open batch is completed and committed. Stdin may stay idle: the worker is asked to stop
      // reading and to post every complete record it received, which is then written and committed (the answer,
      // `stopped`, ends the run; should it not come within STOP_WAIT_MS, the run ends with what was posted).
      if (readsStdin) {
        worker.postMessage({ kind: 'stop' } satisfies MainMessage);
        setTimeout(() => (queue = queue.then(() => finish(null))), STOP_WAIT_MS).unref();
      } else {
        // Chunks the worker posted before the signal may wait in the queue: none that would open a batch after the
        // last commit is written (see the chunk handler), so the run ends on a commit, with whole batches.
        stopAtCommit = true;
        if (sinceCommit === 0) queue = queue.then(() => finish(null));
      }
    };
    const onStopNow = () => {
      s.interrupted = true;
      const open = s.inserted - committedInserted;
      finish(
        new IngestStoppedAtOnce(
          `interrupted: stopped at once, the open batch was rolled back (${open.toLocaleString('en-US')} event(s)); ` +
            `${committedInserted.toLocaleString('en-US')} inserted event(s) committed before it are kept; run the same command again to finish`,
          timed({ ...s, inserted: committedInserted, interrupted: true }, started),
        ),
      );
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });
    o.stopNow?.addEventListener('abort', onStopNow, { once: true });
    worker.on('message', (m: WorkerMessage) => {
      queue = queue.then(async () => {
        if (finished) return;
        try {
          if (m.kind === 'chunk') {
            if (stopAtCommit && sinceCommit === 0) return finish(null);
            await write({ events: fromColumns(m.columns, strings), rejects: m.rejects, read: m.read }, m.skipped, m.commit);
            o.onProgress?.(s);
            // Back to the event loop between chunks: the worker's messages are otherwise dispatched one after
            // another in one turn of it for as long as the worker keeps up, and a Ctrl-C waited for the end.
            await new Promise((r) => setImmediate(r));
            if (finished) return;
            if (stopAtCommit && sinceCommit === 0) finish(null);
            else worker.postMessage({ kind: 'credit' });
          } else if (m.kind === 'done') {
            // Everything was read, but a run that was told to stop says so (exit 130), whether or not the end of its
            // input came first: Ctrl-C on `producer | meter ingest -` ends the producer too, and a script must see
            // the interruption (the README's promise).
            s.unbilledStreams = m.unbilledStreams;
            finish(null);
          } else if (m.kind === 'stopped') finish(null);
          else finish(new InputError(`${m.file}: ${m.message}`));
        } catch (e) {
          finish(e as Error);
        }
      });
    });
    worker.on('error', (e) => queue.then(() => finish(e)));
    worker.on('exit', () => queue.then(() => finish(s.interrupted ? null : new Error('the parse worker stopped unexpectedly'))));
    if (o.signal?.aborted) onAbort();
    if (o.stopNow?.aborted) onStopNow();
  });
  if (forwardsStdin) {
    process.stdin.unpipe(worker.stdin!);
    process.stdin.destroy();
  }
  await worker.terminate();
  // A write still running (a remote store) settles before the caller closes the store, which rolls it back.
  await queue.catch(() => undefined);
  if (failure) {
    // A store that fails half-way (a full disk) keeps every batch committed before: say how much of this run that is.
    if (failure instanceof StoreError && committedInserted > 0) {
      const kept = committedInserted.toLocaleString('en-US');
      throw new StoreError(
        `${failure.message}; ${kept} inserted event(s) committed before it are kept: run the same command again to finish`,
        failure.cause ?? failure,
      );
    }
    throw failure;
  }
  await store.sync();
  return timed(s, started);
}

/** A summary with the time the run took since `started` and its rate. */
function timed(s: IngestSummary, started: number): IngestSummary {
  s.elapsedMs = Date.now() - started;
  s.eventsPerSec = Math.round(s.read / Math.max(s.elapsedMs / 1000, 0.001));
  return s;
}
