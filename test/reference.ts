/**
 * An independent reference model of `meter query`, written from /work/spec-canonical.md and the README only: no
 * SQL and no import from src/. It reads the raw event lines a test generated and computes the rows `meter query
 * --format ndjson` must print, so a differential test can hold both backends to it.
 *
 * What it reimplements on purpose (independence is the point):
 * - a small recursive JSON parser for bounded depth that keeps number literals as text and keeps the FIRST of
 *   duplicate keys (as SQLite's JSON functions read them, and as the spec's canonical form does);
 * - exact decimals on a BigInt mantissa and a scale;
 * - zone offsets through Intl.DateTimeFormat and transitions found by bisection, calendar windows from them.
 */

// ---------------------------------------------------------------------------------------------------------------
// JSON, lossless

export type JV =
  | { t: 'num'; text: string }
  | { t: 'str'; v: string }
  | { t: 'bool'; v: boolean }
  | { t: 'null' }
  | { t: 'arr'; items: JV[] }
  | { t: 'obj'; entries: Array<[string, JV]> };

/** Depth the reference parser accepts: generated events stay far below it. */
const MAX_DEPTH = 200;

/** Parses JSON text; numbers stay literal text, of duplicate keys the first is kept. Throws on invalid JSON. */
export function parseJson(text: string): JV {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const fail = (why: string): never => {
    throw new SyntaxError(`reference JSON: ${why} at ${i}: ${text.slice(Math.max(0, i - 20), i + 20)}`);
  };
  const str = (): string => {
    if (text[i] !== '"') fail('expected a string');
    i++;
    let out = '';
    for (;;) {
      if (i >= text.length) fail('unterminated string');
      const c = text[i]!;
      if (c === '"') {
        i++;
        return out;
      }
      if (c === '\\') {
        const e = text[i + 1];
        const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e !== undefined && e in simple) {
          out += simple[e];
          i += 2;
        } else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
          out += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16));
          i += 6;
        } else fail('bad escape');
      } else {
        if (c.charCodeAt(0) < 0x20) fail('control character in string');
        out += c;
        i++;
      }
    }
  };
  const value = (depth: number): JV => {
    if (depth > MAX_DEPTH) fail('too deep for the reference');
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const entries: Array<[string, JV]> = [];
      const seen = new Set<string>();
      ws();
      if (text[i] === '}') {
        i++;
        return { t: 'obj', entries };
      }
      for (;;) {
        ws();
        const k = str();
        ws();
        if (text[i] !== ':') fail('expected :');
        i++;
        const v = value(depth + 1);
        if (!seen.has(k)) {
          seen.add(k);
          entries.push([k, v]);
        }
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          return { t: 'obj', entries };
        } else fail('expected , or }');
      }
    }
    if (c === '[') {
      i++;
      const items: JV[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return { t: 'arr', items };
      }
      for (;;) {
        items.push(value(depth + 1));
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          return { t: 'arr', items };
        } else fail('expected , or ]');
      }
    }
    if (c === '"') return { t: 'str', v: str() };
    for (const [word, v] of [
      ['true', { t: 'bool', v: true }],
      ['false', { t: 'bool', v: false }],
      ['null', { t: 'null' }],
    ] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v as JV;
      }
    }
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 4096));
    if (m === null) fail('unexpected character');
    i += m![0].length;
    return { t: 'num', text: m![0] };
  };
  const v = value(1);
  ws();
  if (i !== text.length) fail('trailing text');
  return v;
}

export function member(v: JV | undefined, key: string): JV | undefined {
  if (v === undefined || v.t !== 'obj') return undefined;
  return v.entries.find(([k]) => k === key)?.[1];
}

/** The canonical JSON text of a value (spec: compact, first of duplicate keys, canonical numbers). */
export function canonicalJson(v: JV): string {
  switch (v.t) {
    case 'num':
      return Dec.parse(v.text)!.toString();
    case 'str':
      return JSON.stringify(v.v);
    case 'bool':
      return String(v.v);
    case 'null':
      return 'null';
    case 'arr':
      return '[' + v.items.map(canonicalJson).join(',') + ']';
    case 'obj':
      return '{' + v.entries.map(([k, x]) => JSON.stringify(k) + ':' + canonicalJson(x)).join(',') + '}';
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Exact decimals

const DEC_TEXT = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/** mantissa * 10^-scale, normalised (no trailing zeros in the mantissa when scale > 0; zero has scale 0). */
export class Dec {
  constructor(
    readonly m: bigint,
    readonly s: number,
  ) {}

  private static norm(m: bigint, s: number): Dec {
    if (m === 0n) return new Dec(0n, 0);
    while (s > 0 && m % 10n === 0n) {
      m /= 10n;
      s--;
    }
    return new Dec(m, s);
  }

  /** Length of the canonical text of decimal text, computed without building it (exponents may be huge). */
  static canonicalLength(text: string): number | null {
    const r = DEC_TEXT.exec(text);
    if (r === null || (r[2] === '' && (r[3] ?? '') === '')) return null;
    let digits = (r[2] ?? '') + (r[3] ?? '');
    let scale = (r[3] ?? '').length - (r[4] === undefined ? 0 : Number(r[4]));
    digits = digits.replace(/^0+/, '');
    if (digits === '') return 1;
    while (digits.endsWith('0')) {
      digits = digits.slice(0, -1);
      scale--;
    }
    const sign = r[1] === '-' ? 1 : 0;
    if (scale <= 0) return sign + digits.length - scale;
    return sign + Math.max(digits.length, scale + 1) + 1;
  }

  static parse(text: string): Dec | null {
    const r = DEC_TEXT.exec(text);
    if (r === null || (r[2] === '' && (r[3] ?? '') === '')) return null;
    const len = Dec.canonicalLength(text)!;
    if (len > 100_000) throw new RangeError(`reference: decimal too long to build: ${text.slice(0, 40)}`);
    const frac = r[3] ?? '';
    let m = BigInt((r[2] ?? '') + frac || '0');
    if (r[1] === '-') m = -m;
    let s = frac.length - (r[4] === undefined ? 0 : Number(r[4]));
    if (s < 0) {
      m *= 10n ** BigInt(-s);
      s = 0;
    }
    return Dec.norm(m, s);
  }

  add(o: Dec): Dec {
    const s = Math.max(this.s, o.s);
    return Dec.norm(this.m * 10n ** BigInt(s - this.s) + o.m * 10n ** BigInt(s - o.s), s);
  }

  cmp(o: Dec): number {
    const s = Math.max(this.s, o.s);
    const a = this.m * 10n ** BigInt(s - this.s),
      b = o.m * 10n ** BigInt(s - o.s);
    return a < b ? -1 : a > b ? 1 : 0;
  }

  /** this / n rounded half away from zero to `places` decimals. */
  divRound(n: number, places = 12): Dec {
    // this = m / 10^s; result mantissa q = round(m * 10^places / (n * 10^s)).
    let num = this.m * 10n ** BigInt(places);
    const den = BigInt(n) * 10n ** BigInt(this.s);
    const neg = num < 0n;
    if (neg) num = -num;
    let q = num / den;
    if ((num % den) * 2n >= den) q += 1n;
    return Dec.norm(neg ? -q : q, places);
  }

  toString(): string {
    const neg = this.m < 0n;
    let d = (neg ? -this.m : this.m).toString();
    if (this.s > 0) {
      d = d.padStart(this.s + 1, '0');
      d = d.slice(0, d.length - this.s) + '.' + d.slice(d.length - this.s);
    }
    return (neg ? '-' : '') + d;
  }
}

/** Numeric strings a meter uses (spec). */
const NUMERIC_STRING = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** The exact value a meter reads from a JSON value, or null when it is not usable (spec). */
export function usable(v: JV | undefined): Dec | null {
  let text: string;
  if (v?.t === 'num') text = v.text;
  else if (v?.t === 'str' && NUMERIC_STRING.test(v.v)) text = v.v;
  else return null;
  const len = Dec.canonicalLength(text);
  if (len === null || len > 1000) return null;
  return Dec.parse(text);
}

/** Group-by text of a value (spec): missing/null "", string value, canonical number, true/false, canonical JSON. */
export function groupText(v: JV | undefined): string {
  if (v === undefined || v.t === 'null') return '';
  if (v.t === 'str') return v.v;
  if (v.t === 'num') return Dec.parse(v.text)!.toString();
  if (v.t === 'bool') return String(v.v);
  return canonicalJson(v);
}

/** UNIQUE_COUNT key of a value (spec), or null when it does not count. */
function uniqueText(v: JV | undefined): string | null {
  if (v === undefined) return null;
  if (v.t === 'str') return v.v;
  if (v.t === 'num') return Dec.parse(v.text)!.toString();
  if (v.t === 'bool') return String(v.v);
  return null;
}

/** `$.a.b[0]` -> steps. */
export function pathSteps(path: string): Array<string | number> {
  const steps: Array<string | number> = [];
  const re = /\.([^.[\]]+)|\[(\d+)\]/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(path.slice(1))) !== null) steps.push(m[1] !== undefined ? m[1] : Number(m[2]));
  return steps;
}

export function atPath(data: JV | undefined, path: string): JV | undefined {
  let v = data;
  for (const step of pathSteps(path)) {
    if (v === undefined) return undefined;
    if (typeof step === 'number') v = v.t === 'arr' ? v.items[step] : undefined;
    else v = member(v, step);
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------------------
// Time and zones

const MINUTE = 60_000,
  HOUR = 3_600_000;

/** RFC 3339 with an offset -> epoch ms, fractions truncated to the millisecond; null when not valid. */
export function parseTime(text: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/.exec(text);
  if (m === null) return null;
  const [y, mo, d, h, mi, s] = [1, 2, 3, 4, 5, 6].map((k) => Number(m[k]));
  const dim = new Date(Date.UTC(2000, mo! - 1 + 1, 0)).getUTCDate();
  const feb = (y! % 4 === 0 && y! % 100 !== 0) || y! % 400 === 0 ? 29 : 28;
  if (mo! < 1 || mo! > 12 || d! < 1 || d! > (mo === 2 ? feb : dim) || h! > 23 || mi! > 59 || s! > 59) return null;
  const ms = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'));
  const off = m[8] === undefined ? 0 : (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10]));
  const date = new Date(Date.UTC(2000, mo! - 1, d!, h!, mi!, s!, ms));
  date.setUTCFullYear(y!);
  return date.getTime() - off * MINUTE;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const offsetCache = new Map<string, number>();

/** Offset of `zone` at instant `ms` in minutes east of UTC, from the platform's IANA data. */
export function offsetMinutes(zone: string, ms: number): number {
  if (zone === 'UTC') return 0;
  const sec = Math.floor(ms / 1000) * 1000;
  const key = zone + '|' + sec;
  const hit = offsetCache.get(key);
  if (hit !== undefined) return hit;
  let f = formatters.get(zone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    });
    formatters.set(zone, f);
  }
  const p: Record<string, string> = {};
  for (const part of f.formatToParts(new Date(sec))) p[part.type] = part.value;
  let year = Number(p.year);
  if (p.era === 'BC' || p.era === 'B') year = 1 - year;
  const d = new Date(Date.UTC(2000, Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second)));
  d.setUTCFullYear(year);
  const off = Math.round((d.getTime() - sec) / MINUTE);
  if (offsetCache.size > 500_000) offsetCache.clear();
  offsetCache.set(key, off);
  return off;
}

/** The first instant in (lo, hi] whose offset differs from the offset at lo (there must be one). */
function firstChange(zone: string, lo: number, hi: number): number {
  const o = offsetMinutes(zone, lo);
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (offsetMinutes(zone, mid) === o) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** Local wall-clock fields of an instant. */
export function localParts(zone: string, ms: number): { y: number; mo: number; d: number; local: number } {
  const local = ms + offsetMinutes(zone, ms) * MINUTE;
  const dt = new Date(local);
  return { y: dt.getUTCFullYear(), mo: dt.getUTCMonth() + 1, d: dt.getUTCDate(), local };
}

const dayStartCache = new Map<string, number>();

/** The first instant whose local date is on or after y-mo-d in `zone` (local midnight, or the end of a gap). */
export function dayStart(zone: string, y: number, mo: number, d: number): number {
  const key = `${zone}|${y}|${mo}|${d}`;
  const hit = dayStartCache.get(key);
  if (hit !== undefined) return hit;
  const utcMidnight = Date.UTC(y, mo - 1, d);
  const target = y * 10000 + mo * 100 + d;
  const dateKey = (t: number) => {
    const p = localParts(zone, t);
    return p.y * 10000 + p.mo * 100 + p.d;
  };
  // Offsets lie within ±15 h: local midnight is in this span, and local dates do not go back in these zones.
  let lo = utcMidnight - 16 * HOUR,
    hi = utcMidnight + 16 * HOUR;
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (dateKey(mid) >= target) hi = mid;
    else lo = mid;
  }
  dayStartCache.set(key, hi);
  return hi;
}

export type Size = 'minute' | 'hour' | 'day' | 'month';

/** Start of the calendar window of `size` in `zone` that holds instant t. */
export function windowStart(size: Size, zone: string, t: number): number {
  if (size === 'minute' || size === 'hour') {
    const len = size === 'minute' ? MINUTE : HOUR;
    const { local } = localParts(zone, t);
    const cand = t - (((local % len) + len) % len);
    // The window is the local clock's minute or hour while the offset stays the same: an offset change inside
    // it starts a new window at the change.
    if (offsetMinutes(zone, cand) === offsetMinutes(zone, t)) return cand;
    // The last change in (cand, t]: bisect from t backwards on "same offset as t".
    const o = offsetMinutes(zone, t);
    let lo = cand,
      hi = t;
    while (hi - lo > 1) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if (offsetMinutes(zone, mid) === o) hi = mid;
      else lo = mid;
    }
    return hi;
  }
  const p = localParts(zone, t);
  return size === 'day' ? dayStart(zone, p.y, p.mo, p.d) : dayStart(zone, p.y, p.mo, 1);
}

/** End (exclusive) of the window that starts at `start`: the start of the next one. */
export function windowEnd(size: Size, zone: string, start: number): number {
  if (size === 'minute' || size === 'hour') {
    const len = size === 'minute' ? MINUTE : HOUR;
    const { local } = localParts(zone, start);
    const next = start - (((local % len) + len) % len) + len;
    return offsetMinutes(zone, next - 1) === offsetMinutes(zone, start) ? next : firstChange(zone, start, next - 1);
  }
  const p = localParts(zone, start);
  if (size === 'day') {
    const n = new Date(Date.UTC(p.y, p.mo - 1, p.d + 1));
    return dayStart(zone, n.getUTCFullYear(), n.getUTCMonth() + 1, n.getUTCDate());
  }
  return p.mo === 12 ? dayStart(zone, p.y + 1, 1, 1) : dayStart(zone, p.y, p.mo + 1, 1);
}

/** RFC 3339 in the zone's offset at that instant; milliseconds only when not zero; `Z` for a zero offset. */
export function formatTime(zone: string, ms: number): string {
  const off = offsetMinutes(zone, ms);
  const d = new Date(ms + off * MINUTE);
  const p2 = (n: number) => String(n).padStart(2, '0');
  let s =
    `${String(d.getUTCFullYear()).padStart(4, '0')}-${p2(d.getUTCMonth() + 1)}-${p2(d.getUTCDate())}` +
    `T${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}`;
  if (d.getUTCMilliseconds()) s += '.' + String(d.getUTCMilliseconds()).padStart(3, '0');
  if (off === 0) return s + 'Z';
  const a = Math.abs(off);
  return s + (off < 0 ? '-' : '+') + p2(Math.floor(a / 60)) + ':' + p2(a % 60);
}

/** A query bound as the CLI takes it: RFC 3339, or a date (midnight in the zone). */
export function parseBound(text: string, zone: string): number {
  const t = parseTime(text);
  if (t !== null) return t;
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (m === null) throw new Error(`reference: unsupported bound ${text}`);
  return dayStart(zone, Number(m[1]), Number(m[2]), Number(m[3]));
}

// ---------------------------------------------------------------------------------------------------------------
// Events, dedupe, queries

export type Aggregation = 'SUM' | 'COUNT' | 'AVG' | 'MIN' | 'MAX' | 'UNIQUE_COUNT' | 'LATEST';

export interface MeterDef {
  slug: string;
  eventType: string;
  aggregation: Aggregation;
  valueProperty?: string;
  groupBy: Array<[key: string, path: string]>;
}

export interface Query {
  meter: MeterDef;
  window: Size | null;
  tz: string;
  from?: string;
  to?: string;
  subjects: string[];
  groupBy: string[];
  filters: Array<[key: string, value: string]>;
  fill: boolean;
  allSubjects: boolean;
}

export interface StoredEvent {
  source: string;
  id: string;
  type: string;
  subject: string;
  time: number;
  data: JV | undefined;
  /** Input order of the stored copy. */
  order: number;
}

/** One row as `meter query --format ndjson` prints it; value is the number's text (or null). */
export interface Row {
  value: string | null;
  windowStart: string;
  windowEnd: string;
  subject: string | null;
  groupBy: Record<string, string>;
}

/** A reference row may accept several values: LATEST ties between subjects, whose storage order is not defined. */
export interface RefRow extends Omit<Row, 'value'> {
  value: string | null;
  anyOf?: Array<string | null>;
}

export interface IngestCounts {
  read: number;
  inserted: number;
  duplicates: number;
  conflicts: number;
}

/** Content a copy is compared on (README: type, subject, time, data), with data in canonical form. */
function contentKey(e: Omit<StoredEvent, 'order'>): string {
  return JSON.stringify([e.type, e.subject, e.time, e.data === undefined ? null : canonicalJson(e.data)]);
}

/**
 * The events a store holds after ingesting these NDJSON lines (every line a valid event or a JSON array of
 * valid events): first copy of each (source, id) in input order wins; later copies are duplicates or conflicts.
 */
export function ingest(lines: string[]): { events: StoredEvent[]; counts: IngestCounts } {
  const byKey = new Map<string, { e: StoredEvent; content: string }>();
  const counts: IngestCounts = { read: 0, inserted: 0, duplicates: 0, conflicts: 0 };
  let order = 0;
  for (const l of lines) {
    if (l.trim() === '') continue;
    const v = parseJson(l);
    for (const item of v.t === 'arr' ? v.items : [v]) {
      counts.read++;
      const s = (k: string) => {
        const x = member(item, k);
        if (x?.t !== 'str') throw new Error(`reference: event without string ${k}: ${l.slice(0, 200)}`);
        return x.v;
      };
      const time = parseTime(s('time'));
      if (time === null) throw new Error(`reference: bad time in ${l.slice(0, 200)}`);
      const data = member(item, 'data');
      const e = {
        source: s('source'),
        id: s('id'),
        type: s('type'),
        subject: s('subject'),
        time,
        data: data?.t === 'null' ? undefined : data,
      };
      const key = JSON.stringify([e.source, e.id]);
      const content = contentKey(e);
      const prev = byKey.get(key);
      if (prev === undefined) {
        byKey.set(key, { e: { ...e, order: order++ }, content });
        counts.inserted++;
      } else if (prev.content === content) counts.duplicates++;
      else counts.conflicts++;
    }
  }
  return { events: [...byKey.values()].map((x) => x.e).sort((a, b) => a.order - b.order), counts };
}

/** Code point order, which is the order of UTF-8 bytes (SQLite's BINARY collation, ClickHouse's String order). */
export function cmpText(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!,
      y = b.codePointAt(i)!;
    if (x !== y) return x < y ? -1 : 1;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

interface Group {
  window: number | null;
  subject: string | null;
  groups: string[];
  events: StoredEvent[];
}

/** The rows `meter query --format ndjson` prints for this query over these stored events. */
export function runQuery(events: StoredEvent[], q: Query): RefRow[] {
  const m = q.meter;
  const fromMs = q.from === undefined ? undefined : parseBound(q.from, q.tz);
  const toMs = q.to === undefined ? undefined : parseBound(q.to, q.tz);
  const keyPath = (k: string) => {
    const g = m.groupBy.find(([key]) => key === k);
    if (!g) throw new Error(`reference: meter ${m.slug} has no group-by key ${k}`);
    return g[1];
  };
  const ofType = events.filter((e) => e.type === m.eventType);
  const selected = ofType.filter(
    (e) =>
      (fromMs === undefined || e.time >= fromMs) &&
      (toMs === undefined || e.time < toMs) &&
      (q.subjects.length === 0 || q.subjects.includes(e.subject)) &&
      // The values of one key are alternatives; filters on different keys all apply.
      q.filters.every(([k]) => q.filters.some(([k2, val]) => k2 === k && groupText(atPath(e.data, keyPath(k))) === val)),
  );
  const groupKeys = [...new Set(q.groupBy)];
  const groups = new Map<string, Group>();
  for (const e of selected) {
    const g: Omit<Group, 'events'> = {
      window: q.window === null ? null : windowStart(q.window, q.tz, e.time),
      subject: q.allSubjects ? null : e.subject,
      groups: groupKeys.map((k) => groupText(atPath(e.data, keyPath(k)))),
    };
    const key = JSON.stringify([g.window, g.subject, g.groups]);
    let found = groups.get(key);
    if (!found) groups.set(key, (found = { ...g, events: [] }));
    found.events.push(e);
  }
  const cmpGroup = (a: Pick<Group, 'subject' | 'groups'>, b: Pick<Group, 'subject' | 'groups'>) => {
    const s = cmpText(a.subject ?? '', b.subject ?? '');
    if (s !== 0) return s;
    for (let i = 0; i < a.groups.length; i++) {
      const c = cmpText(a.groups[i]!, b.groups[i]!);
      if (c !== 0) return c;
    }
    return 0;
  };
  const list = [...groups.values()].sort((a, b) => (a.window ?? 0) - (b.window ?? 0) || cmpGroup(a, b));
  const fmt = (ms: number) => formatTime(q.tz, ms);
  const groupBy = (g: Pick<Group, 'groups'>) => Object.fromEntries(groupKeys.map((k, i) => [k, g.groups[i]!]));
  const row = (g: Group): RefRow => {
    const times = g.events.map((e) => e.time);
    const start = g.window ?? fromMs ?? Math.min(...times);
    const end = g.window !== null ? windowEnd(q.window!, q.tz, g.window) : (toMs ?? Math.max(...times));
    return { ...aggregate(m, g.events), windowStart: fmt(start), windowEnd: fmt(end), subject: g.subject, groupBy: groupBy(g) };
  };
  if (!q.fill || q.window === null) return list.map(row);

  // --fill: every window of the range for every group present. An open end of the range is the first or last
  // event of the meter's type in the store (README: "for every group present"; the range as the query has it).
  if (ofType.length === 0) return [];
  const rangeFrom = fromMs ?? Math.min(...ofType.map((e) => e.time));
  const rangeTo = toMs ?? Math.max(...ofType.map((e) => e.time)) + 1;
  const present: Array<Pick<Group, 'subject' | 'groups'>> = [];
  const seen = new Set<string>();
  for (const g of list) {
    const k = JSON.stringify([g.subject, g.groups]);
    if (!seen.has(k)) {
      seen.add(k);
      present.push({ subject: g.subject, groups: g.groups });
    }
  }
  present.sort(cmpGroup);
  const zero = m.aggregation === 'SUM' || m.aggregation === 'COUNT' || m.aggregation === 'UNIQUE_COUNT' ? '0' : null;
  const out: RefRow[] = [];
  for (let w = windowStart(q.window, q.tz, rangeFrom); w < rangeTo; w = windowEnd(q.window, q.tz, w)) {
    for (const p of present) {
      const g = groups.get(JSON.stringify([w, p.subject, p.groups]));
      out.push(
        g
          ? row(g)
          : { value: zero, windowStart: fmt(w), windowEnd: fmt(windowEnd(q.window, q.tz, w)), subject: p.subject, groupBy: groupBy(p) },
      );
    }
  }
  return out;
}

/** The aggregate of one group's events (spec "Values a meter reads"). */
function aggregate(m: MeterDef, events: StoredEvent[]): Pick<RefRow, 'value' | 'anyOf'> {
  if (m.aggregation === 'COUNT') return { value: String(events.length) };
  const vp = m.valueProperty!;
  if (m.aggregation === 'UNIQUE_COUNT') {
    const set = new Set<string>();
    for (const e of events) {
      const u = uniqueText(atPath(e.data, vp));
      if (u !== null) set.add(u);
    }
    return { value: String(set.size) };
  }
  const vals = events.map((e) => ({ e, d: usable(atPath(e.data, vp)) })).filter((x) => x.d !== null) as Array<{ e: StoredEvent; d: Dec }>;
  switch (m.aggregation) {
    case 'SUM':
      return { value: vals.reduce((a, x) => a.add(x.d), new Dec(0n, 0)).toString() };
    case 'AVG':
      return {
        value:
          vals.length === 0
            ? null
            : vals
                .reduce((a, x) => a.add(x.d), new Dec(0n, 0))
                .divRound(vals.length)
                .toString(),
      };
    case 'MIN':
    case 'MAX': {
      if (vals.length === 0) return { value: null };
      const sign = m.aggregation === 'MIN' ? -1 : 1;
      return { value: vals.reduce((a, x) => (x.d.cmp(a) * sign > 0 ? x.d : a), vals[0]!.d).toString() };
    }
    case 'LATEST': {
      if (vals.length === 0) return { value: null };
      const tMax = Math.max(...vals.map((x) => x.e.time));
      const tied = vals.filter((x) => x.e.time === tMax);
      // One subject's events are stored in input order, so among them the later input wins. Between subjects
      // the storage order is not defined (the parse worker orders a chunk by subject): any of their latest counts.
      const lastBySubject = new Map<string, Dec>();
      for (const x of tied) lastBySubject.set(x.e.subject, x.d);
      const candidates = [...new Set([...lastBySubject.values()].map((d) => d.toString()))];
      return candidates.length === 1 ? { value: candidates[0]! } : { value: candidates[0]!, anyOf: candidates };
    }
  }
  throw new Error(`reference: unknown aggregation ${m.aggregation}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Reading the product's output

/** Parses `meter query --format ndjson` output into rows, keeping each value's number text as printed. */
export function parseNdjsonRows(text: string): Row[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const v = parseJson(l);
      const get = (k: string) => member(v, k);
      const val = get('value');
      const str = (x: JV | undefined) => (x?.t === 'str' ? x.v : x?.t === 'null' ? null : `<not a string: ${l}>`);
      const gb = get('groupBy');
      return {
        value:
          val?.t === 'num' ? val.text : val?.t === 'null' ? null : `<not a number: ${val === undefined ? 'missing' : canonicalJson(val)}>`,
        windowStart: str(get('windowStart')) as string,
        windowEnd: str(get('windowEnd')) as string,
        subject: str(get('subject')),
        groupBy: gb?.t === 'obj' ? Object.fromEntries(gb.entries.map(([k, x]) => [k, str(x) as string])) : {},
      };
    });
}

/** The first difference between actual rows and reference rows, or null when they agree. */
export function firstDifference(
  actual: Row[],
  expected: RefRow[],
): { index: number; actual: Row | undefined; expected: RefRow | undefined } | null {
  const n = Math.max(actual.length, expected.length);
  for (let i = 0; i < n; i++) {
    const a = actual[i],
      e = expected[i];
    if (a === undefined || e === undefined) return { index: i, actual: a, expected: e };
    const valueOk = e.anyOf ? e.anyOf.includes(a.value) : a.value === e.value;
    const rest = (r: Row | RefRow) => JSON.stringify([r.windowStart, r.windowEnd, r.subject, Object.entries(r.groupBy)]);
    if (!valueOk || rest(a) !== rest(e)) return { index: i, actual: a, expected: e };
  }
  return null;
}
