/**
 * Seeded generators shared by the differential test, the hostile corpus and `npm run fuzz`: events as raw NDJSON
 * text (number literals, duplicate keys and escapes written as they must reach meter, never through
 * JSON.stringify of a parsed value), meters, and random queries with their command lines. Every case is a pure
 * function of its seed, so a failure is reproduced by METER_SEED=<seed>.
 */
import { prng } from '../bench/generate.js';
import { dayStart, localParts, offsetMinutes, parseBound, type Aggregation, type MeterDef, type Query, type Size } from './reference.js';

/**
 * METER_DIFF_TAME=1 narrows the generator to spellings every version of meter read alike (short plain numbers,
 * no duplicate keys, no escaped keys): a difference that remains there is a window, range, order or fill
 * question, which tells a reference bug from a value-semantics defect quickly.
 */
export const TAME = process.env.METER_DIFF_TAME === '1';

/** The log generator's mulberry32, with the picks test inputs need. */
export class Rng {
  readonly next: () => number;
  constructor(readonly seed: number) {
    this.next = prng(seed);
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  /** A derived generator, so that adding draws to one part of a case does not change the others. */
  fork(salt: number): Rng {
    return new Rng((Math.imul(this.seed ^ 0x9e3779b9, 0x85ebca6b) + salt * 0xc2b2ae35) >>> 0);
  }
}

/** The run's seed: METER_SEED, else random; printed in every assertion message. */
export function runSeed(): number {
  const env = process.env.METER_SEED;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`METER_SEED must be an integer 0..4294967295, not ${env}`);
    return n;
  }
  return Math.floor(Math.random() * 0x100000000);
}

/** Zones with whole-hour, +05:45, -03:30/-02:30 and 30-minute-DST offsets. */
export const ZONES = ['UTC', 'Europe/Budapest', 'America/New_York', 'Asia/Kathmandu', 'America/St_Johns', 'Australia/Lord_Howe'] as const;

/** Subjects that break naive quoting, CSV, spreadsheets or byte-vs-UTF-16 ordering (no lone surrogates, no NUL). */
export const HOSTILE_SUBJECTS = [
  'acme',
  'a',
  'a!',
  'a"q',
  "it's",
  'a,b',
  '=SUM(A1)',
  '+1',
  '-2',
  '@cmd',
  '\ttab',
  'x\ty',
  'line\nbreak',
  'cr\rx',
  'back\\slash',
  ' spaced ',
  'é',
  'e\u0301',
  '中文',
  '😀',
  '\uFF01wide',
  '\uE000private',
  'a😀',
  'a\uFFFD',
  '{"j":1}',
  '\u2028',
  'Z',
  'zz',
];

/** Number literals written into data as they are (JSON numbers). */
export const NUMBER_LITERALS = [
  '0',
  '1',
  '2',
  '7',
  '-3',
  '10',
  '1.0',
  '2.0',
  '0.5',
  '0.1',
  '0.2',
  '-0',
  '-0.0',
  '1.50',
  '1e3',
  '1E+22',
  '2.5e-3',
  '1e-7',
  '12345678901234567890',
  '0.1234567890123456789',
  '10000000000000000000001',
  '0.1000000000000000000001',
  '9223372036854775807',
  '9223372036854775808',
  '-9223372036854775808',
  '9007199254740993',
  '18446744073709551616',
  '123.456',
  '-0.001',
  '1e0',
  '100e-2',
  '4.35',
  '0.3',
];

/** Strings in data: numeric ones count for SUM..LATEST (spec), the others do not. */
export const NUMERIC_STRINGS = ['21', '0.5', '1e3', '+5', '.5', '5.', '9223372036854775808', '1.50', '-7', '00012', '1E2', '1e999'];
export const OTHER_STRINGS = [' 21', '21 ', 'NaN', 'Inf', '-Infinity', '', '0x10', '1,5', 'abc', '1e', '1e1000', '--1', '1.2.3'];

/** Group-by values (as JSON text): strings, numbers in several spellings, booleans, null, objects, arrays. */
const GROUP_LITERALS = [
  '"gold"',
  '"silver"',
  '"Gold"',
  '"a,b"',
  '"=x"',
  '"😀"',
  '"\\uFF01"',
  '"1"',
  '"1.0"',
  '""',
  '1',
  '1.0',
  '1e0',
  '2',
  'true',
  'false',
  'null',
  '{"a":1,"b":[1,2.0]}',
  '{"b":1,"a":1}',
  '{"a":1.0,"b":[1,2]}',
  '[1,"x"]',
  '{"k":1,"k":2}',
  '"\\u0067old"',
];

const ITEM_LITERALS = ['2', '2.0', '"2"', '"2.0"', '2e0', 'true', '"true"', 'null', '"x"', '{"o":1}', '[2]', '20e-1'];

/** One JSON member, its key spelled plainly or with an escape (`"\u0076"` is `"v"`). */
function key(rng: Rng, k: string): string {
  if (!TAME && rng.chance(0.08)) return `"\\u${k.charCodeAt(0).toString(16).padStart(4, '0')}${k.slice(1)}"`;
  return JSON.stringify(k);
}

function space(rng: Rng): string {
  return rng.chance(0.15) ? rng.pick([' ', '  ', '\t']) : '';
}

/** A value for the meters' `$.v`: numbers, numeric and other strings, and things that never count. */
function valueLiteral(rng: Rng): string {
  const r = rng.next();
  if (TAME)
    return r < 0.5
      ? String(rng.int(-50, 1000))
      : r < 0.8
        ? `${rng.int(0, 99)}.${rng.int(1, 9)}`
        : rng.pick(['"21"', '"0.5"', '"abc"', 'null', 'true']);
  if (r < 0.35) return rng.pick(NUMBER_LITERALS);
  if (r < 0.5) return String(rng.int(-50, 1000));
  if (r < 0.6) return `${rng.int(0, 99)}.${String(rng.int(0, 999)).padStart(3, '0')}`;
  if (r < 0.75) return JSON.stringify(rng.pick(NUMERIC_STRINGS));
  if (r < 0.85) return JSON.stringify(rng.pick(OTHER_STRINGS));
  return rng.pick(['null', 'true', 'false', '{"x":1}', '[1]']);
}

/** The raw `data` object text of an event. */
export function dataText(rng: Rng): string {
  const members: string[] = [];
  const add = (k: string, v: string) => members.push(`${key(rng, k)}${space(rng)}:${space(rng)}${v}`);
  if (rng.chance(0.9)) add('v', valueLiteral(rng));
  // Duplicate keys: the first must win everywhere (spec), whatever the later ones say.
  if (!TAME && rng.chance(0.15)) add('v', valueLiteral(rng));
  const tame = (xs: string[]) => (TAME ? xs.filter((x) => !/\d\.0|e|\\u|"k".*"k"/.test(x)) : xs);
  if (rng.chance(0.7)) add('tier', rng.pick(tame(GROUP_LITERALS)));
  if (!TAME && rng.chance(0.1)) add('tier', rng.pick(GROUP_LITERALS));
  if (rng.chance(0.6)) add('item', rng.pick(tame(ITEM_LITERALS)));
  if (rng.chance(0.5)) {
    const region = rng.pick(tame(['"eu"', '"us"', '"ap"', '1.0', 'null', '"e\\u0075"']));
    const inner = [`"region":${region}`];
    if (!TAME && rng.chance(0.3)) inner.push(`"region":"dup"`);
    if (rng.chance(0.4)) inner.push(`"x":${TAME ? valueLiteral(rng) : rng.pick(NUMBER_LITERALS)}`);
    add('meta', `{${inner.join(',')}}`);
  }
  if (rng.chance(0.3)) add('arr', `[${TAME ? valueLiteral(rng) : rng.pick(NUMBER_LITERALS)},${valueLiteral(rng)}]`);
  // Something long and unrelated: must not change how the other values are read (issue 11, defect 3).
  if (!TAME && rng.chance(0.2)) add('noise', rng.pick(['9007199254740993', '"x"', '0.12345678901234567890123', '[[[[1]]]]']));
  for (let i = members.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    // Shuffle only members that are not duplicates of an earlier key, so "first" stays the generated first.
    if (sameKey(members[i]!, members) || sameKey(members[j]!, members)) continue;
    [members[i], members[j]] = [members[j]!, members[i]!];
  }
  return `{${space(rng)}${members.join(',' + space(rng))}${space(rng)}}`;
}

function keyOf(member: string): string {
  return JSON.parse(member.slice(0, member.indexOf('"', 1) + 1)) as string;
}

function sameKey(member: string, all: string[]): boolean {
  const k = keyOf(member);
  return all.filter((m) => keyOf(m) === k).length > 1;
}

const MINUTE = 60_000,
  HOUR = 3_600_000,
  DAY = 86_400_000;

/** Offset changes of a zone in a year (found by daily sampling and bisection). */
export function transitions(zone: string, year: number): number[] {
  const out: number[] = [];
  let t = Date.UTC(year, 0, 1);
  const end = Date.UTC(year + 1, 0, 1);
  let o = offsetMinutes(zone, t);
  for (; t < end; t += DAY) {
    const o2 = offsetMinutes(zone, t + DAY);
    if (o2 !== o) {
      let lo = t,
        hi = t + DAY;
      while (hi - lo > 1) {
        const mid = lo + Math.floor((hi - lo) / 2);
        if (offsetMinutes(zone, mid) === o) lo = mid;
        else hi = mid;
      }
      out.push(hi);
      o = o2;
    }
  }
  return out;
}

/** A base instant for a case: a DST change, a local month or year boundary, or a plain day, in `zone`. */
export function focusInstant(rng: Rng, zone: string): number {
  const year = rng.pick([2024, 2025, 2026]);
  const tr = transitions(zone, year);
  const r = rng.next();
  if (r < 0.5 && tr.length > 0) return rng.pick(tr);
  if (r < 0.8) return dayStart(zone, year, rng.int(1, 12), 1);
  return dayStart(zone, year, rng.int(1, 12), rng.int(1, 28)) + rng.int(0, 23) * HOUR;
}

/** Window boundaries near `t` in `zone`: local minute, hour, day and month starts. */
function boundaries(zone: string, t: number): number[] {
  const p = localParts(zone, t);
  const out = [dayStart(zone, p.y, p.mo, p.d), dayStart(zone, p.y, p.mo, 1)];
  const hourStart = t - (((p.local % HOUR) + HOUR) % HOUR);
  out.push(hourStart, hourStart + HOUR, t - (((p.local % MINUTE) + MINUTE) % MINUTE));
  return out;
}

/** An instant for an event: on a window edge, 1 ms either side of one, or anywhere within two days of the focus. */
export function eventInstant(rng: Rng, zone: string, focus: number): number {
  const r = rng.next();
  if (r < 0.45) {
    const near = focus + rng.int(-36, 36) * HOUR + rng.int(0, 59) * MINUTE;
    return rng.pick(boundaries(zone, near)) + rng.pick([0, 0, -1, 1, -60_000, 32_768, 59_999]);
  }
  if (r < 0.55) return focus + rng.pick([-1, 0, 1, -HOUR, HOUR, 30 * MINUTE, -30 * MINUTE]);
  return focus + rng.int(-2 * DAY, 2 * DAY);
}

/** RFC 3339 text of an instant in some offset, with 0-9 fractional digits (digits past the ms are truncated). */
export function timeText(rng: Rng, ms: number, zone: string): string {
  const offMin = rng.chance(0.4) ? offsetMinutes(zone, ms) : rng.pick([0, 0, 60, -300, 345, -210, 630, 840, -720, 330, -150, 59]);
  const d = new Date(ms + offMin * MINUTE);
  const p2 = (n: number) => String(n).padStart(2, '0');
  let s =
    `${String(d.getUTCFullYear()).padStart(4, '0')}-${p2(d.getUTCMonth() + 1)}-${p2(d.getUTCDate())}` +
    `${rng.chance(0.05) ? 't' : 'T'}${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}`;
  const milli = d.getUTCMilliseconds();
  const digits = rng.pick([0, 1, 2, 3, 3, 4, 6, 9]);
  let frac = String(milli).padStart(3, '0');
  if (digits < 3) {
    // Fewer digits only where they are exact.
    if (frac.slice(digits).replace(/0/g, '') === '') frac = frac.slice(0, digits);
  } else for (let i = 3; i < digits; i++) frac += String(rng.int(0, 9));
  if (frac !== '') s += '.' + frac;
  if (offMin === 0) return s + (rng.chance(0.2) ? '+00:00' : rng.chance(0.1) ? 'z' : 'Z');
  const a = Math.abs(offMin);
  return s + (offMin < 0 ? '-' : '+') + p2(Math.floor(a / 60)) + ':' + p2(a % 60);
}

/** One generated case: its raw NDJSON lines and what the queries may refer to. */
export interface Case {
  seed: number;
  zone: string;
  focus: number;
  lines: string[];
  subjects: string[];
}

function eventText(
  f: { id: string; source: string; type: string; subject: string; time: string; data: string; ext?: string },
  rng: Rng,
): string {
  const members = [
    `"specversion":"1.0"`,
    `"id":${JSON.stringify(f.id)}`,
    `"source":${JSON.stringify(f.source)}`,
    `"type":${JSON.stringify(f.type)}`,
    `"subject":${JSON.stringify(f.subject)}`,
    `"time":${JSON.stringify(f.time)}`,
  ];
  if (f.ext !== undefined) members.push(`"traceparent":${JSON.stringify(f.ext)}`);
  if (rng.chance(0.1)) members.reverse();
  members.push(`"data":${f.data}`);
  return `{${members.join(',')}}`;
}

/** Events for one case: duplicates (exact, respelled and conflicting), hostile subjects, edge times, batch lines. */
export function genCase(seed: number, nEvents: number): Case {
  const rng = new Rng(seed);
  const zone = rng.pick(ZONES);
  const focus = focusInstant(rng, zone);
  const subjects = Array.from({ length: rng.int(2, 6) }, () => rng.pick(HOSTILE_SUBJECTS));
  const uniqueSubjects = [...new Set(subjects)];
  const sources = ['svc', 'svc-b', 'edge/"1"'];
  const events: string[] = [];
  const firsts: Array<Parameters<typeof eventText>[0]> = [];
  for (let i = 0; i < nEvents; i++) {
    const r = rng.next();
    if (firsts.length > 0 && r < 0.12) {
      // An exact or respelled copy (same content: a duplicate, never a conflict).
      const f = rng.pick(firsts);
      events.push(eventText({ ...f, ext: rng.chance(0.5) ? 'other-trace' : f.ext }, rng));
      continue;
    }
    if (firsts.length > 0 && r < 0.2) {
      // A conflicting copy: other data, subject, time or type; the first stored copy must win.
      const f = rng.pick(firsts);
      const change = rng.pick(['data', 'subject', 'time', 'type'] as const);
      const copy = { ...f };
      if (change === 'data') copy.data = dataText(rng);
      if (change === 'subject') copy.subject = rng.pick(uniqueSubjects);
      if (change === 'time') copy.time = timeText(rng, eventInstant(rng, zone, focus), zone);
      if (change === 'type') copy.type = f.type === 'usage' ? 'other' : 'usage';
      events.push(eventText(copy, rng));
      continue;
    }
    const f = {
      id: rng.chance(0.1) ? `id-"${i}"` : `e${i}`,
      source: rng.pick(sources),
      type: rng.chance(0.9) ? 'usage' : 'other',
      subject: rng.pick(uniqueSubjects),
      time: timeText(rng, eventInstant(rng, zone, focus), zone),
      data: rng.chance(0.04) ? 'null' : dataText(rng),
      ext: rng.chance(0.1) ? 'trace-1' : undefined,
    };
    firsts.push(f);
    events.push(eventText(f, rng));
  }
  // Some lines after the first carry a JSON array of events (OpenMeter's batch format on an NDJSON line).
  const lines: string[] = [];
  for (let i = 0; i < events.length; ) {
    if (i > 0 && rng.chance(0.1)) {
      const n = rng.int(1, 3);
      lines.push(`[${events.slice(i, i + n).join(',')}]`);
      i += n;
    } else lines.push(events[i++]!);
  }
  return { seed, zone, focus, lines, subjects: uniqueSubjects };
}

/** The meters of every case: each aggregation over `$.v`, with the same group-by keys. */
export const GROUP_BY: Array<[string, string]> = [
  ['tier', '$.tier'],
  ['region', '$.meta.region'],
  ['item', '$.item'],
  ['meta', '$.meta'],
];

export const METERS: MeterDef[] = [
  ...(['SUM', 'AVG', 'MIN', 'MAX', 'LATEST', 'UNIQUE_COUNT'] as Aggregation[]).map((a) => ({
    slug: `${a.toLowerCase()}_v`,
    eventType: 'usage',
    aggregation: a,
    valueProperty: '$.v',
    groupBy: GROUP_BY,
  })),
  { slug: 'count_all', eventType: 'usage', aggregation: 'COUNT', groupBy: GROUP_BY },
  { slug: 'unique_item', eventType: 'usage', aggregation: 'UNIQUE_COUNT', valueProperty: '$.item', groupBy: GROUP_BY },
  { slug: 'sum_arr', eventType: 'usage', aggregation: 'SUM', valueProperty: '$.arr[1]', groupBy: GROUP_BY },
  { slug: 'max_meta_x', eventType: 'usage', aggregation: 'MAX', valueProperty: '$.meta.x', groupBy: GROUP_BY },
  { slug: 'sum_other', eventType: 'other', aggregation: 'SUM', valueProperty: '$.v', groupBy: GROUP_BY },
];

export function metersYaml(meters: MeterDef[] = METERS): string {
  const out = ['meters:'];
  for (const m of meters) {
    out.push(`  - slug: ${m.slug}`, `    eventType: ${m.eventType}`, `    aggregation: ${m.aggregation}`);
    if (m.valueProperty !== undefined) out.push(`    valueProperty: "${m.valueProperty}"`);
    if (m.groupBy.length) {
      out.push('    groupBy:');
      for (const [k, p] of m.groupBy) out.push(`      ${k}: "${p}"`);
    }
  }
  return out.join('\n') + '\n';
}

/** A bound for --from/--to near the focus: aligned to some window, 1 ms off, unaligned, or a date. */
function bound(rng: Rng, zone: string, focus: number): string {
  const t = eventInstant(rng, zone, focus);
  const r = rng.next();
  if (r < 0.2) {
    const p = localParts(zone, t);
    return `${p.y}-${String(p.mo).padStart(2, '0')}-${String(p.d).padStart(2, '0')}`;
  }
  return timeText(rng, r < 0.5 ? t : t + rng.int(-HOUR, HOUR), zone);
}

/** Rough number of windows a filled query prints per group, to keep --fill output small. */
function windowsIn(size: Size, spanMs: number): number {
  return spanMs / ({ minute: MINUTE, hour: HOUR, day: DAY, month: 28 * DAY } as const)[size];
}

/**
 * A random query over a case: meter, window, zone, range (absent, aligned, unaligned, dates), subjects
 * (including one that does not exist), group-by, filters drawn from values present, --fill, --all-subjects.
 */
export function genQuery(rng: Rng, c: Case, groupValues: Map<string, string[]>): Query {
  const meter = rng.pick(METERS);
  const window = rng.pick([null, null, 'minute', 'hour', 'hour', 'day', 'day', 'month'] as const);
  const tz = rng.chance(0.7) ? c.zone : rng.pick(ZONES);
  let from: string | undefined = rng.chance(0.55) ? bound(rng, tz, c.focus) : undefined;
  let to: string | undefined = rng.chance(0.55) ? bound(rng, tz, c.focus) : undefined;
  if (from !== undefined && to !== undefined) {
    // --from must be before --to (else a usage error): swap, or drop one when they name the same instant.
    const a = parseBound(from, tz),
      b = parseBound(to, tz);
    if (a > b) [from, to] = [to, from];
    else if (a === b) to = undefined;
  }
  const subjects: string[] = [];
  if (rng.chance(0.35)) {
    subjects.push(rng.pick(c.subjects));
    if (rng.chance(0.4)) subjects.push(rng.pick(c.subjects));
    if (rng.chance(0.25)) subjects.push('nobody');
  } else if (rng.chance(0.05)) subjects.push('nobody');
  const groupBy = GROUP_BY.map(([k]) => k).filter(() => rng.chance(0.25));
  const filters: Array<[string, string]> = [];
  if (rng.chance(0.25)) {
    const [k] = rng.pick(GROUP_BY);
    const present = groupValues.get(k!) ?? [];
    const value = () => (present.length && rng.chance(0.85) ? rng.pick(present) : rng.pick(['', 'none']));
    filters.push([k!, value()]);
    // A second value of the same key (an alternative), or a filter on another key.
    if (rng.chance(0.3)) filters.push([k!, value()]);
    if (rng.chance(0.2)) {
      const [k2] = rng.pick(GROUP_BY);
      const more = groupValues.get(k2!) ?? [];
      filters.push([k2!, more.length ? rng.pick(more) : 'none']);
    }
  }
  // --fill only where the result stays small: with minute windows the range is hours at most.
  // (and one group-by key at most: every group present gets every window). Without windows it is a usage error.
  let fill = groupBy.length <= 1 && rng.chance(0.3) && window !== null;
  if (fill && window !== null) {
    const span = from !== undefined && to !== undefined ? parseBound(to, tz) - parseBound(from, tz) : 6 * DAY;
    if (windowsIn(window, span) > 800) fill = false;
  }
  return { meter, window, tz, from, to, subjects, groupBy, filters, fill, allSubjects: rng.chance(0.25) };
}

/** The `meter query` arguments of a query (without --db and --config). */
export function queryArgs(q: Query): string[] {
  // --opt=value: a subject or filter value may start with '-'.
  const a = ['query', `--meter=${q.meter.slug}`, '--format=ndjson', `--tz=${q.tz}`];
  if (q.window !== null) a.push(`--window=${q.window}`);
  if (q.from !== undefined) a.push(`--from=${q.from}`);
  if (q.to !== undefined) a.push(`--to=${q.to}`);
  for (const s of q.subjects) a.push(`--subject=${s}`);
  for (const g of q.groupBy) a.push(`--group-by=${g}`);
  for (const [k, v] of q.filters) a.push(`--filter=${k}=${v}`);
  if (q.fill) a.push('--fill');
  if (q.allSubjects) a.push('--all-subjects');
  return a;
}

/** A command line a person can paste into a shell. */
export function shellLine(args: string[]): string {
  return ['meter', ...args].map((x) => (/^[\w@%+=:,./-]+$/.test(x) ? x : `'${x.replace(/'/g, `'\\''`)}'`)).join(' ');
}
