/**
 * The wire format between the parse worker and the writer: a chunk of events as columns (typed arrays, ids and
 * data joined into one string each, low-cardinality strings through a dictionary), laid out in subject order.
 */
import type { UsageEvent } from '../core/event.js';
import type { ParseSink, RejectRecord } from './parse.js';

/**
 * The order in which a chunk's events are stored: by subject (stable: one subject's events keep their input
 * order), so that a store lays one subject's rows out together, for one-subject queries. `subjects` holds each
 * event's subject as a dictionary id, `keys` its dedupe key. Copies of one (source, id) under one subject keep
 * their order, so the first copy is still the one stored; for a chunk with copies under different subjects (a
 * conflict), null: input order.
 */
export function subjectOrder(keys: ArrayLike<number>, subjects: ArrayLike<number>): Uint32Array | null {
  const n = keys.length;
  // Key -> subject of its first copy, in an open-addressing table (no allocation per event).
  let size = 16;
  while (size < 2 * n) size *= 2;
  const table = new Float64Array(size).fill(-1);
  const keySubject = new Int32Array(size);
  for (let i = 0; i < n; i++) {
    const k = keys[i]!;
    let h = (k >>> 0) & (size - 1);
    while (table[h] !== -1 && table[h] !== k) h = (h + 1) & (size - 1);
    if (table[h] === -1) {
      table[h] = k;
      keySubject[h] = subjects[i]!;
    } else if (keySubject[h] !== subjects[i]) return null;
  }
  // Sort (subject, position) pairs packed in one number: a native numeric sort, stable by construction.
  const packed = new Float64Array(n);
  for (let i = 0; i < n; i++) packed[i] = subjects[i]! * 4294967296 + i;
  packed.sort();
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = packed[i]! % 4294967296;
  return order;
}

/** Distinct strings kept before a dictionary starts afresh (bounds memory with millions of subjects). */
const MAX_DICTIONARY = 1 << 16;
/**
 * Characters of the strings kept before a dictionary starts afresh: a subject may be as long as an event, and
 * 2,000 distinct subjects of 270 KB held 540 MB in each thread (an ingest then took 224 s, collecting garbage).
 */
export const MAX_DICTIONARY_CHARS = 16 * 1024 * 1024;

/**
 * Low-cardinality strings (source, type, subject) travel as numbers: each distinct string crosses to the writer
 * once, and the writer binds the same string object for every row, instead of a new copy per row.
 */
export class StringEncoder {
  private ids = new Map<string, number>();
  private added: string[] = [];
  private reset = false;
  private chars = 0;

  /** Starts a chunk: a full dictionary starts afresh here, never within a chunk (whose ids must stay valid). */
  begin(): void {
    if (this.ids.size >= MAX_DICTIONARY || this.chars >= MAX_DICTIONARY_CHARS) {
      this.ids = new Map();
      this.added = [];
      this.reset = true;
      this.chars = 0;
    }
  }

  encode(s: string): number {
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.ids.size;
      this.ids.set(s, id);
      this.added.push(s);
      this.chars += s.length;
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

/** Joins the ids and data texts of a chunk. */
const SEPARATOR = '\u0000';

/**
 * A chunk of events as columns, for the trip from the parse worker to the writer: a structured clone of typed
 * arrays and a few strings costs a fraction of cloning as many objects, on the thread that is the bottleneck.
 * The rows are in subject order (see subjectOrder).
 */
export interface EventColumns {
  /** The ids, joined by SEPARATOR: one string clones far faster than thousands (ids cannot hold U+0000). */
  id: string;
  /** The data texts, joined by SEPARATOR; '' for no data (JSON text never holds a raw U+0000, nor is empty). */
  data: string;
  /** How many events. */
  length: number;
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

/**
 * Fills the columns of one chunk as events are accepted, so that an event's objects (the parsed JSON, the event)
 * die young: only its id and data strings live until the chunk is posted. Holding thousands of event objects
 * alive instead made garbage collection copy them, in the thread that is the bottleneck.
 */
export class ChunkBuilder implements ParseSink {
  rejects: RejectRecord[] = [];
  read = 0;
  skipped: Record<string, number> = {};
  private readonly id: string[] = [];
  private readonly data: Array<string | null> = [];
  private readonly source: number[] = [];
  private readonly type: number[] = [];
  private readonly subject: number[] = [];
  private readonly key: number[] = [];
  private readonly fingerprint: number[] = [];
  private readonly timeMs: number[] = [];
  private readonly timeMissing: number[] = [];
  private unusable: Array<[number, number[]]> = [];
  // Most events of a chunk share a source and a type: comparing with the last one is cheaper than a Map look-up.
  private lastSource = '';
  private lastSourceId = -1;
  private lastType = '';
  private lastTypeId = -1;

  /** Starts a chunk: a full dictionary starts afresh here (see StringEncoder.begin). */
  constructor(private readonly enc: StringEncoder) {
    enc.begin();
  }

  get events(): number {
    return this.id.length;
  }

  /** Characters of the ids, subjects and data added (a chunk is posted at CHUNK_CHARS: see worker.ts). */
  chars = 0;

  add(e: UsageEvent): void {
    const i = this.id.length;
    this.id.push(e.id);
    this.data.push(e.data);
    this.chars += e.id.length + e.subject.length + (e.data?.length ?? 0);
    if (e.source !== this.lastSource || this.lastSourceId < 0) this.lastSourceId = this.enc.encode((this.lastSource = e.source));
    this.source.push(this.lastSourceId);
    if (e.type !== this.lastType || this.lastTypeId < 0) this.lastTypeId = this.enc.encode((this.lastType = e.type));
    this.type.push(this.lastTypeId);
    this.subject.push(this.enc.encode(e.subject));
    this.key.push(e.key);
    if (e.fingerprint !== undefined) this.fingerprint.push(e.fingerprint);
    this.timeMs.push(e.timeMs);
    this.timeMissing.push(e.timeMissing ? 1 : 0);
    if (e.unusable) this.unusable.push([i, e.unusable]);
  }

  /** What finish(n) reports as read, rejected and skipped: everything when it takes every event, else `n` read. */
  partCounts(n: number): { rejects: RejectRecord[]; read: number; skipped: Record<string, number> } {
    return n === this.id.length ? { rejects: this.rejects, read: this.read, skipped: this.skipped } : { rejects: [], read: n, skipped: {} };
  }

  /**
   * The columns of the chunk's first `n` events (all by default), in subject order (or as they came, with
   * `inInputOrder`), with the strings added to the dictionary meanwhile. The rest stays, for the next call (the
   * dictionary does not start afresh for it). The part that takes the last event takes the rejects, the skips and
   * the rest of the count of inputs read; a part before it counts only its `n` events as read (partCounts): a run
   * stopped at a commit between them reports no input it dropped.
   */
  finish(n = this.id.length, inInputOrder = false): EventColumns {
    const order = inInputOrder
      ? null
      : subjectOrder(
          n === this.key.length ? this.key : this.key.slice(0, n),
          n === this.subject.length ? this.subject : this.subject.slice(0, n),
        );
    const at = order === null ? (j: number) => j : (j: number) => order[j]!;
    const id = new Array<string>(n),
      data = new Array<string>(n);
    const source = new Int32Array(n),
      type = new Int32Array(n),
      subject = new Int32Array(n);
    const key = new Float64Array(n),
      timeMs = new Float64Array(n),
      timeMissing = new Uint8Array(n);
    const fingerprint = this.fingerprint.length === this.id.length && n > 0 ? new Float64Array(n) : null;
    const position = order === null ? null : new Uint32Array(n);
    for (let j = 0; j < n; j++) {
      const i = at(j);
      if (position) position[i] = j;
      id[j] = this.id[i]!;
      data[j] = this.data[i] ?? '';
      source[j] = this.source[i]!;
      type[j] = this.type[i]!;
      subject[j] = this.subject[i]!;
      key[j] = this.key[i]!;
      if (fingerprint) fingerprint[j] = this.fingerprint[i]!;
      timeMs[j] = this.timeMs[i]!;
      timeMissing[j] = this.timeMissing[i]!;
    }
    const unusable: Array<[number, number[]]> = [];
    const rest: Array<[number, number[]]> = [];
    for (const [i, m] of this.unusable) {
      if (i < n) unusable.push([position ? position[i]! : i, m]);
      else rest.push([i - n, m]);
    }
    this.unusable = rest;
    const all = n === this.id.length;
    for (const column of [
      this.id,
      this.data,
      this.source,
      this.type,
      this.subject,
      this.key,
      this.fingerprint,
      this.timeMs,
      this.timeMissing,
    ]) {
      if (all) column.length = 0;
      else column.splice(0, n);
    }
    if (all) {
      this.rejects = [];
      this.read = 0;
      this.skipped = {};
    } else this.read -= n;
    return {
      id: id.join(SEPARATOR),
      data: data.join(SEPARATOR),
      length: n,
      source,
      type,
      subject,
      key,
      fingerprint,
      timeMs,
      timeMissing,
      unusable,
      strings: this.enc.take(),
    };
  }
}

/** The columns of a run of events (as the parse worker builds them event by event), in subject order or as they came. */
export function toColumns(events: UsageEvent[], enc: StringEncoder, inInputOrder = false): EventColumns {
  const b = new ChunkBuilder(enc);
  for (const e of events) b.add(e);
  return b.finish(events.length, inInputOrder);
}

/** The buffers of a chunk that can be moved rather than copied to the writer. */
export function transferList(c: EventColumns): ArrayBuffer[] {
  return [c.source, c.type, c.subject, c.key, c.fingerprint, c.timeMs, c.timeMissing].flatMap((a) => (a ? [a.buffer as ArrayBuffer] : []));
}

export function fromColumns(c: EventColumns, dec: StringDecoder): UsageEvent[] {
  dec.update(c.strings);
  const n = c.length;
  const ids = n === 0 ? [] : c.id.split(SEPARATOR);
  const data = n === 0 ? [] : c.data.split(SEPARATOR);
  const events = new Array<UsageEvent>(n);
  for (let i = 0; i < n; i++) {
    events[i] = {
      id: ids[i]!,
      source: dec.decode(c.source[i]!),
      type: dec.decode(c.type[i]!),
      subject: dec.decode(c.subject[i]!),
      timeMs: c.timeMs[i]!,
      timeMissing: c.timeMissing[i] === 1,
      data: data[i] || null,
      fingerprint: c.fingerprint ? c.fingerprint[i]! : undefined,
      key: c.key[i]!,
    };
  }
  for (const [i, meters] of c.unusable) events[i]!.unusable = meters;
  return events;
}
