/**
 * The parse worker: reads the inputs (files, gzip, stdin) and parses and validates events on the second core while
 * the main thread writes to the store. Chunks are posted with credit-based flow control, so a slow store never
 * lets parsed events pile up in memory.
 */
import { parentPort } from 'node:worker_threads';
import { createMapper, type MapChoice } from '../core/maps/index.js';
import type { Meter } from '../core/meter.js';
import { openInput, type StdinMode } from '../input/open.js';
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

/** Messages from the worker. */
export type WorkerMessage =
  | { kind: 'chunk'; columns: EventColumns; rejects: RejectRecord[]; read: number; skipped: Record<string, number> }
  | { kind: 'done'; unbilledStreams: number }
  | { kind: 'error'; file: string; message: string; code?: string };

const port = parentPort!;
// The worker may start before the command knows what to ingest (see prestart.ts): its input comes first.
const input = await new Promise<WorkerInput>((resolve) =>
  port.once('message', (m: { kind: 'start'; input: WorkerInput }) => resolve(m.input)),
);
let credits = input.credits;
let wake: (() => void) | null = null;
port.on('message', (m: { kind: 'credit' }) => {
  if (m.kind === 'credit') {
    credits++;
    wake?.();
    wake = null;
  }
});

/** Events posted so far: chunks end on every multiple of batchSize, so commits keep the input's order. */
let posted = 0;
const strings = new StringEncoder();

/** Posts the chunk's events (or, when a commit falls within them, those up to it: a prefix of the input). */
async function post(chunk: ChunkBuilder): Promise<void> {
  while (chunk.events > 0 || chunk.read > 0) {
    const n = Math.min(chunk.events, input.batchSize - (posted % input.batchSize));
    posted += n;
    while (credits <= 0) await new Promise<void>((resolve) => (wake = resolve));
    credits--;
    const { rejects, read, skipped } = chunk;
    const columns = chunk.finish(n);
    port.postMessage({ kind: 'chunk', columns, rejects, read, skipped } satisfies WorkerMessage, transferList(columns));
  }
}

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
      for await (const items of readItems(file, openInput(file, input.stdin), { maxEventBytes: input.maxEventBytes })) {
        // Cut the items into chunks of about `size` events.
        for (let i = 0, end = 0; i < items.length; i = end) {
          end = Math.min(items.length, i + size);
          parser.parse(file, i === 0 && end === items.length ? items : items.slice(i, end), chunk);
          if (chunk.events + chunk.rejects.length >= size) {
            await post(chunk);
            chunk = new ChunkBuilder(strings);
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
