/**
 * Turns input items into validated events and reject records. Runs in the parse worker; free of I/O. How the
 * events then travel to the writer thread is columns.ts.
 */
import { canonicalEvent, mappedEvent, TOO_DEEP, validateCloudEvent, type EventRules, type UsageEvent } from '../core/event.js';
import { arrayElements, nestsTooDeep } from '../core/json.js';
import { meterCanUse, type Meter } from '../core/meter.js';
import { buildEvent, type RecordMapper, type TextOutcome } from '../core/mapping.js';
import { clip, isProblem, type InputItem } from '../input/items.js';

/** One rejected input, as written to --rejects. */
export interface RejectRecord {
  file: string;
  line: number;
  /** Position in a JSON array, when the input was one. */
  index?: number;
  error: string;
  raw: string;
}

/** A chunk as the writer sees it: events to store (in subject order), rejects, and how many inputs were read. */
export interface ParsedChunk {
  events: UsageEvent[];
  rejects: RejectRecord[];
  read: number;
}

/** Where EventParser puts what it parses: accepted events, rejects, skips by reason, and how many inputs were read. */
export interface ParseSink {
  rejects: RejectRecord[];
  read: number;
  /** Records a mapping skipped (they carry no usage), by reason. */
  skipped: Record<string, number>;
  add(e: UsageEvent): void;
}

/**
 * A hint for a line that opens an object it does not close, or closes one it did not open, as the lines of an
 * object written over several lines in an NDJSON file do: such an object is read only in a file whose first line
 * holds `{` alone (input/split.ts); otherwise each line is an event. Braces in strings do not count.
 */
function splitObjectHint(text: string): string {
  const t = text.trim();
  if (t.startsWith('[')) return '';
  let balance = 0;
  let inString = false;
  for (let i = 0; i < t.length; i++) {
    const c = t[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') balance++;
    else if (c === '}') balance--;
  }
  if (balance === 0) return '';
  const what = balance > 0 ? 'opens an object it does not close' : 'closes an object it did not open';
  return ` (the line ${what}: one object per line; an object over several lines is read when the first line of the file is \`{\` alone)`;
}

export class EventParser {
  private readonly checked: Array<{ index: number; meter: Meter }>;
  constructor(
    private readonly rules: EventRules,
    meters: Meter[],
    /** With `--map`, each input record is first turned into a CloudEvent by this (here, in the worker). */
    private readonly mapper: RecordMapper | null = null,
  ) {
    this.checked = meters.map((meter, index) => ({ index, meter })).filter((m) => m.meter.valueProperty !== undefined);
  }

  private reject(out: ParseSink, file: string, line: number, index: number | null, error: string, raw: string): void {
    out.rejects.push(index === null ? { file, line, error, raw: clip(raw) } : { file, line, index, error, raw: clip(raw) });
  }

  /**
   * The fast path of a mapped record (RecordMapper.mapText): the record read from its text without building all of
   * it, and its event made without a second read (mappedEvent). False where the mapper's reader gives up: then the
   * record takes the generic path (JSON.parse, map, validate), which gives the same answer.
   */
  private mapText(out: ParseSink, file: string, line: number, index: number | null, text: string): boolean {
    let r: TextOutcome | null;
    try {
      r = this.mapper!.mapText!(text);
    } catch {
      // A defect of the fast path: the generic path maps the record (and reports a defect of its own).
      return false;
    }
    if (r === null) return false;
    if (r.kind === 'canonical') {
      out.read++;
      this.add(out, canonicalEvent(r.event, this.rules, this.checked.length > 0));
      return true;
    }
    if (r.kind === 'fields') {
      const e = mappedEvent(r.fields, this.rules, this.checked.length > 0);
      if (e === null) {
        const built = buildEvent(r.fields);
        this.accept(out, file, line, index, built.value, built.text, text);
      } else {
        out.read++;
        this.add(out, e);
      }
      return true;
    }
    this.mapped(out, file, line, index, r, text);
    return true;
  }

  /** Maps a raw record, then accepts its event; a skip or a mapping problem is counted here. */
  private mapAndAccept(out: ParseSink, file: string, line: number, index: number | null, value: unknown, text: string): void {
    let r: ReturnType<RecordMapper['map']>;
    try {
      r = this.mapper!.map(value, text);
    } catch (e) {
      r = { kind: 'reject', error: `could not be mapped (${(e as Error).message}); please report this as a bug of meter` };
    }
    this.mapped(out, file, line, index, r, text);
  }

  private mapped(out: ParseSink, file: string, line: number, index: number | null, r: ReturnType<RecordMapper['map']>, text: string): void {
    if (r.kind === 'event') {
      this.accept(out, file, line, index, r.value, r.text, text);
      return;
    }
    out.read++;
    if (r.kind === 'skip') out.skipped[r.reason] = (out.skipped[r.reason] ?? 0) + 1;
    else this.reject(out, file, line, index, r.error, text);
  }

  /** Validates one event; `raw` is what a reject shows (the input record, when the event was mapped from one). */
  private accept(out: ParseSink, file: string, line: number, index: number | null, value: unknown, text: string, raw = text): void {
    out.read++;
    let r: ReturnType<typeof validateCloudEvent>;
    try {
      r = validateCloudEvent(value, this.rules, text);
    } catch (e) {
      // Validation is iterative and bounded, so this is a defect of meter: the input is reported, the run goes on.
      r = { ok: false, error: `could not be read (${(e as Error).message}); please report this as a bug of meter` };
    }
    if (!r.ok) {
      this.reject(out, file, line, index, r.error, raw);
      return;
    }
    this.add(out, r.event);
  }

  /** Hands on a valid event, with the meters that cannot use its value. */
  private add(out: ParseSink, e: UsageEvent): void {
    for (const { index: i, meter } of this.checked) {
      if (meter.eventType === e.type && !meterCanUse(meter, e.dataValue)) (e.unusable ??= []).push(i);
    }
    out.add(e);
  }

  /** Parses items into `out`. */
  parse(file: string, items: InputItem[], out: ParseSink): void {
    for (const item of items) {
      if (isProblem(item)) {
        out.read++;
        this.reject(out, file, item.line, item.index, item.error, item.raw);
        continue;
      }
      if (nestsTooDeep(item.text)) {
        out.read++;
        this.reject(out, file, item.line, item.index, TOO_DEEP, item.text);
        continue;
      }
      if (this.mapper?.mapText !== undefined && this.mapText(out, file, item.line, item.index, item.text)) continue;
      let value: unknown;
      try {
        value = JSON.parse(item.text);
      } catch (e) {
        out.read++;
        this.reject(out, file, item.line, item.index, `invalid JSON: ${(e as Error).message}${splitObjectHint(item.text)}`, item.text);
        continue;
      }
      if (Array.isArray(value) && item.index === null) {
        // A line holding a JSON array of events (a whole batch on one line): each is validated with its own text,
        // which keeps every digit of its numbers.
        const texts = arrayElements(item.text);
        if (this.mapper) value.forEach((v, i) => this.mapAndAccept(out, file, item.line, i, v, texts[i]!));
        else value.forEach((v, i) => this.accept(out, file, item.line, i, v, texts[i]!));
      } else if (this.mapper) {
        this.mapAndAccept(out, file, item.line, item.index, value, item.text);
      } else {
        this.accept(out, file, item.line, item.index, value, item.text);
      }
    }
  }
}
