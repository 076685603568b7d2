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
 * The events of a chunk in subject order (stable: one subject's events keep their input order), so that a store
 * lays one subject's rows out together, for one-subject queries. Copies of one (source, id) under one subject keep
 * their order, so the first copy is still the one stored; a chunk with copies under different subjects (a
 * conflict) keeps its input order.
 */
export function clusterBySubject(events: UsageEvent[]): UsageEvent[] {
  const subjectOfKey = new Map<number, string>();
  for (const e of events) {
    const s = subjectOfKey.get(e.key);
    if (s === undefined) subjectOfKey.set(e.key, e.subject);
    else if (s !== e.subject) return events;
  }
  return events.sort((a, b) => (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : 0));
}

/** Distinct strings kept before a dictionary starts afresh (bounds memory with millions of subjects). */
const MAX_DICTIONARY = 1 << 16;

/**
 * Low-cardinality strings (source, type, subject) travel as numbers: each distinct string crosses to the writer
 * once, and the writer binds the same string object for every row, instead of a new copy per row.
 */
export class StringEncoder {
  private ids = new Map<string, number>();
  private added: string[] = [];
  private reset = false;

  encode(s: string): number {
    let id = this.ids.get(s);
    if (id === undefined) {
      if (this.ids.size >= MAX_DICTIONARY) {
        this.ids = new Map();
        this.added = [];
        this.reset = true;
      }
      id = this.ids.size;
      this.ids.set(s, id);
      this.added.push(s);
    }
    return id;
  }

  /** The strings added since the last call, and whether the dictionary started afresh before them. */
  take(): { reset: boolean; added: string[] } {
    const t = { reset: this.reset, added: this.added };
    this.added = [];
    this.reset = false;
    return t;
  }
}

/** The writer's side of a StringEncoder. */
export class StringDecoder {
  private strings: string[] = [];
  update(d: { reset: boolean; added: string[] }): void {
    if (d.reset) this.strings = [];
    for (const s of d.added) this.strings.push(s);
  }
  decode(id: number): string {
    return this.strings[id]!;
  }
}

/**
 * A chunk of events as columns, for the trip from the parse worker to the writer: a structured clone of typed
 * arrays and a few strings costs a fraction of cloning as many objects, on the thread that is the bottleneck.
 */
export interface EventColumns {
  id: string[];
  data: Array<string | null>;
  source: Int32Array;
  type: Int32Array;
  subject: Int32Array;
  strings: { reset: boolean; added: string[] };
  key: Float64Array;
  /** Null when the events have no fingerprints (not asked for). */
  fingerprint: Float64Array | null;
  timeMs: Float64Array;
  timeMissing: Uint8Array;
  /** Row index -> meter indexes that cannot use the row's value (only rows that have some). */
  unusable: Array<[number, number[]]>;
}

export function toColumns(events: UsageEvent[], enc: StringEncoder): EventColumns {
  const n = events.length;
  const c: Omit<EventColumns, 'strings'> = {
    id: new Array<string>(n),
    data: new Array<string | null>(n),
    source: new Int32Array(n),
    type: new Int32Array(n),
    subject: new Int32Array(n),
    key: new Float64Array(n),
    fingerprint: n > 0 && events[0]!.fingerprint !== undefined ? new Float64Array(n) : null,
    timeMs: new Float64Array(n),
    timeMissing: new Uint8Array(n),
    unusable: [],
  };
  for (let i = 0; i < n; i++) {
    const e = events[i]!;
    c.id[i] = e.id;
    c.data[i] = e.data;
    c.source[i] = enc.encode(e.source);
    c.type[i] = enc.encode(e.type);
    c.subject[i] = enc.encode(e.subject);
    c.key[i] = e.key;
    if (c.fingerprint) c.fingerprint[i] = e.fingerprint!;
    c.timeMs[i] = e.timeMs;
    c.timeMissing[i] = e.timeMissing ? 1 : 0;
    if (e.unusable) c.unusable.push([i, e.unusable]);
  }
  return { ...c, strings: enc.take() };
}

/** The buffers of a chunk that can be moved rather than copied to the writer. */
export function transferList(c: EventColumns): ArrayBuffer[] {
  return [c.source, c.type, c.subject, c.key, c.fingerprint, c.timeMs, c.timeMissing].flatMap((a) => (a ? [a.buffer as ArrayBuffer] : []));
}

export function fromColumns(c: EventColumns, dec: StringDecoder): UsageEvent[] {
  dec.update(c.strings);
  const n = c.id.length;
  const events = new Array<UsageEvent>(n);
  for (let i = 0; i < n; i++) {
    events[i] = {
      id: c.id[i]!,
      source: dec.decode(c.source[i]!),
      type: dec.decode(c.type[i]!),
      subject: dec.decode(c.subject[i]!),
      timeMs: c.timeMs[i]!,
      timeMissing: c.timeMissing[i] === 1,
      data: c.data[i]!,
      fingerprint: c.fingerprint ? c.fingerprint[i]! : undefined,
      key: c.key[i]!,
    };
  }
  for (const [i, meters] of c.unusable) events[i]!.unusable = meters;
  return events;
}
