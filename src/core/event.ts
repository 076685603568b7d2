/**
 * CloudEvents 1.0 usage events: parsing and validation, free of I/O. Validation collects every problem of an event
 * and names the field, so one reject line tells the producer everything that is wrong.
 */
import { hash53Parts } from './hash.js';
import { MAX_INPUT_DEPTH, readEventText, scanValue, setMember } from './json.js';
import type { MappedFields } from './mapping.js';
import { MAX_INSTANT_MS, MIN_INSTANT_MS, parseRfc3339, parseRfc3339Fast } from './time.js';

/** A validated event as stored: one row per (source, id). */
export interface UsageEvent {
  id: string;
  source: string;
  type: string;
  subject: string;
  /** Event time in epoch milliseconds (ingestion time when the event had none). */
  timeMs: number;
  /** True when the event had no `time` and timeMs is the ingestion time. */
  timeMissing: boolean;
  /** `data` in canonical form (see core/json.ts), or null when absent or null. */
  data: string | null;
  /** The parsed `data` object (null when absent), for meter checks at ingest; dropped once checked. */
  dataValue?: Record<string, unknown> | null;
  /**
   * Fingerprint of the content (type, subject, time, data): copies with another fingerprint are conflicts. Not
   * computed when EventRules.fingerprints is false (see fingerprintOf).
   */
  fingerprint?: number;
  /** Dedupe key: a 53-bit hash of (source, id). Equal (source, id) give equal keys; stores compare the text on a match. */
  key: number;
  /** Indexes of the meters (of the run's config) that cannot use this event's value. */
  unusable?: number[];
}

export type EventParse = { ok: true; event: UsageEvent } | { ok: false; error: string };

/** Options of event validation. */
export interface EventRules {
  /** Reject events without `time` instead of stamping them with `nowMs`. */
  requireTime: boolean;
  /** The ingestion time given to events without `time`. */
  nowMs: number;
  /** Compute each event's fingerprint (default true): a store that compares content itself does not need it. */
  fingerprints?: boolean;
}

/**
 * Deepest `data` nesting accepted (the data object being the first level); other attributes get as deep. SQLite's
 * JSON functions stop at 1000 levels, and no meter needs more.
 */
export const MAX_DATA_DEPTH = 128;

/** Why a text nested past what any input may hold (nestsTooDeep) is refused, in ingest and in serve. */
export const TOO_DEEP = `nested deeper than ${MAX_INPUT_DEPTH} levels (an event may nest ${MAX_DATA_DEPTH})`;

/** The longest canonical `data` text (numbers in exponent form grow when written out). */
export const MAX_DATA_TEXT = 4 * 1024 * 1024;

const REQUIRED_STRINGS = ['id', 'source', 'type', 'subject'] as const;

function skipSpaceAt(t: string): number {
  let i = 0;
  while (i < t.length && ' \t\r\n'.includes(t[i]!)) i++;
  return i;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? 'a string' : `a ${typeof value}`;
}

/** The dedupe key of (source, id). */
export function eventKey(source: string, id: string): number {
  return hash53Parts(source, id);
}

/** An event's fingerprint: the one computed at validation, or computed now. */
export function fingerprintOf(e: UsageEvent): number {
  return e.fingerprint ?? contentFingerprint(e.type, e.subject, e.timeMissing ? null : e.timeMs, e.data);
}

/** The fingerprint of an event's content; equal content gives an equal fingerprint. */
export function contentFingerprint(type: string, subject: string, time: number | null, data: string | null): number {
  return hash53Parts(type, subject, time === null ? '' : String(time), data ?? '');
}

/**
 * Validates one parsed JSON value as a CloudEvent. `raw` is the text it was parsed from: `data` is made canonical
 * from it (every digit as written), and it is checked for what JSON.parse does not tell (nesting depth, lone
 * surrogates, an attribute given twice). Without it, the value's JSON.stringify text stands in.
 */
export function validateCloudEvent(value: unknown, rules: EventRules, raw?: string): EventParse {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    // A hostile array says how deep it is too (the scan is iterative, and only long texts can be deep).
    const deep =
      raw !== undefined &&
      raw.length > MAX_DATA_DEPTH &&
      scanValue(raw, skipSpaceAt(raw), false, 0, MAX_DATA_DEPTH + 1).error?.startsWith('nested');
    return {
      ok: false,
      error: `event must be a JSON object, got ${describe(value)}${deep ? ` nested deeper than ${MAX_DATA_DEPTH + 1} levels` : ''}`,
    };
  }
  if (raw === undefined) {
    try {
      raw = JSON.stringify(value);
    } catch {
      return { ok: false, error: `nested deeper than ${MAX_DATA_DEPTH} levels` };
    }
  }
  const text = readEventText(raw, MAX_DATA_DEPTH + 1, MAX_DATA_TEXT);
  const ev = value as Record<string, unknown>;
  if (text.error === null) {
    const fast = validFast(ev, rules, text.data, text.dataDuplicates);
    if (fast !== null) return fast;
  }
  const problems: string[] = [];
  if (text.error !== null) problems.push(text.error);

  if (ev.specversion === undefined) problems.push('specversion: missing (must be "1.0")');
  else if (ev.specversion !== '1.0') problems.push(`specversion: must be "1.0", got ${JSON.stringify(ev.specversion)}`);

  for (const field of REQUIRED_STRINGS) {
    const v = ev[field];
    if (v === undefined) problems.push(`${field}: missing`);
    else if (typeof v !== 'string') problems.push(`${field}: must be a string, got ${describe(v)}`);
    else if (v.length === 0) problems.push(`${field}: empty`);
    // CloudEvents strings exclude control characters; NUL also hides in tools (C strings, SQLite's text functions),
    // so "acme\u0000" would bill as a customer that looks like "acme".
    else if (v.includes('\u0000')) problems.push(`${field}: contains a NUL character (U+0000), not allowed in CloudEvents strings`);
  }

  let timeMs = rules.nowMs;
  let timeMissing = false;
  if (ev.time === undefined || ev.time === null) {
    timeMissing = true;
    if (rules.requireTime) problems.push('time: missing (--require-time)');
  } else if (typeof ev.time !== 'string') {
    problems.push(`time: must be an RFC 3339 string, got ${describe(ev.time)}`);
  } else {
    const t = parseRfc3339(ev.time);
    if (t.ok) timeMs = t.ms;
    else problems.push(`time: ${JSON.stringify(ev.time.length > 64 ? ev.time.slice(0, 64) + '...' : ev.time)} ${t.reason}`);
  }

  const ct = ev.datacontenttype;
  if (ct !== undefined && ct !== null) {
    if (typeof ct !== 'string' || !/^application\/json\s*(;.*)?$/i.test(ct)) {
      problems.push(`datacontenttype: must be application/json, got ${JSON.stringify(ct)}`);
    }
  }
  if (ev.data_base64 !== undefined) problems.push('data_base64: binary data is not supported (send data as a JSON object)');

  let data: string | null = null;
  let dataValue: Record<string, unknown> | null = null;
  const d = ev.data;
  if (d !== undefined && d !== null) {
    if (typeof d !== 'object' || Array.isArray(d)) {
      problems.push(`data: must be a JSON object, got ${describe(d)}`);
    } else if (text.error === null) {
      data = text.data!;
      dataValue = text.dataDuplicates ? (JSON.parse(data) as Record<string, unknown>) : (d as Record<string, unknown>);
    }
  }

  if (problems.length > 0) return { ok: false, error: problems.join('; ') };
  const type = ev.type as string,
    subject = ev.subject as string;
  return {
    ok: true,
    event: {
      id: ev.id as string,
      source: ev.source as string,
      type,
      subject,
      timeMs,
      timeMissing,
      data,
      dataValue,
      fingerprint: rules.fingerprints === false ? undefined : contentFingerprint(type, subject, timeMissing ? null : timeMs, data),
      key: eventKey(ev.source as string, ev.id as string),
    },
  };
}

/**
 * The hot path of ingest: an event with every field right is accepted with a handful of checks and no
 * allocation beyond the result. Anything unusual returns null, and validateCloudEvent then collects every problem.
 */
function validFast(
  ev: Record<string, unknown>,
  rules: EventRules,
  canonicalData: string | undefined,
  duplicates: boolean,
): EventParse | null {
  const { specversion, id, source, type, subject, time, datacontenttype, data_base64, data: d } = ev;
  if (
    specversion !== '1.0' ||
    typeof id !== 'string' ||
    typeof source !== 'string' ||
    typeof type !== 'string' ||
    typeof subject !== 'string' ||
    id.length === 0 ||
    source.length === 0 ||
    type.length === 0 ||
    subject.length === 0 ||
    typeof time !== 'string' ||
    data_base64 !== undefined ||
    (datacontenttype !== undefined && datacontenttype !== null && datacontenttype !== 'application/json') ||
    id.includes('\u0000') ||
    source.includes('\u0000') ||
    type.includes('\u0000') ||
    subject.includes('\u0000')
  ) {
    return null;
  }
  const timeMs = parseRfc3339Fast(time);
  if (Number.isNaN(timeMs) || timeMs < MIN_INSTANT_MS || timeMs > MAX_INSTANT_MS) return null;
  let data: string | null = null;
  let dataValue: Record<string, unknown> | null = null;
  if (d !== undefined && d !== null) {
    if (typeof d !== 'object' || Array.isArray(d)) return null;
    data = canonicalData!;
    // JSON.parse keeps the last of duplicate keys, the canonical data the first: meters are checked on the latter.
    dataValue = duplicates ? (JSON.parse(data) as Record<string, unknown>) : (d as Record<string, unknown>);
  }
  return { ok: true, event: usageEvent(id, source, type, subject, timeMs, data, dataValue, rules) };
}

/** A valid event's stored form: its parts, its dedupe key and (when the store wants one) its content fingerprint. */
function usageEvent(
  id: string,
  source: string,
  type: string,
  subject: string,
  timeMs: number,
  data: string | null,
  dataValue: Record<string, unknown> | null,
  rules: EventRules,
): UsageEvent {
  return {
    id,
    source,
    type,
    subject,
    timeMs,
    timeMissing: false,
    data,
    dataValue,
    fingerprint: rules.fingerprints === false ? undefined : contentFingerprint(type, subject, timeMs, data),
    key: eventKey(source, id),
  };
}

/** Parses the JSON text of one event and validates it. */
export function parseCloudEvent(text: string, rules: EventRules): EventParse {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: `invalid JSON: ${(e as Error).message}` };
  }
  return validateCloudEvent(value, rules, text);
}

/** An attribute a mapping made is taken as it is when validFast would take it and its text needs no look. */
export function plainAttribute(s: string): boolean {
  return s.length > 0 && !s.includes('\u0000') && s.isWellFormed();
}

/**
 * The event of a mapping's fields (core/mapping.ts), without building its text and reading it again, when that
 * text would be canonical and valid as built: attributes validFast takes (and without lone surrogates, which
 * readEventText refuses), a time in epoch milliseconds, and data of safe integers, booleans and well-formed
 * strings, whose texts (String(n), JSON.stringify(s), as evaluateRule makes them) are their canonical forms, under
 * keys with a canonical text (keyText). The
 * event equals what validateCloudEvent makes of buildEvent's text. Otherwise null: build that text and validate it,
 * which explains any problem. `dataValue`: whether the parsed data is wanted (meters to check).
 */
export function mappedEvent(f: MappedFields, rules: EventRules, dataValue: boolean): UsageEvent | null {
  const { id, source, type, subject, timeMs } = f;
  if (timeMs === undefined || f.time !== undefined) return null;
  if (!(timeMs >= MIN_INSTANT_MS && timeMs <= MAX_INSTANT_MS)) return null;
  if (!plainAttribute(id) || !plainAttribute(source) || !plainAttribute(type) || !plainAttribute(subject)) return null;
  // The text is joined once, not concatenated: a chunk holds thousands of these, and a concatenation is a tree of
  // small strings for the garbage collector to copy until the chunk is posted.
  const parts = new Array<string>(f.data.length);
  const value: Record<string, unknown> | null = dataValue ? {} : null;
  for (let k = 0; k < f.data.length; k++) {
    const [key, text, v, keyText] = f.data[k]!;
    if (keyText === undefined) return null;
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v) || text !== String(v)) return null;
    } else if (typeof v === 'string') {
      if (!v.isWellFormed()) return null;
    } else if (typeof v !== 'boolean') return null;
    parts[k] = keyText + text;
    if (value !== null) setMember(value, key, v);
  }
  if (parts.length === 0) parts.push('{}');
  else {
    parts[0] = '{' + parts[0];
    parts[parts.length - 1] += '}';
  }
  const data = parts.join(',');
  if (data.length > MAX_DATA_TEXT) return null;
  return usageEvent(id, source, type, subject, timeMs, data, value, rules);
}

/**
 * The event of a mapper's canonical event (core/mapping.ts CanonicalEvent): attributes that plainAttribute takes,
 * a time in range, and data already in canonical form whose JSON.parse is the data a validation would keep.
 * `dataValue`: whether the parsed data is wanted (meters to check).
 */
export function canonicalEvent(
  c: { id: string; source: string; type: string; subject: string; timeMs: number; data: string },
  rules: EventRules,
  dataValue: boolean,
): UsageEvent {
  const { id, source, type, subject, timeMs, data } = c;
  return usageEvent(id, source, type, subject, timeMs, data, dataValue ? (JSON.parse(data) as Record<string, unknown>) : null, rules);
}
