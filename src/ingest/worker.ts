/**
 * The parse worker: reads the inputs (files, gzip, stdin) and parses and validates events on the second core while
 * the main thread writes to the store. Chunks are posted with credit-based flow control, so a slow store never
 * lets parsed events pile up in memory.
 */
import { parentPort } from 'node:worker_threads';
import { createMapper, type MapChoice } from '../core/maps/index.js';
import type { Meter } from '../core/meter.js';
import fs from 'node:fs';
import { openInput, STDIN_NAME, type StdinMode } from '../input/open.js';
import type { InputItem } from '../input/items.js';
import { readItems } from '../input/read.js';
import { ChunkBuilder, StringEncoder, transferList, type EventColumns } from './columns.js';
import { EventParser, type RejectRecord } from './parse.js';

/** What the main thread hands the worker. */
export interface WorkerInput {
  inputs: string[];
  meters: Meter[];
  requireTime: boolean;
  nowMs: number;
  /** Compute event fingerprints (Store.needsFingerprints). */
  fingerprints: boolean;
  maxEventBytes: number;
  /** How to read `-` (see StdinMode). */
  stdin: StdinMode;
  /** Events in the first chunk, and in each later one. */
  firstChunkSize: number;
  chunkSize: number;
  /** Events per transaction (see IngestOptions.batchSize). */
  batchSize: number;
  /** Chunks that may be posted but not yet written. */
  credits: number;
  /** `--map`: records are mapped to events here, in the worker. */
  map?: MapChoice | null;
}

/**
 * Messages from the worker. A chunk with `commit` set ends a batch early: a live input (a pipe) went quiet, and
 * what came so far is committed now rather than when 200,000 more events or the end arrive. `stopped` answers
 * the main thread's `stop`: every complete record received before it was posted.
 */
export type WorkerMessage =
  | { kind: 'chunk'; columns: EventColumns; rejects: RejectRecord[]; read: number; skipped: Record<string, number>; commit: boolean }
  | { kind: 'done'; unbilledStreams: number }
  | { kind: 'stopped' }
  | { kind: 'error'; file: string; message: string; code?: string };

/** Messages to the worker, after `start`: a chunk was written (flow control), or stop reading (a signal). */
export type MainMessage = { kind: 'credit' } | { kind: 'stop' };

/**
 * How long a live input may stay quiet before what it sent is posted and committed, and how long a record of it
 * waits at most (a steady trickle never goes quiet, and would otherwise wait for 200,000 more).
 */
export const QUIET_MS = 200,
  MAX_WAIT_MS = 1000;

const port = parentPort!;
// The worker may start before the command knows what to ingest (see prestart.ts): its input comes first.
const input = await new Promise<WorkerInput>((resolve) =>
  port.once('message', (m: { kind: 'start'; input: WorkerInput }) => resolve(m.input)),
);
let credits = input.credits;
let wake: (() => void) | null = null;
/** Resolves when the main thread asks the worker to stop reading (a signal while a live input is read). */
let stopRequested = false;
let onStop: () => void = () => {};
const stopping = new Promise<void>((resolve) => (onStop = resolve));
port.on('message', (m: MainMessage) => {
  if (m.kind === 'credit') {
    credits++;
    wake?.();
    wake = null;
  } else if (m.kind === 'stop') {
    stopRequested = true;
    onStop();
  }
});

/**
 * Characters of ids, subjects and data at which a chunk is posted before its count of events: 5,000 events of
 * up to an event's size each (1 MiB by default) would otherwise be gigabytes in one message.
 */
const CHUNK_CHARS = 16 * 1024 * 1024;

/** Events posted so far: chunks end on every multiple of batchSize, so commits keep the input's order. */
let posted = 0;
const strings = new StringEncoder();

/**
 * Posts the chunk's events (or, when a commit falls within them, those up to it: a prefix of the input). `commit`:
 * the last part ends a batch here (a quiet live input); the count towards the next commit starts again, as the
 * main thread's does. Each part carries its counts as ChunkBuilder.partCounts gives them.
 */
async function post(chunk: ChunkBuilder, commit = false): Promise<void> {
  while (chunk.events > 0 || chunk.read > 0) {
    const n = Math.min(chunk.events, input.batchSize - (posted % input.batchSize));
    posted += n;
    while (credits <= 0) await new Promise<void>((resolve) => (wake = resolve));
    credits--;
    const part = chunk.partCounts(n);
    const columns = chunk.finish(n);
    const last = chunk.events === 0 && chunk.read === 0;
    port.postMessage({ kind: 'chunk', columns, ...part, commit: commit && last } satisfies WorkerMessage, transferList(columns));
  }
  if (commit) posted = 0;
}

/** Whether an input may go quiet for a while and come back (stdin, a named pipe), unlike a regular file. */
function isLive(file: string): boolean {
  if (file === STDIN_NAME) return true;
  try {
    return !fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

const QUIET = Symbol('quiet'),
  STOP = Symbol('stop');

async function run(): Promise<void> {
  const mapper = input.map ? createMapper(input.map) : null;
  const parser = new EventParser(
    { requireTime: input.requireTime, nowMs: input.nowMs, fingerprints: input.fingerprints },
    input.meters,
    mapper,
  );
  let current = '';
  let size = input.firstChunkSize;
  try {
    for (const file of input.inputs) {
      current = file;
      let chunk = new ChunkBuilder(strings);
      /** When the chunk's first record came (a live input's records wait at most MAX_WAIT_MS). */
      let chunkSince = 0;
      const live = isLive(file);
      const items = readItems(file, openInput(file, input.stdin), { maxEventBytes: input.maxEventBytes })[Symbol.asyncIterator]();
      let next = items.next();
      for (;;) {
        // A stop (a signal) ends the reading of a live input here: every complete record received is posted first.
        if (live && stopRequested) {
          await post(chunk, true);
          port.postMessage({ kind: 'stopped' } satisfies WorkerMessage);
          return;
        }
        // A live input that goes quiet: what it sent is posted (and committed) without waiting for more.
        let quiet: NodeJS.Timeout | undefined;
        const waits: Array<Promise<IteratorResult<InputItem[]> | typeof QUIET | typeof STOP>> = [next];
        if (live) waits.push(stopping.then(() => STOP));
        if (live && chunk.read > 0) {
          const wait = Math.max(0, Math.min(QUIET_MS, chunkSince + MAX_WAIT_MS - Date.now()));
          waits.push(new Promise((resolve) => (quiet = setTimeout(() => resolve(QUIET), wait))));
        }
        const r = waits.length === 1 ? await next : await Promise.race(waits);
        clearTimeout(quiet);
        if (r === STOP) continue;
        if (r === QUIET) {
          await post(chunk, true);
          chunk = new ChunkBuilder(strings);
          continue;
        }
        if (r.done) break;
        next = items.next();
        // Cut the items into chunks of about `size` events.
        const batch = r.value;
        if (chunk.read === 0) chunkSince = Date.now();
        for (let i = 0, end = 0; i < batch.length; i = end) {
          end = Math.min(batch.length, i + size);
          parser.parse(file, i === 0 && end === batch.length ? batch : batch.slice(i, end), chunk);
          if (chunk.events + chunk.rejects.length >= size || chunk.chars >= CHUNK_CHARS) {
            await post(chunk);
            chunk = new ChunkBuilder(strings);
            chunkSince = Date.now();
            size = input.chunkSize;
          }
        }
      }
      if (chunk.read > 0) await post(chunk);
    }
    port.postMessage({ kind: 'done', unbilledStreams: mapper?.finish().unbilledStreams ?? 0 } satisfies WorkerMessage);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    port.postMessage({ kind: 'error', file: current, message: err.message ?? String(e), code: err.code } satisfies WorkerMessage);
  }
}

void run();
