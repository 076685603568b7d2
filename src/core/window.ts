/**
 * Calendar windows in an IANA time zone. A window is [start, end) in UTC milliseconds. MINUTE and HOUR windows
 * follow the local clock, so an hour in Asia/Kathmandu (+05:45) starts at :15 UTC and the two 02:00 hours of the
 * night the clocks go back are two windows; DAY and MONTH windows run from local midnight to local midnight, so a
 * day is 23 or 25 hours long on DST changes.
 *
 * The same arithmetic is given to the stores as data (`WindowPlan.segments`): within an offset segment the local
 * clock is UTC plus a constant, so a store computes a window key with integer arithmetic alone.
 */
import { tzOffset } from '@date-fns/tz';
import { UsageError } from '../errors.js';
import { utcMillis } from './time.js';

export type WindowSize = 'MINUTE' | 'HOUR' | 'DAY' | 'MONTH';

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
/** A multiple of every fixed window size, large enough to make any time since year 0 positive before `%`. */
export const EPOCH_SHIFT_MS = DAY_MS * 1_000_000;
const EPOCH_SHIFT_DAYS = 1_000_000;

const SIZE_NAMES: Record<string, WindowSize> = {
  minute: 'MINUTE',
  minutely: 'MINUTE',
  hour: 'HOUR',
  hourly: 'HOUR',
  day: 'DAY',
  daily: 'DAY',
  month: 'MONTH',
  monthly: 'MONTH',
};

/** `hour`, `hourly`, `HOUR` ... -> WindowSize; undefined when the name is unknown. */
export function parseWindowSize(name: string): WindowSize | undefined {
  const key = name.toLowerCase();
  return Object.hasOwn(SIZE_NAMES, key) ? SIZE_NAMES[key] : undefined;
}

/** Checks that a zone is a known IANA name (or UTC) and returns it. */
export function checkTimeZone(zone: string): string {
  if (zone === 'UTC' || zone === 'Etc/UTC') return zone;
  if (!/^[A-Za-z0-9_+\-/]+$/.test(zone) || Number.isNaN(tzOffset(zone, new Date(0)))) {
    throw new UsageError(`unknown time zone "${zone}": use an IANA name such as Europe/Budapest or UTC`);
  }
  // IANA names are case-sensitive (OpenMeter, which loads them as files, answers 400 for europe/budapest), though
  // the platform's lookup is not: a name that differs from its zone's only in case is refused with the right one.
  const named = new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
  if (named !== zone && named.toLowerCase() === zone.toLowerCase()) {
    throw new UsageError(`unknown time zone "${zone}": IANA names are case-sensitive; did you mean ${named}?`);
  }
  return zone;
}

/** Minutes east of UTC that `zone` is at the instant `ms`. */
export function zoneOffsetMinutes(zone: string, ms: number): number {
  if (zone === 'UTC' || zone === 'Etc/UTC') return 0;
  let minutes = tzOffset(zone, new Date(ms));
  // @date-fns/tz reads the hours of an offset between -01:00 and 00:00 ("-00:44:30", Africa/Monrovia until 1972)
  // as 0 and loses the sign: such an offset is read from the platform's text itself.
  if (minutes > 0 && minutes < 60) minutes = platformOffsetMinutes(zone, ms);
  // Whole minutes: before standard time, zones ran on local mean time with offsets in seconds (Asia/Kathmandu
  // +05:41:16 until 1920), which RFC 3339 cannot print and which would make window arithmetic fractional.
  return Math.round(minutes);
}

const offsetFormats = new Map<string, Intl.DateTimeFormat>();

/** The offset of `zone` at `ms` in minutes (with a fraction for seconds), from the platform's "GMT-00:44:30". */
function platformOffsetMinutes(zone: string, ms: number): number {
  let format = offsetFormats.get(zone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' });
    offsetFormats.set(zone, format);
  }
  const name = format.formatToParts(ms).find((p) => p.type === 'timeZoneName')?.value ?? '';
  const m = /^GMT([+-])(\d\d):(\d\d)(?::(\d\d))?$/.exec(name);
  if (m === null) return 0; // "GMT"
  const minutes = Number(m[2]) * 60 + Number(m[3]) + Number(m[4] ?? 0) / 60;
  return m[1] === '-' ? -minutes : minutes;
}

/** A span from `start` (inclusive; -Infinity for the first) during which the zone's offset is `offsetMs`. */
export interface OffsetSegment {
  start: number;
  offsetMs: number;
}

const WEEK_MS = 7 * DAY_MS;

/**
 * Where offsets are sampled daily: the years of the time zone database's rules. An offset that changes and changes
 * back between two samples is never seen, and some lasted less than a week (America/Recife, Noronha and Boa_Vista
 * 2000-10-08 to 10-15: 6.96 days; Asia/Gaza's predicted Ramadan periods of about a week in 2040-2072; none since
 * 1900 lasted less than 6.9 days). Outside these years zones keep local mean time or one rule, sampled weekly.
 */
const DAILY_FROM_MS = Date.UTC(1880, 0, 1),
  DAILY_TO_MS = Date.UTC(2110, 0, 1);

/**
 * The offset segments of `zone` covering [fromMs, toMs]. Offsets are sampled daily (weekly outside the years of
 * the rules, see DAILY_FROM_MS) and every change is located to the millisecond by bisection.
 */
export function offsetSegments(zone: string, fromMs: number, toMs: number): OffsetSegment[] {
  const off = (t: number) => zoneOffsetMinutes(zone, t) * MINUTE_MS;
  const segments: OffsetSegment[] = [{ start: -Infinity, offsetMs: off(fromMs) }];
  if (zone === 'UTC' || zone === 'Etc/UTC') return segments;
  let prevT = fromMs;
  let prevOff = segments[0]!.offsetMs;
  const step = (t: number) => {
    const by = t >= DAILY_FROM_MS - WEEK_MS && t < DAILY_TO_MS ? DAY_MS : WEEK_MS;
    return toMs - t > by ? t + by : toMs;
  };
  for (let t = step(fromMs); prevT < toMs; t = step(t)) {
    let o = off(t);
    let lo = prevT;
    // Bisect every change between prevT and t (a step may hold two changes: check again from the change found).
    while (o !== prevOff) {
      let hi = t;
      while (hi - lo > 1) {
        const mid = lo + Math.floor((hi - lo) / 2);
        if (off(mid) === prevOff) lo = mid;
        else hi = mid;
      }
      prevOff = off(hi);
      segments.push({ start: hi, offsetMs: prevOff });
      lo = hi;
    }
    prevT = t;
    o = prevOff;
  }
  return segments;
}

/** Local wall-clock milliseconds -> the first UTC instant showing that wall-clock time (or the end of a DST gap). */
export function localToUtc(zone: string, localMs: number): number {
  const before = zoneOffsetMinutes(zone, localMs - DAY_MS) * MINUTE_MS;
  const after = zoneOffsetMinutes(zone, localMs + DAY_MS) * MINUTE_MS;
  for (const o of before >= after ? [before, after] : [after, before]) {
    if (zoneOffsetMinutes(zone, localMs - o) * MINUTE_MS === o) return localMs - o;
  }
  // The wall-clock time falls in a gap: the day (or hour) begins when the clocks jump.
  let lo = localMs - after,
    hi = localMs - before;
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (zoneOffsetMinutes(zone, mid) * MINUTE_MS === before) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** Day number (days since 1970-01-01) of a local wall-clock time. */
function localDay(localMs: number): number {
  return Math.floor((localMs + EPOCH_SHIFT_MS) / DAY_MS) - EPOCH_SHIFT_DAYS;
}

/** `yyyymm` month key of a local day number, as SQLite's strftime('%Y%m') computes it. */
function monthKeyOfDay(day: number): number {
  const d = new Date(day * DAY_MS);
  return d.getUTCFullYear() * 100 + d.getUTCMonth() + 1;
}

/**
 * How to put instants into windows of one size in one zone over a span of time. The key of a window is what a store
 * groups by: the window start (MINUTE, HOUR), the local day number (DAY), or `yyyymm` (MONTH).
 */
export class WindowPlan {
  readonly segments: OffsetSegment[];
  private readonly startCache = new Map<number, number>();

  constructor(
    readonly size: WindowSize,
    readonly zone: string,
    fromMs: number,
    toMs: number,
  ) {
    // Widen by a day each way: a DAY window's midnight may lie before `from`.
    this.segments = offsetSegments(zone, fromMs - 2 * DAY_MS, toMs + 2 * DAY_MS);
  }

  /** Length of a MINUTE or HOUR window. */
  get fixedMs(): number {
    return this.size === 'MINUTE' ? MINUTE_MS : HOUR_MS;
  }

  private segmentIndex(t: number): number {
    const s = this.segments;
    let lo = 0,
      hi = s.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (s[mid]!.start <= t) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** The key of the window holding instant t; stores must compute the same (see segments). */
  keyOf(t: number): number {
    const seg = this.segments[this.segmentIndex(t)]!;
    const local = t + seg.offsetMs;
    if (this.size === 'MINUTE' || this.size === 'HOUR') {
      return Math.max(seg.start, t - ((local + EPOCH_SHIFT_MS) % this.fixedMs));
    }
    const day = localDay(local);
    return this.size === 'DAY' ? day : monthKeyOfDay(day);
  }

  /** The start instant of the window with this key. */
  startOfKey(key: number): number {
    if (this.size === 'MINUTE' || this.size === 'HOUR') return key;
    let start = this.startCache.get(key);
    if (start === undefined) {
      const local = this.size === 'DAY' ? key * DAY_MS : utcMillis(Math.floor(key / 100), key % 100, 1);
      start = localToUtc(this.zone, local);
      this.startCache.set(key, start);
    }
    return start;
  }

  /** The start of the window holding instant t. */
  start(t: number): number {
    return this.startOfKey(this.keyOf(t));
  }

  /** The end (exclusive) of the window that starts at `start`: the start of the next window. */
  end(start: number): number {
    if (this.size === 'MINUTE' || this.size === 'HOUR') {
      const i = this.segmentIndex(start);
      const local = start + this.segments[i]!.offsetMs;
      // The next local boundary, which a window clamped to an offset change reaches sooner than start + size.
      const end = start - ((local + EPOCH_SHIFT_MS) % this.fixedMs) + this.fixedMs;
      const next = this.segments[i + 1];
      return next !== undefined && next.start < end ? next.start : end;
    }
    // The zone's own offset, not the segments: a month's start may lie before the span the segments cover (a
    // month that began before a DST change, queried from a day after it).
    const day = localDay(start + zoneOffsetMinutes(this.zone, start) * MINUTE_MS);
    if (this.size === 'DAY') return this.startOfKey(day + 1);
    const key = monthKeyOfDay(day);
    const y = Math.floor(key / 100),
      m = key % 100;
    return this.startOfKey(m === 12 ? (y + 1) * 100 + 1 : key + 1);
  }

  /** Every window overlapping [fromMs, toMs), as start instants. */
  *windows(fromMs: number, toMs: number): Generator<number> {
    for (let w = this.start(fromMs); w < toMs; w = this.end(w)) yield w;
  }
}
