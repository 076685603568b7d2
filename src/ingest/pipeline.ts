/**
 * The ingest use case: inputs -> validated events -> the store, in batches, with every rejected input reported.
 * No console here: the command supplies where rejects and progress go.
 */
import type { Meter } from '../core/meter.js';
import { meterCanUse } from '../core/meter.js';
import { validateCloudEvent, type EventRules, type UsageEvent } from '../core/event.js';
import { InputError, MeterError } from '../errors.js';
import { clip, isProblem, readItems } from '../input/read.js';
import { RowStatus, type Store } from '../store/store.js';

/** One rejected input, as written to --rejects. */
export interface RejectRecord {
  file: string;
  line: number;
  /** Position in a JSON array, when the input was one. */
  index?: number;
  error: string;
  raw: string;
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
  elapsedMs: number;
  eventsPerSec: number;
  interrupted: boolean;
}

export interface IngestOptions {
  inputs: string[];
  open(name: string): AsyncIterable<Buffer>;
  batchSize: number;
  maxEventBytes: number;
  requireTime: boolean;
  meters: Meter[];
  onReject(r: RejectRecord): void;
  onProgress?(s: IngestSummary): void;
  signal?: AbortSignal;
}

const FUTURE_MS = 24 * 3_600_000;

/** Ingests every input into the store; returns once everything accepted is committed and synced. */
export async function ingest(store: Store, o: IngestOptions): Promise<IngestSummary> {
  const started = Date.now();
  const rules: EventRules = { requireTime: o.requireTime, nowMs: started };
  const future = started + FUTURE_MS;
  const s: IngestSummary = {
    read: 0, inserted: 0, duplicates: 0, conflicts: 0, rejected: 0, missingTime: 0, futureTime: 0,
    unusable: Object.fromEntries(o.meters.filter((m) => m.valueProperty).map((m) => [m.slug, 0])),
    elapsedMs: 0, eventsPerSec: 0, interrupted: false,
  };
  const checked = o.meters.filter((m) => m.valueProperty !== undefined);
  let batch: UsageEvent[] = [];
  let current = '';

  const flush = async () => {
    if (batch.length === 0) return;
    const events = batch;
    batch = [];
    const r = await store.writeBatch(events, Date.now());
    s.inserted += r.inserted;
    s.duplicates += r.duplicates;
    s.conflicts += r.conflicts;
    for (let i = 0; i < events.length; i++) {
      if (r.status[i] !== RowStatus.inserted) continue;
      const e = events[i]!;
      if (e.timeMissing) s.missingTime++;
      if (e.timeMs > future) s.futureTime++;
      for (const m of checked) {
        if (m.eventType === e.type && !meterCanUse(m, e.dataValue)) s.unusable[m.slug]!++;
      }
      e.dataValue = null;
    }
    o.onProgress?.(s);
  };

  const reject = (file: string, line: number, index: number | null, error: string, raw: string) => {
    s.rejected++;
    o.onReject(index === null ? { file, line, error, raw: clip(raw) } : { file, line, index, error, raw: clip(raw) });
  };

  const accept = (file: string, line: number, index: number | null, value: unknown, text: string) => {
    const r = validateCloudEvent(value, rules, text.length);
    if (r.ok) batch.push(r.event);
    else reject(file, line, index, r.error, text);
  };

  try {
    for (const file of o.inputs) {
      if (o.signal?.aborted) break;
      await readFile(file);
    }
  } catch (e) {
    if (!o.signal?.aborted) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== undefined && !(e instanceof MeterError)) throw new InputError(`${current}: ${(e as Error).message}`);
      throw e;
    }
  }
  if (o.signal?.aborted) s.interrupted = true;
  await flush();
  await store.sync();
  s.elapsedMs = Date.now() - started;
  s.eventsPerSec = Math.round(s.read / Math.max(s.elapsedMs / 1000, 0.001));
  return s;

  async function readFile(file: string): Promise<void> {
    current = file;
    for await (const items of readItems(file, o.open(file), { maxEventBytes: o.maxEventBytes })) {
      for (const item of items) {
        if (isProblem(item)) {
          s.read++;
          reject(file, item.line, item.index, item.error, item.raw);
          continue;
        }
        let value: unknown;
        try {
          value = JSON.parse(item.text);
        } catch (e) {
          s.read++;
          reject(file, item.line, item.index, `invalid JSON: ${(e as Error).message}`, item.text);
          continue;
        }
        if (Array.isArray(value) && item.index === null) {
          // A line holding a JSON array of events (a batch on one line).
          value.forEach((v, i) => {
            s.read++;
            accept(file, item.line, i, v, JSON.stringify(v) ?? String(v));
          });
        } else {
          s.read++;
          accept(file, item.line, item.index, value, item.text);
        }
      }
      if (batch.length >= o.batchSize) await flush();
      if (o.signal?.aborted) return;
    }
  }
}
