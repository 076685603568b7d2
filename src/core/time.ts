/**
 * Strict RFC 3339 timestamps. `Date.parse` is not a validator: it accepts `2026-02-30`, `24:00` and strings
 * without an offset, so we check every field ourselves and only then compute the instant.
 */

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** Days in a month of the proleptic Gregorian calendar (month 1-12). */
export function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Milliseconds since the epoch of a UTC calendar date-time; correct for years 0-99 too. */
export function utcMillis(y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): number {
  const date = new Date(Date.UTC(2000, mo - 1, d, h, mi, s, ms));
  date.setUTCFullYear(y);
  return date.getTime();
}

/** Result of parsing a timestamp: the instant in epoch milliseconds, or why it is not one. */
export type TimeParse = { ok: true; ms: number } | { ok: false; reason: string };

/**
 * Parses an RFC 3339 date-time with a mandatory offset (`Z`, `+05:45`, `-03:30`) and any number of fractional
 * digits. Fractions below a millisecond are truncated (toward the past), so an event never moves to a later window.
 */
export function parseRfc3339(text: string): TimeParse {
  const fast = parseRfc3339Fast(text);
  if (!Number.isNaN(fast)) return inYearRange(fast);
  const m = RFC3339.exec(text);
  if (m === null) {
    if (/^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(text)) {
      return { ok: false, reason: 'has no UTC offset (add Z or +hh:mm)' };
    }
    return { ok: false, reason: 'is not an RFC 3339 date-time (e.g. 2026-11-28T10:15:00.123Z)' };
  }
  const y = +m[1]!,
    mo = +m[2]!,
    d = +m[3]!,
    h = +m[4]!,
    mi = +m[5]!,
    s = +m[6]!;
  if (mo < 1 || mo > 12) return { ok: false, reason: `has month ${m[2]} (01-12)` };
  if (d < 1 || d > daysInMonth(y, mo)) return { ok: false, reason: `has day ${m[3]}, not a day of ${m[1]}-${m[2]}` };
  if (h > 23) return { ok: false, reason: `has hour ${m[4]} (00-23)` };
  if (mi > 59) return { ok: false, reason: `has minute ${m[5]} (00-59)` };
  if (s > 59) return { ok: false, reason: `has second ${m[6]} (00-59)` };
  const frac = m[7] === undefined ? 0 : +(m[7] + '00').slice(0, 3);
  let offsetMin = 0;
  if (m[8] === undefined) {
    const oh = +m[10]!,
      om = +m[11]!;
    if (oh > 23 || om > 59) return { ok: false, reason: `has offset ${m[9]}${m[10]}:${m[11]} out of range` };
    offsetMin = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  return inYearRange(utcMillis(y, mo, d, h, mi, s, frac) - offsetMin * 60_000);
}

/** 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z: the instants RFC 3339 can write in UTC. */
export const MIN_INSTANT_MS = -62_167_219_200_000;
export const MAX_INSTANT_MS = 253_402_300_799_999;

/** An offset can push a valid local time out of years 0000-9999 (`9999-12-31T23:30:00-01:00`): windows, month
 * keys and RFC 3339 output are defined for those years only, so such an instant is refused. */
function inYearRange(ms: number): TimeParse {
  if (ms < MIN_INSTANT_MS || ms > MAX_INSTANT_MS) return { ok: false, reason: 'is outside the years 0000-9999 once converted to UTC' };
  return { ok: true, ms };
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** Formats an offset in minutes as `Z` (zero) or `+hh:mm` / `-hh:mm`. */
export function formatOffset(offsetMin: number): string {
  if (offsetMin === 0) return 'Z';
  const sign = offsetMin < 0 ? '-' : '+';
  const a = Math.abs(offsetMin);
  return `${sign}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
}

/**
 * A computed query bound (a period's start or end) as text the query reads back; undefined (an open bound) for an
 * instant before year 0000 or after 9999, which RFC 3339 cannot write and where no event can be.
 */
export function boundText(ms: number): string | undefined {
  return ms < MIN_INSTANT_MS || ms > MAX_INSTANT_MS ? undefined : formatRfc3339(ms);
}

/**
 * Formats an instant as RFC 3339 in a fixed offset (minutes east of UTC); milliseconds are printed only when not
 * zero, so whole-second times look like OpenMeter's.
 */
export function formatRfc3339(ms: number, offsetMin = 0): string {
  const d = new Date(ms + offsetMin * 60_000);
  const y = d.getUTCFullYear();
  const base =
    `${y < 0 ? '-' + pad(-y, 6) : pad(y, 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` +
    `T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  const milli = d.getUTCMilliseconds();
  return base + (milli ? '.' + pad(milli, 3) : '') + formatOffset(offsetMin);
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil), for years 0-9999. */
export function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Two ASCII digits at i as a number, or -1. */
function two(t: string, i: number): number {
  const a = t.charCodeAt(i) - 48,
    b = t.charCodeAt(i + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/**
 * The hot path of event ingest: parses a valid RFC 3339 time without allocating (no regex match, no Date), and
 * returns NaN for anything it does not accept, so that parseRfc3339 can explain why.
 */
export function parseRfc3339Fast(t: string): number {
  const n = t.length;
  if (n < 20 || t.charCodeAt(4) !== 45 || t.charCodeAt(7) !== 45 || t.charCodeAt(13) !== 58 || t.charCodeAt(16) !== 58) return NaN;
  const sep = t.charCodeAt(10);
  if (sep !== 84 && sep !== 116) return NaN; // T or t
  const y1 = two(t, 0),
    y2 = two(t, 2),
    mo = two(t, 5),
    d = two(t, 8),
    h = two(t, 11),
    mi = two(t, 14),
    s = two(t, 17);
  if (y1 < 0 || y2 < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59) return NaN;
  const y = y1 * 100 + y2;
  if (d > daysInMonth(y, mo)) return NaN;
  let i = 19;
  let ms = 0;
  if (t.charCodeAt(i) === 46) {
    i++;
    const start = i;
    for (; i < n; i++) {
      const c = t.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      if (i - start < 3) ms = ms * 10 + c;
    }
    const digits = i - start;
    if (digits === 0) return NaN;
    if (digits === 1) ms *= 100;
    else if (digits === 2) ms *= 10;
  }
  let offsetMin: number;
  const z = t.charCodeAt(i);
  if ((z === 90 || z === 122) && i + 1 === n) offsetMin = 0;
  else if ((z === 43 || z === 45) && i + 6 === n && t.charCodeAt(i + 3) === 58) {
    const oh = two(t, i + 1),
      om = two(t, i + 4);
    if (oh < 0 || oh > 23 || om < 0 || om > 59) return NaN;
    offsetMin = (z === 45 ? -1 : 1) * (oh * 60 + om);
  } else return NaN;
  return (((daysFromCivil(y, mo, d) * 24 + h) * 60 + mi - offsetMin) * 60 + s) * 1000 + ms;
}
