/**
 * Mappings: how one raw log record (an OpenAI response, a gateway's log line) becomes a CloudEvent. A mapping has
 * a rule for each attribute (`id`, `time`, `subject`, `source`, `type`) and for each `data` field: a list of JSON
 * paths into the record (the first present, non-null one wins) or a literal. The built-in maps (core/maps) are
 * compiled from the same specs as a mapping file (mapping-spec.ts), so there is one mechanism. Pure: no I/O.
 *
 * The event is built as text as well as a value, and numbers in that text are exact: a number is cut from the
 * record's own text and written in canonical form (never through a double), unless its literal is known to be an
 * integer (see Literals), when a safe integer prints as JS prints it.
 */
import { canonicalNumber } from './decimal.js';
import { setMember, valueTextAt } from './json.js';
import { ownMember } from './meter.js';
import type { Mapping, Path, Rule, TimeFormat } from './mapping-spec.js';
import { type PathTree, pathTree, readPaths } from './path-tree.js';

/**
 * What is known of a record's number literals on a mapping's paths: those not written as integers, by path
 * (readPaths), so that a safe integer not in it is its own literal (the literal of any other number not in it is
 * looked up in the text); or null when nothing is known, and every number's literal is looked up.
 */
export type Literals = ReadonlyMap<string, string> | null;
import { formatRfc3339, MAX_INSTANT_MS, MIN_INSTANT_MS, parseRfc3339 } from './time.js';

/** The path at which `lookup` found its value (a variable, not a result object: this runs for every field). */
let foundPath: Path | null = null;

/**
 * A rule's value in the record: the first present, non-null path (null is absent: APIs send `"user": null`);
 * undefined when none. The path is left in foundPath.
 */
export function lookup(rule: Rule, record: unknown): unknown {
  for (const path of rule.paths) {
    let v: unknown = record;
    for (const step of path.steps) {
      if (v === null || typeof v !== 'object' || (typeof step === 'number') !== Array.isArray(v)) {
        v = undefined;
        break;
      }
      v = ownMember(v, step);
    }
    // An empty attribute is no attribute (LiteLLM logs `"end_user": ""`): the next path is tried.
    if (v !== undefined && v !== null && (v !== '' || rule.name.startsWith('data.'))) {
      foundPath = path;
      return v;
    }
  }
  return undefined;
}

function describe(v: unknown, literal: () => string | undefined): string {
  if (typeof v === 'string') return `a string (${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '...' : v)})`;
  if (typeof v === 'number') {
    const full = literal() ?? String(v);
    const text = full.length > 40 ? full.slice(0, 40) + '...' : full;
    return Number.isInteger(v) && !Number.isSafeInteger(v) ? `${text}, over 2^53-1 (not a safe integer)` : text;
  }
  return Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/** A field's value: [JSON text, value], undefined to leave it out, or a problem. */
export type FieldValue = [string, unknown] | undefined | { problem: string };

/** Whether canonical decimal text is a count: a whole number from 0 to 2^53-1. */
function isCountText(c: string): boolean {
  if (c.length > 16 || c.charCodeAt(0) === 45 || c.includes('.')) return false;
  return c.length < 16 || c <= '9007199254740991';
}

/** Evaluates one rule against the record (`text` is the record's JSON text, and `literals` what is known of them). */
export function evaluateRule(rule: Rule, record: unknown, text: string, literals: Literals): FieldValue {
  if (rule.literal !== undefined) return rule.literal;
  const v = lookup(rule, record);
  if (v === undefined) {
    if (rule.fallback !== undefined) return rule.fallback;
    return rule.required ? { problem: `${rule.name}: missing (${rule.paths.map((p) => p.text).join(', ')})` } : undefined;
  }
  // The usual cases first, without a closure: this runs for every field of every record.
  if (typeof v === 'string' && (rule.as === 'string' || rule.as === 'any')) {
    // A required text that is empty names nothing (a model "" matches no price): it is as good as missing.
    if (v === '' && rule.required && rule.as === 'string') return { problem: `${rule.name}: empty (${foundPath!.text})` };
    return [JSON.stringify(v), v];
  }
  const path = foundPath!;
  if (
    typeof v === 'number' &&
    Number.isSafeInteger(v) &&
    literals !== null &&
    (v >= 0 || rule.as !== 'count') &&
    rule.as !== 'string' &&
    rule.as !== 'boolean' &&
    (literals.size === 0 || !literals.has(path.key))
  )
    return [String(v), v];
  const literal = () => literals?.get(path.key) ?? valueTextAt(text, path.steps);
  const bad = (what: string) => ({ problem: `${rule.name}: ${path.text} must be ${what}, got ${describe(v, literal)}` });
  if (typeof v === 'number') {
    if (rule.as === 'string') return bad('a string');
    if (rule.as === 'boolean') return bad('true or false');
    // The literal decides, not the double (10 for 10.0000000000000001, 0 for 1e-400): a count is a whole number as
    // written, and a number keeps every digit, in canonical form (`1e2` is 100) as plain ingest writes it.
    const lit = literal();
    if (lit === undefined) return bad('a number');
    const c = canonicalNumber(lit);
    if (rule.as === 'count') return c !== null && isCountText(c) ? [c, v] : bad('a non-negative whole number');
    // A number too long to keep exactly is left as written: the event's validation refuses it and says why.
    return [c ?? lit, v];
  }
  switch (rule.as) {
    case 'count':
      return bad('a non-negative whole number');
    case 'number':
      if (typeof v === 'string') {
        const c = canonicalNumber(v);
        return c === null ? bad('a number') : [c, Number(c)];
      }
      return bad('a number');
    case 'string':
      return bad('a string');
    case 'boolean':
      return typeof v === 'boolean' ? [String(v), v] : bad('true or false');
    default:
      if (typeof v === 'object') {
        const lit = literal();
        return lit === undefined ? bad('a value') : [lit, v];
      }
      return [JSON.stringify(v), v];
  }
}

/** An attribute's string: a string, or a safe integer as its decimal text (numeric ids and customer numbers). */
function attribute(rule: Rule, record: unknown, text: string, literals: Literals): string | { problem: string } | undefined {
  // The usual cases first, without making a JSON text that is not used: a literal, or a string found as it is.
  if (typeof rule.value === 'string') return rule.value;
  if (rule.value === undefined && rule.as === 'any') {
    const v = lookup(rule, record);
    if (typeof v === 'string') return v;
  }
  const r = evaluateRule(rule, record, text, literals);
  if (r === undefined || !Array.isArray(r)) return r;
  const v = r[1];
  if (typeof v === 'string') return v;
  // A whole number as written: 10.0000000000000001 is not the customer number 10.
  if (Number.isSafeInteger(v) && r[0] === String(v)) return r[0];
  return { problem: `${rule.name}: must be a string, got ${describe(v, () => r[0])}` };
}

/** Epoch milliseconds of a numeric time literal in seconds (scale 3) or milliseconds (scale 0); sub-ms truncated. */
function epochMs(canonical: string, scale: number): number {
  const [int, frac = ''] = canonical.replace('-', '').split('.');
  const ms = Number(int) * 10 ** scale + (scale > 0 ? Number((frac + '000').slice(0, scale)) : 0);
  return canonical.startsWith('-') ? -ms - (frac.length > scale ? 1 : 0) : ms;
}

/**
 * The event time from a time rule: an RFC 3339 string as given, or epoch milliseconds (formatted only where the
 * event's text is built: ingest needs the number); undefined when absent and not required.
 */
function eventTime(
  rule: Rule & { format: TimeFormat },
  record: unknown,
  text: string,
  literals: Literals,
): string | { ms: number } | { problem: string } | undefined {
  const r = evaluateRule(rule, record, text, literals);
  if (r === undefined || !Array.isArray(r)) return r;
  const [lit, v] = r;
  if (rule.format !== 'rfc3339' && typeof v === 'number' && Number.isSafeInteger(v) && lit === String(v)) {
    // The usual case (`created`: whole seconds), without the decimal text: exact, as the product stays below 2^53.
    // + 0: -0 is 0, as it is once printed as RFC 3339.
    const ms = (rule.format === 'unix' ? v * 1000 : v) + 0;
    if (ms >= MIN_INSTANT_MS && ms <= MAX_INSTANT_MS) return { ms };
  }
  const expected =
    rule.format === 'rfc3339' ? 'an RFC 3339 string' : `a number of ${rule.format === 'unix' ? 'seconds' : 'milliseconds'} since 1970`;
  let reason: string | undefined;
  if (typeof v === 'string') {
    // An RFC 3339 string is taken whatever the format: it cannot be mistaken for anything else.
    const t = parseRfc3339(v);
    if (t.ok) return v;
    // Under a numeric format, a string that starts as a date was meant as one: why it is no RFC 3339 time says more
    // than "not a number".
    if (rule.format === 'rfc3339' || /^[+-]?\d{4,}-/.test(v)) reason = `${JSON.stringify(v.slice(0, 64))} ${t.reason}`;
  }
  const canonical =
    rule.format === 'rfc3339' ? null : typeof v === 'number' ? canonicalNumber(lit) : typeof v === 'string' ? canonicalNumber(v) : null;
  if (canonical === null) {
    if (reason !== undefined) return { problem: `time: ${reason}` };
    return { problem: `time: must be ${expected}, got ${describe(v, () => lit)}` };
  }
  // A number whose whole part is long is out of range anyway; its text is not worth converting (or printing in
  // full). Its fraction may be as long as it likes: it is cut to the millisecond.
  const point = canonical.indexOf('.');
  const ms = (point < 0 ? canonical.length : point) > 20 ? NaN : epochMs(canonical, rule.format === 'unix' ? 3 : 0);
  if (!(ms >= MIN_INSTANT_MS && ms <= MAX_INSTANT_MS))
    return { problem: `time: ${lit.slice(0, 40)} is out of range as ${expected} (years 0000-9999)` };
  return { ms };
}

/** What a mapping makes of one record before it is an event. */
export interface MappedFields {
  id: string;
  source: string;
  type: string;
  subject: string;
  /** The time as RFC 3339 text: as the record gave it, or (applyMapping) formatted from timeMs. */
  time?: string;
  /** The time of a numeric time field, in epoch milliseconds. */
  timeMs?: number;
  /** Data fields in order: [key, JSON text, value, the key's canonical JSON text and colon when it has one]. */
  data: Array<[string, string, unknown, string?]>;
}

/**
 * Applies a mapping to one parsed record (`text` is its JSON text, `literals` what readRecordText found of it);
 * every problem is listed.
 */
export function applyMapping(m: Mapping, record: unknown, text: string, literals: Literals = null): MappedFields | { problems: string[] } {
  const f = mapFields(m, record, text, literals);
  if (!('problems' in f) && f.time === undefined && f.timeMs !== undefined) f.time = formatRfc3339(f.timeMs);
  return f;
}

/** applyMapping, but a numeric time stays a number (timeMs) and has no text. */
export function mapFields(m: Mapping, record: unknown, text: string, literals: Literals = null): MappedFields | { problems: string[] } {
  if (record === null || typeof record !== 'object' || Array.isArray(record)) {
    return { problems: [`record must be a JSON object, got ${describe(record, () => undefined)}`] };
  }
  const problems: string[] = [];
  const str = (rule: Rule): string => {
    const r = attribute(rule, record, text, literals);
    if (typeof r === 'string') return r;
    if (r !== undefined) problems.push(r.problem);
    return '';
  };
  const id = str(m.id),
    source = str(m.source),
    type = str(m.type);
  let subject = str(m.subject);
  if (m.subject.pattern !== null && subject !== '') {
    const match = m.subject.pattern.exec(subject);
    if (match === null || match[1] === undefined) {
      problems.push(`subject: ${JSON.stringify(subject.slice(0, 64))} does not match the subject pattern /${m.subject.pattern.source}/`);
    }
    subject = match?.[1] ?? '';
  }
  let time: string | undefined;
  let timeMs: number | undefined;
  if (m.time !== null) {
    const t = eventTime(m.time, record, text, literals);
    if (typeof t === 'string') time = t;
    else if (t !== undefined) {
      if ('ms' in t) timeMs = t.ms;
      else problems.push(t.problem);
    }
  }
  const data: Array<[string, string, unknown, string?]> = [];
  for (const rule of m.data) {
    const r = evaluateRule(rule, record, text, literals);
    if (r === undefined) continue;
    if (Array.isArray(r)) data.push([rule.key!, r[0], r[1], rule.keyText]);
    else problems.push(r.problem);
  }
  if (problems.length > 0) return { problems };
  if (time !== undefined) return { id, source, type, subject, time, data };
  return timeMs === undefined ? { id, source, type, subject, data } : { id, source, type, subject, timeMs, data };
}

/** The CloudEvent of mapped fields, as a value and as the text validateCloudEvent reads its exact data from. */
export function buildEvent(f: MappedFields): { value: Record<string, unknown>; text: string } {
  const data: Record<string, unknown> = {};
  let dataText = '';
  for (const [key, text, value, keyText] of f.data) {
    setMember(data, key, value);
    dataText += (dataText === '' ? '' : ',') + (keyText ?? JSON.stringify(key) + ':') + text;
  }
  const value: Record<string, unknown> = { specversion: '1.0', id: f.id, source: f.source, type: f.type, subject: f.subject };
  let text = `{"specversion":"1.0","id":${JSON.stringify(f.id)},"source":${JSON.stringify(f.source)},"type":${JSON.stringify(f.type)},"subject":${JSON.stringify(f.subject)}`;
  const time = f.time ?? (f.timeMs === undefined ? undefined : formatRfc3339(f.timeMs));
  if (time !== undefined) {
    value.time = time;
    text += `,"time":${JSON.stringify(time)}`;
  }
  value.data = data;
  text += `,"data":{${dataText}}}`;
  return { value, text };
}

/** What a mapper makes of one record: an event to validate, a skip (no usage to bill) with its reason, or a reject. */
export type MapOutcome =
  | { kind: 'event'; value: Record<string, unknown>; text: string }
  | { kind: 'skip'; reason: string }
  | { kind: 'reject'; error: string };

/** An event's attributes and canonical data text, as a mapper's fast path makes them: valid as they are. */
export interface CanonicalEvent {
  id: string;
  source: string;
  type: string;
  subject: string;
  timeMs: number;
  data: string;
}

/**
 * What a mapper's fast path makes of a record's text: an outcome, mapped fields that still need their event, or an
 * event ready to take (see canonicalEvent, core/event.ts).
 */
export type TextOutcome = MapOutcome | { kind: 'fields'; fields: MappedFields } | { kind: 'canonical'; event: CanonicalEvent };

/** Turns records into events; `finish` tells what is only known at the end: streams that never got their usage. */
export interface RecordMapper {
  map(record: unknown, text: string): MapOutcome;
  /**
   * The same answer as `map` on JSON.parse(text), reading only what the mapping needs (see sparse-json.ts); null
   * where that reader gives up (then `map` is used). Events come as fields: see mappedEvent (core/event.ts).
   */
  mapText?(text: string): TextOutcome | null;
  finish(): { unbilledStreams: number };
}

/** The paths a mapping's rules read, as steps. */
export function mappingPaths(m: Mapping): Array<ReadonlyArray<string | number>> {
  const rules = [m.id, m.subject, m.source, m.type, ...m.data];
  if (m.time !== null) rules.push(m.time);
  return rules.flatMap((r) => r.paths.map((p) => p.steps));
}

/**
 * A record's text read along a mapping's paths (`tree`, see readPaths): a problem when it gives a member on them
 * twice (JSON.parse would keep the last; plain ingest keeps the first of a data key and refuses a second subject: a
 * mapping does not choose), else the literals to map it with.
 */
export function readRecordText(text: string, tree: PathTree): { problem: string } | ReadonlyMap<string, string> {
  const facts = readPaths(text, tree);
  if (facts.duplicate === null) return facts.literals;
  return { problem: `${facts.duplicate}: given twice in the record (which one is meant is not a guess to make)` };
}

/**
 * What a mapping's literals make impossible for every record (an attribute that is empty, holds U+0000 or a lone
 * surrogate; a time that is no time): a mapping file with such a literal is refused at start, never record by record.
 */
export function literalProblems(m: Mapping): string[] {
  const problems: string[] = [];
  // A default is what every record without the path gets: checked as a literal is (on a record with nothing).
  const given = (rule: Rule) => rule.value !== undefined || rule.fallback !== undefined;
  for (const rule of [m.id, m.subject, m.source, m.type]) {
    if (!given(rule)) continue;
    const what = rule.value !== undefined ? 'the literal' : 'the default';
    const r = attribute(rule, {}, '{}', null);
    if (r === undefined) continue;
    if (typeof r !== 'string') problems.push(rule.value !== undefined ? r.problem : `${r.problem} (${what})`);
    else if (r === '') problems.push(`${rule.name}: ${what} is empty`);
    else if (rule === m.subject && m.subject.pattern !== null && !m.subject.pattern.exec(r)?.[1])
      problems.push(
        `subject: ${what} ${JSON.stringify(r.slice(0, 64))} does not match the subject pattern /${m.subject.pattern.source}/ with a non-empty capture`,
      );
    else if (r.includes('\u0000')) problems.push(`${rule.name}: ${what} holds U+0000`);
    else if (!r.isWellFormed()) problems.push(`${rule.name}: ${what} holds a lone surrogate`);
  }
  // A required text field is refused empty: a literal or default that is empty would give it to every record.
  for (const rule of m.data)
    if (rule.required && rule.as === 'string' && (rule.value === '' || rule.default === ''))
      problems.push(`${rule.name}: ${rule.value === '' ? 'the literal' : 'the default'} is empty, and the field is required`);
  if (m.time !== null && given(m.time)) {
    const t = eventTime(m.time, {}, '{}', null);
    if (typeof t === 'object' && 'problem' in t) problems.push(m.time.value !== undefined ? t.problem : `${t.problem} (the default)`);
  }
  return problems;
}

/** The mapper of a mapping file: every record is mapped; nothing is skipped. */
export function mappingMapper(m: Mapping): RecordMapper {
  const tree = pathTree(mappingPaths(m));
  return {
    map(record, text) {
      const literals = readRecordText(text, tree);
      if ('problem' in literals) return { kind: 'reject', error: literals.problem };
      const f = applyMapping(m, record, text, literals);
      if ('problems' in f) return { kind: 'reject', error: f.problems.join('; ') };
      return { kind: 'event', ...buildEvent(f) };
    },
    finish: () => ({ unbilledStreams: 0 }),
  };
}
