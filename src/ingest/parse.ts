/**
 * Turns input items into validated events and reject records. Runs in the parse worker; free of I/O.
 */
import { validateCloudEvent, type EventRules, type UsageEvent } from '../core/event.js';
import { meterCanUse, type Meter } from '../core/meter.js';
import { clip, isProblem, type InputItem } from '../input/read.js';

/** One rejected input, as written to --rejects. */
export interface RejectRecord {
  file: string;
  line: number;
  /** Position in a JSON array, when the input was one. */
  index?: number;
  error: string;
  raw: string;
}

/** What parsing a run of items gives: events to store (sorted by key), rejects, and how many inputs were read. */
export interface ParsedChunk {
  events: UsageEvent[];
  rejects: RejectRecord[];
  read: number;
}

export class EventParser {
  private readonly checked: Array<{ index: number; meter: Meter }>;
  constructor(
    private readonly rules: EventRules,
    meters: Meter[],
  ) {
    this.checked = meters.map((meter, index) => ({ index, meter })).filter((m) => m.meter.valueProperty !== undefined);
  }

  private reject(out: ParsedChunk, file: string, line: number, index: number | null, error: string, raw: string): void {
    out.rejects.push(index === null ? { file, line, error, raw: clip(raw) } : { file, line, index, error, raw: clip(raw) });
  }

  private accept(out: ParsedChunk, file: string, line: number, index: number | null, value: unknown, text: string): void {
    out.read++;
    const r = validateCloudEvent(value, this.rules, text);
    if (!r.ok) {
      this.reject(out, file, line, index, r.error, text);
      return;
    }
    const e = r.event;
    for (const { index: i, meter } of this.checked) {
      if (meter.eventType === e.type && !meterCanUse(meter, e.dataValue)) (e.unusable ??= []).push(i);
    }
    e.dataValue = undefined; // (not `delete`: that would turn every event into a slow dictionary object)
    out.events.push(e);
  }

  /** Parses items into `out`. */
  parse(file: string, items: InputItem[], out: ParsedChunk): void {
    for (const item of items) {
      if (isProblem(item)) {
        out.read++;
        this.reject(out, file, item.line, item.index, item.error, item.raw);
        continue;
      }
      let value: unknown;
      try {
        value = JSON.parse(item.text);
      } catch (e) {
        out.read++;
        this.reject(out, file, item.line, item.index, `invalid JSON: ${(e as Error).message}`, item.text);
        continue;
      }
      if (Array.isArray(value) && item.index === null) {
        // A line holding a JSON array of events (a whole batch on one line).
        value.forEach((v, i) => this.accept(out, file, item.line, i, v, JSON.stringify(v) ?? String(v)));
      } else {
        this.accept(out, file, item.line, item.index, value, item.text);
      }
    }
  }
}

/**
 * Orders a chunk's events by key (stable, so the first copy of a key stays first): inserts then walk the key
 * index in order instead of jumping around it.
 */
export function sortByKey(events: UsageEvent[]): UsageEvent[] {
  return events.sort((a, b) => a.key - b.key);
}

/**
 * A chunk of events as columns, for the trip from the parse worker to the writer: a structured clone of arrays of
 * strings and typed arrays costs a fifth of cloning as many objects, on the thread that is the bottleneck.
 */
export interface EventColumns {
  id: string[];
  source: string[];
  type: string[];
  subject: string[];
  data: Array<string | null>;
  key: Float64Array;
  fingerprint: Float64Array;
  timeMs: Float64Array;
  timeMissing: Uint8Array;
  /** Row index -> meter indexes that cannot use the row's value (only rows that have some). */
  unusable: Array<[number, number[]]>;
}

export function toColumns(events: UsageEvent[]): EventColumns {
  const n = events.length;
  const c: EventColumns = {
    id: new Array<string>(n),
    source: new Array<string>(n),
    type: new Array<string>(n),
    subject: new Array<string>(n),
    data: new Array<string | null>(n),
    key: new Float64Array(n),
    fingerprint: new Float64Array(n),
    timeMs: new Float64Array(n),
    timeMissing: new Uint8Array(n),
    unusable: [],
  };
  for (let i = 0; i < n; i++) {
    const e = events[i]!;
    c.id[i] = e.id;
    c.source[i] = e.source;
    c.type[i] = e.type;
    c.subject[i] = e.subject;
    c.data[i] = e.data;
    c.key[i] = e.key;
    c.fingerprint[i] = e.fingerprint;
    c.timeMs[i] = e.timeMs;
    c.timeMissing[i] = e.timeMissing ? 1 : 0;
    if (e.unusable) c.unusable.push([i, e.unusable]);
  }
  return c;
}

export function fromColumns(c: EventColumns): UsageEvent[] {
  const n = c.id.length;
  const events = new Array<UsageEvent>(n);
  for (let i = 0; i < n; i++) {
    events[i] = {
      id: c.id[i]!,
      source: c.source[i]!,
      type: c.type[i]!,
      subject: c.subject[i]!,
      timeMs: c.timeMs[i]!,
      timeMissing: c.timeMissing[i] === 1,
      data: c.data[i]!,
      fingerprint: c.fingerprint[i]!,
      key: c.key[i]!,
    };
  }
  for (const [i, meters] of c.unusable) events[i]!.unusable = meters;
  return events;
}
