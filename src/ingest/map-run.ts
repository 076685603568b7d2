/**
 * `meter map`'s run: every input read, mapped and validated exactly as `ingest --map` does it, and the accepted
 * events handed on a batch at a time instead of stored.
 */
import type { UsageEvent } from '../core/event.js';
import type { RecordMapper } from '../core/mapping.js';
import { InputError } from '../errors.js';
import { openInput } from '../input/open.js';
import { readItems } from '../input/read.js';
import { EventParser, type ParseSink, type RejectRecord } from './parse.js';

/** The numbers a map run reports. */
export interface MapSummary {
  read: number;
  mapped: number;
  rejected: number;
  skipped: Record<string, number>;
  unbilledStreams: number;
}

export interface MapRunOptions {
  inputs: string[];
  mapper: RecordMapper;
  requireTime: boolean;
  maxEventBytes: number;
  /** Takes each batch's accepted events, in input order; the next batch waits for it. */
  onEvents(events: UsageEvent[]): Promise<void>;
  onReject(r: RejectRecord): void;
}

export async function mapInputs(o: MapRunOptions): Promise<MapSummary> {
  const parser = new EventParser({ requireTime: o.requireTime, nowMs: Date.now(), fingerprints: false }, [], o.mapper);
  let read = 0,
    mapped = 0,
    rejected = 0;
  const skipped: Record<string, number> = {};
  for (const file of o.inputs) {
    try {
      for await (const batch of readItems(file, openInput(file), { maxEventBytes: o.maxEventBytes })) {
        const events: UsageEvent[] = [];
        const sink: ParseSink = { rejects: [], read: 0, skipped, add: (e) => void events.push(e) };
        parser.parse(file, batch, sink);
        read += sink.read;
        mapped += events.length;
        rejected += sink.rejects.length;
        sink.rejects.forEach((r) => o.onReject(r));
        if (events.length > 0) await o.onEvents(events);
      }
    } catch (e) {
      throw new InputError(`${file}: ${(e as Error).message}`);
    }
  }
  return { read, mapped, rejected, skipped, unbilledStreams: o.mapper.finish().unbilledStreams };
}
