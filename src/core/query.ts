/**
 * The query use case: options as the user typed them -> a validated MeterQuery -> result rows with their window
 * bounds. Windows: `from` inclusive, `to` exclusive, calendar windows in the query's zone.
 */
import { OptionError, UsageError } from '../errors.js';
import type { AggregateRow, Dimension, MeterQuery, Store } from './ports.js';
import { EVENTS_METER, type Meter } from './meter.js';
import { formatRfc3339, parseRfc3339, utcMillis, daysInMonth } from './time.js';
import { checkTimeZone, DAY_MS, localToUtc, parseWindowSize, WindowPlan, zoneOffsetMinutes, type WindowSize } from './window.js';
import { mapAsync } from './iterate.js';
import { setMember } from './json.js';

/** Query options as given on the command line. */
export interface QueryOptions {
  meters: Meter[];
  meter?: string;
  window?: string;
  tz: string;
  from?: string;
  to?: string;
  subjects: string[];
  groupBy: string[];
  filters: string[];
  fill: boolean;
  allSubjects: boolean;
  /** false: read the events themselves, never a store's rollups (`--no-rollup`). */
  rollup?: boolean;
}

/** One result row, ready for a renderer. */
export interface ResultRow {
  windowStart: number;
  windowEnd: number;
  subject: string | null;
  /** Group values in the order of QueryResult.groupKeys. */
  groups: string[];
  /** Exact decimal text, or null when no event had a usable value. */
  value: string | null;
}

export interface QueryResult {
  meter: Meter;
  windowSize: WindowSize | null;
  zone: string;
  fromMs: number | null;
  toMs: number | null;
  perSubject: boolean;
  groupKeys: string[];
  rows: AsyncIterable<ResultRow>;
  /** RFC 3339 in the query's zone, with the zone's offset at that instant. */
  formatTime(ms: number): string;
}

/** A row's group values by key, as the JSON of a row shows them (OpenMeter's `groupBy`), `__proto__` too. */
export function groupByObject(result: QueryResult, r: ResultRow): Record<string, string> {
  const groupBy: Record<string, string> = {};
  result.groupKeys.forEach((k, i) => setMember(groupBy, k, r.groups[i]!));
  return groupBy;
}

/**
 * Parses a query bound: RFC 3339 with an offset, a date (`2026-11-01`: midnight in `zone`), or a local date-time
 * without offset (`2026-11-01T06:00`: wall-clock time in `zone`).
 */
export function parseQueryTime(text: string, zone: string, flag: string): number {
  const t = parseRfc3339(text);
  if (t.ok) return t.ms;
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3})\d*)?)?)?$/.exec(text);
  if (m) {
    const [y, mo, d, h = 0, mi = 0, s = 0] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((x) =>
      x === undefined ? undefined : +x,
    ) as number[];
    const ms = m[7] === undefined ? 0 : +m[7].padEnd(3, '0');
    if (mo! >= 1 && mo! <= 12 && d! >= 1 && d! <= daysInMonth(y!, mo!) && h <= 23 && mi <= 59 && s <= 59) {
      return localToUtc(zone, utcMillis(y!, mo!, d!, h, mi, s, ms));
    }
    // The form is right: say which field is out of range rather than "not a time".
    const why =
      mo! < 1 || mo! > 12
        ? `there is no month ${m[2]}`
        : d! < 1 || d! > daysInMonth(y!, mo!)
          ? `${m[1]}-${m[2]} has no day ${m[3]}`
          : h > 23
            ? `there is no hour ${m[4]} (00-23)`
            : mi > 59
              ? `there is no minute ${m[5]} (00-59)`
              : `there is no second ${m[6]} (00-59)`;
    throw new OptionError(flag, text, `not a time: ${why}`);
  }
  throw new OptionError(
    flag,
    text,
    `not a time; use RFC 3339 (2026-11-01T00:00:00Z), a date (2026-11-01, midnight in ${zone}) or a date and time without offset (2026-11-01T06:00, in ${zone})`,
  );
}

/**
 * The subjects named with `-s` that a result has no row for, from the subjects its rows carry (`seen`). Rows
 * across subjects (`perSubject` false) carry none: then only a result without any row says the names matched
 * nothing.
 */
export function unmatchedSubjects(named: readonly string[], seen: ReadonlySet<string | null>, perSubject: boolean): string[] {
  if (perSubject) return named.filter((x) => !seen.has(x));
  return seen.size === 0 ? [...named] : [];
}

/** Resolves the meter a query is about. */
export function resolveMeter(meters: Meter[], slug: string | undefined): Meter {
  if (slug !== undefined) {
    const m = meters.find((x) => x.slug === slug);
    if (m) return m;
    if (meters.length === 0 && slug === EVENTS_METER.slug) return EVENTS_METER;
    throw new UsageError(
      `unknown meter "${slug}"; ${meters.length ? `configured: ${meters.map((x) => x.slug).join(', ')}` : 'no meters are configured (see --config)'}`,
    );
  }
  if (meters.length === 1) return meters[0]!;
  if (meters.length === 0) return EVENTS_METER;
  throw new UsageError(`several meters are configured: choose one with --meter (${meters.map((x) => x.slug).join(', ')})`);
}

function dimensionsOf(meter: Meter): Dimension[] {
  if (meter === EVENTS_METER) return [{ key: 'type', column: 'type' }];
  return meter.groupBy.map((g) => ({ key: g.key, path: g.path }));
}

/** Validates the options into a MeterQuery (without a window plan, which needs the data's time span). */
export function planQuery(o: QueryOptions): { query: MeterQuery; windowSize: WindowSize | null } {
  const meter = resolveMeter(o.meters, o.meter);
  const zone = checkTimeZone(o.tz);
  let windowSize: WindowSize | null = null;
  if (o.window !== undefined && o.window !== 'none') {
    windowSize = parseWindowSize(o.window) ?? null;
    if (windowSize === null) throw new OptionError('--window', o.window, 'use minute, hour, day or month (or none)');
  }
  const fromMs = o.from === undefined ? undefined : parseQueryTime(o.from, zone, '--from');
  const toMs = o.to === undefined ? undefined : parseQueryTime(o.to, zone, '--to');
  if (fromMs !== undefined && toMs !== undefined && fromMs >= toMs) {
    throw new UsageError(`--from ${o.from} is not before --to ${o.to} (from is inclusive, to is exclusive)`);
  }
  const dims = dimensionsOf(meter);
  const find = (key: string, flag: string): Dimension => {
    const d = dims.find((x) => x.key === key);
    if (d) return d;
    throw new OptionError(
      flag,
      key,
      `meter ${meter.slug} has ${dims.length ? `group-by keys ${dims.map((x) => x.key).join(', ')}` : 'no groupBy keys'}`,
    );
  };
  const groupKeys = o.groupBy.length > 0 || meter !== EVENTS_METER ? o.groupBy : ['type'];
  const groupBy = [...new Set(groupKeys)].map((k) => find(k, '--group-by'));
  // The values of one key are alternatives: `-f model=a -f model=b` keeps the events of either model.
  const byKey = new Map<string, { dimension: Dimension; values: Set<string> }>();
  for (const f of o.filters) {
    const eq = f.indexOf('=');
    if (eq <= 0) throw new UsageError(`--filter "${f}": use KEY=VALUE with a group-by key of the meter`);
    const key = f.slice(0, eq),
      value = f.slice(eq + 1);
    const entry = byKey.get(key) ?? byKey.set(key, { dimension: find(key, '--filter'), values: new Set() }).get(key)!;
    entry.values.add(value);
  }
  const filters = [...byKey.values()].map((f) => ({ dimension: f.dimension, values: [...f.values] }));
  return {
    query: {
      meter,
      window: null,
      fromMs,
      toMs,
      subjects: [...new Set(o.subjects)],
      groupBy,
      filters,
      perSubject: !o.allSubjects,
      ...(o.rollup === false ? { noRollup: true } : {}),
    },
    windowSize,
  };
}

/** A query range longer than this has its window plan narrowed to the data (see runQuery). */
const LONG_RANGE_MS = 20 * 366 * DAY_MS;

/** Runs a query against a store. */
export async function runQuery(store: Store, o: QueryOptions): Promise<QueryResult> {
  const { query, windowSize } = planQuery(o);
  const zone = o.tz;
  let span: { minMs: number; maxMs: number } | null = null;
  // UTC has one offset for all time: its windows need no span, which saves a scan for the data's extent.
  const fixedZone = zone === 'UTC' || zone === 'Etc/UTC';
  if (windowSize !== null || o.fill) {
    if ((query.fromMs === undefined || query.toMs === undefined) && (o.fill || !fixedZone)) {
      span = await store.timeExtent(query.meter.eventType);
    }
    let lo = query.fromMs ?? span?.minMs ?? (fixedZone ? 0 : undefined);
    let hi = query.toMs ?? (span ? span.maxMs + 1 : fixedZone ? 1 : undefined);
    // A plan samples the zone's offset once a week of its range: from year 1 to 9999 that is seconds of the only
    // thread, during which `meter serve` answers nothing (and any portal token may ask it). Rows come from the
    // data alone, so without --fill a long range is narrowed to the data's extent within it.
    if (windowSize !== null && !o.fill && !fixedZone && lo !== undefined && hi !== undefined && hi - lo > LONG_RANGE_MS) {
      span ??= await store.timeExtent(query.meter.eventType);
      if (span !== null) {
        lo = Math.max(lo, span.minMs);
        hi = Math.max(lo + 1, Math.min(hi, span.maxMs + 1));
      } else hi = lo + 1;
    }
    if (windowSize !== null && lo !== undefined && hi !== undefined) query.window = new WindowPlan(windowSize, zone, lo, hi);
  }
  const plan = query.window;
  const rangeFrom = query.fromMs ?? span?.minMs;
  const rangeTo = query.toMs ?? (span ? span.maxMs + 1 : undefined);
  const toRow = (r: AggregateRow): ResultRow => {
    const start = r.windowStart ?? query.fromMs ?? r.firstMs;
    const end = r.windowStart !== null && plan ? plan.end(r.windowStart) : (query.toMs ?? r.lastMs);
    return { windowStart: start, windowEnd: end, subject: r.subject, groups: r.groups, value: r.value };
  };
  const noData = windowSize !== null && plan === null; // an open range over an empty store
  async function* none(): AsyncGenerator<ResultRow> {}
  const rows = (): AsyncIterable<ResultRow> => {
    if (noData) return none();
    if (!o.fill || plan === null || rangeFrom === undefined || rangeTo === undefined) return mapAsync(store.aggregate(query), toRow);
    return filled(query, plan, rangeFrom, rangeTo, store, toRow);
  };
  return {
    meter: query.meter,
    windowSize,
    zone,
    fromMs: query.fromMs ?? null,
    toMs: query.toMs ?? null,
    perSubject: query.perSubject,
    groupKeys: query.groupBy.map((g) => g.key),
    rows: rows(),
    formatTime: memoize((ms) => formatRfc3339(ms, zoneOffsetMinutes(zone, ms))),
  };
}

/** The value of a window without events: 0 for counts and sums, none for the others. */
function emptyValue(meter: Meter): string | null {
  return meter.aggregation === 'SUM' || meter.aggregation === 'COUNT' || meter.aggregation === 'UNIQUE_COUNT' ? '0' : null;
}

/** Every window of the range for every group present, with zero rows where a group had no events. */
async function* filled(
  query: MeterQuery,
  plan: WindowPlan,
  fromMs: number,
  toMs: number,
  store: Store,
  toRow: (r: AggregateRow) => ResultRow,
): AsyncGenerator<ResultRow> {
  const byGroup = new Map<string, Map<number, ResultRow>>();
  const groups = new Map<string, { subject: string | null; groups: string[] }>();
  for await (const r of store.aggregate(query)) {
    const row = toRow(r);
    const key = JSON.stringify([row.subject, row.groups]);
    if (!groups.has(key)) {
      groups.set(key, { subject: row.subject, groups: row.groups });
      byGroup.set(key, new Map());
    }
    byGroup.get(key)!.set(row.windowStart, row);
  }
  // The stores' order (subject, then group values, by their UTF-8 bytes), not that of the keys' JSON text, in which
  // escapes (`\"`) would sort otherwise than the characters they stand for.
  const order = [...groups.keys()].sort((a, b) => compareGroups(groups.get(a)!, groups.get(b)!));
  const zero = emptyValue(query.meter);
  for (const start of plan.windows(fromMs, toMs)) {
    const end = plan.end(start);
    for (const key of order) {
      const g = groups.get(key)!;
      yield byGroup.get(key)!.get(start) ?? { windowStart: start, windowEnd: end, subject: g.subject, groups: g.groups, value: zero };
    }
  }
}

function compareGroups(a: { subject: string | null; groups: string[] }, b: { subject: string | null; groups: string[] }): number {
  const c = compareUtf8(a.subject ?? '', b.subject ?? '');
  if (c !== 0) return c;
  for (let i = 0; i < a.groups.length; i++) {
    const g = compareUtf8(a.groups[i]!, b.groups[i]!);
    if (g !== 0) return g;
  }
  return 0;
}

/**
 * Compares strings as their UTF-8 bytes compare (code point order), as SQLite and ClickHouse sort text. UTF-16
 * code units differ from it only where a surrogate meets a unit of U+E000-U+FFFF.
 */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i),
      y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x += x < 0xe000 ? 0x2000 : -0x800;
      y += y < 0xe000 ? 0x2000 : -0x800;
    }
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

/** Caches a time formatter: result rows repeat the same few window bounds many times. */
function memoize(format: (ms: number) => string): (ms: number) => string {
  let cache = new Map<number, string>();
  return (ms) => {
    let text = cache.get(ms);
    if (text === undefined) {
      if (cache.size > 50_000) cache = new Map();
      text = format(ms);
      cache.set(ms, text);
    }
    return text;
  };
}
