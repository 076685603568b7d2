/**
 * The report use case: a range, meters and subjects -> for each meter, its usage per window split by the top
 * subjects (or group values), and a table of every subject's total, share and peak; with a price file, the
 * invoices of the same range. Every number comes from runQuery (the same path and decimal text as `meter query`)
 * and from buildInvoices; this file only chooses the queries and hands their rows to the shaping (report-shape.ts).
 */
import { OptionError, UsageError } from '../errors.js';
import { buildInvoices, invoicePeriod, type InvoiceResult } from './invoice.js';
import { EVENTS_METER, type Meter } from './meter.js';
import type { Store } from './ports.js';
import type { PriceFile } from './price.js';
import { parseQueryTime, resolveMeter, runQuery, unmatchedSubjects, type QueryOptions, type ResultRow } from './query.js';
import { chooseWindow, shapeMeter, type ShapeCell, type ShapedMeter, type ShapeTotal } from './report-shape.js';
import { boundText, formatRfc3339 } from './time.js';
import { checkTimeZone, DAY_MS, HOUR_MS, MINUTE_MS, parseWindowSize, WindowPlan, zoneOffsetMinutes, type WindowSize } from './window.js';

/** Report options as given on the command line. */
export interface ReportOptions {
  meters: Meter[];
  /** `-m`: these meters; none: every configured meter (with no config: events counted per type). */
  meterSlugs: string[];
  tz: string;
  period?: string;
  from?: string;
  to?: string;
  subjects: string[];
  /** `-g`: split by this group-by key (summed over the subjects) instead of by subject. */
  groupBy?: string;
  /** Window size; default: chosen from the range (chooseWindow). */
  window?: string;
  /** Entities with their own chart series; the rest are "others". */
  top: number;
  prices?: PriceFile;
}

/** The most windows a report draws: a year of hours is no picture anyone reads, and its page would be slow. */
export const MAX_WINDOWS = 10_000;

/** How long a window of each size is at most, DST changes included (see the check in buildReport). */
const LONGEST_MS: Record<WindowSize, number> = { MINUTE: MINUTE_MS, HOUR: HOUR_MS, DAY: DAY_MS + HOUR_MS, MONTH: 31 * (DAY_MS + HOUR_MS) };

function tooManyWindows(size: WindowSize): UsageError {
  return new UsageError(
    `the range holds more than ${MAX_WINDOWS} ${size.toLowerCase()} windows: choose a larger --window or a shorter range`,
  );
}

/** Characters of a table row's sparkline. */
export const SPARK_WIDTH = 40;

export interface MeterReport extends ShapedMeter {
  meter: Meter;
  /** What one table row is: `subject`, the group-by key, or `subject · type` for events counted per type. */
  entity: string;
}

export interface Report {
  zone: string;
  fromMs: number;
  toMs: number;
  windowSize: WindowSize;
  /** The windows of the range in order (the first and last may be partial: they keep their calendar bounds). */
  windows: Array<{ start: number; end: number }>;
  /** The one customer of a usage statement (`-s` given once); null for a report over many subjects. */
  subject: string | null;
  subjects: string[];
  /** Subjects named (`-s`) that no meter has a row for in the range: most often a typo, which an empty page hides. */
  unmatchedSubjects: string[];
  groupBy: string | null;
  meters: MeterReport[];
  invoices: InvoiceResult | null;
  /** RFC 3339 in the report's zone, with the zone's offset at that instant. */
  formatTime(ms: number): string;
}

/** The range of a report: --period, --from/--to, or what the store holds where a bound is missing. */
async function reportRange(store: Store, o: ReportOptions, zone: string): Promise<{ fromMs: number; toMs: number }> {
  if (o.period !== undefined || (o.from !== undefined && o.to !== undefined)) return invoicePeriod(o, zone);
  const extent = await store.timeExtent(null);
  const fromMs = o.from !== undefined ? parseQueryTime(o.from, zone, '--from') : extent?.minMs;
  const toMs = o.to !== undefined ? parseQueryTime(o.to, zone, '--to') : extent === null ? undefined : extent.maxMs + 1;
  if (fromMs === undefined || toMs === undefined)
    throw new UsageError('the store holds no events: give the range with --period or --from and --to');
  if (fromMs >= toMs)
    throw new UsageError(
      o.from === undefined
        ? `--to is not after the first event (${new Date(fromMs).toISOString()}): the range holds no events`
        : o.to === undefined
          ? `--from is not before the last event (${new Date(toMs - 1).toISOString()}): the range holds no events`
          : `--from is not before --to (from is inclusive, to is exclusive)`,
    );
  return { fromMs, toMs };
}

const isAdditive = (m: Meter): boolean => m.aggregation === 'SUM' || m.aggregation === 'COUNT';

/**
 * How a row is named: its subject and group values (an empty group value as `(none)`). A part that could read as
 * a placeholder, as the chart's `others (N)` series or as two parts (`(none)`, `a · b`, or one starting with a
 * quote) is quoted as JSON text, so that two rows are never named alike; in the others, a backslash is doubled as
 * JSON doubles it, so that a label shows every backslash one way (the page escapes invisible characters, not them).
 */
function labelOf(r: ResultRow): string {
  const part = (p: string) =>
    p === '(none)' || p === '(all)' || p.includes(' · ') || p.startsWith('"') || /^others \(\d+\)$/.test(p)
      ? JSON.stringify(p)
      : p.replaceAll('\\', '\\\\');
  return [...(r.subject === null ? [] : [r.subject]), ...r.groups].map((p) => (p === '' ? '(none)' : part(p))).join(' · ') || '(all)';
}

const keyOf = (r: ResultRow): string => JSON.stringify([r.subject, r.groups]);

/** Builds a report: two queries per meter (per window, and totals), one more for a meter whose values do not add up. */
export async function buildReport(store: Store, given: ReportOptions): Promise<Report> {
  // `-s acme -s acme` names one customer: their statement.
  const o = { ...given, subjects: [...new Set(given.subjects)] };
  const zone = checkTimeZone(o.tz);
  let windowSize: WindowSize | undefined;
  if (o.window !== undefined) {
    windowSize = parseWindowSize(o.window);
    if (windowSize === undefined) throw new OptionError('--window', o.window, 'use minute, hour, day or month');
  }
  let selected =
    o.meterSlugs.length > 0
      ? [...new Set(o.meterSlugs)].map((s) => resolveMeter(o.meters, s))
      : o.meters.length > 0
        ? o.meters
        : [EVENTS_METER];
  const g = o.groupBy;
  if (g !== undefined && o.meterSlugs.length === 0) {
    // Split by a key: the meters that have it (a meter named with -m without it is an error, from runQuery).
    selected = selected.filter((m) => m.groupBy.some((k) => k.key === g));
    if (selected.length === 0) throw new OptionError('--group-by', g, 'no configured meter has this groupBy key');
  }
  const { fromMs, toMs } = await reportRange(store, o, zone);
  const size = windowSize ?? chooseWindow(fromMs, toMs);
  // Planning costs a sample of the zone per week of the range (seconds for millennia, which any portal token may
  // ask for): a range that holds more than MAX_WINDOWS windows even if each were twice as long as LONGEST_MS says
  // (a day when a zone moved back a whole day, Alaska's of 1867) is refused before that, as the enumeration below
  // would refuse it.
  if ((toMs - fromMs) / (2 * LONGEST_MS[size]) > MAX_WINDOWS) throw tooManyWindows(size);
  const plan = new WindowPlan(size, zone, fromMs, toMs);
  const windows: Array<{ start: number; end: number }> = [];
  for (const start of plan.windows(fromMs, toMs)) {
    if (windows.length === MAX_WINDOWS) throw tooManyWindows(size);
    windows.push({ start, end: plan.end(start) });
  }
  const index = new Map(windows.map((w, i) => [w.start, i]));
  const base: QueryOptions = {
    meters: o.meters,
    tz: zone,
    from: boundText(fromMs),
    to: boundText(toMs),
    subjects: o.subjects,
    groupBy: o.groupBy === undefined ? [] : [o.groupBy],
    filters: [],
    fill: false,
    allSubjects: o.groupBy !== undefined,
  };
  const meters: MeterReport[] = [];
  const seen = new Set<string | null>();
  for (const meter of selected) {
    const slug = meter === EVENTS_METER ? undefined : meter.slug;
    const cells: ShapeCell[] = [];
    for await (const r of (await runQuery(store, { ...base, meter: slug, window: size })).rows) {
      const window = index.get(r.windowStart);
      if (window !== undefined) cells.push({ key: keyOf(r), label: labelOf(r), window, value: r.value });
    }
    const totals: ShapeTotal[] = [];
    for await (const r of (await runQuery(store, { ...base, meter: slug })).rows) {
      totals.push({ key: keyOf(r), label: labelOf(r), value: r.value });
      seen.add(r.subject);
    }
    const shaped = shapeMeter({ additive: isAdditive(meter), windows: windows.length, cells, totals, top: o.top, sparkWidth: SPARK_WIDTH });
    if (!shaped.additive) {
      // MAX, AVG, LATEST... of the whole range is not a sum of the rows: the store computes it.
      for await (const r of (await runQuery(store, { ...base, meter: slug, groupBy: [], allSubjects: true })).rows) shaped.total = r.value;
    }
    const entity = o.groupBy ?? (meter === EVENTS_METER ? 'subject · type' : 'subject');
    meters.push({ ...shaped, meter, entity });
  }
  const invoices =
    o.prices === undefined
      ? null
      : await buildInvoices(store, { meters: o.meters, prices: o.prices, from: base.from, to: base.to, tz: zone, subjects: o.subjects });
  return {
    zone,
    fromMs,
    toMs,
    windowSize: size,
    windows,
    subject: o.subjects.length === 1 ? o.subjects[0]! : null,
    subjects: o.subjects,
    // Rows split by a group-by key are summed over the subjects.
    unmatchedSubjects: unmatchedSubjects(o.subjects, seen, o.groupBy === undefined),
    groupBy: o.groupBy ?? null,
    meters,
    invoices,
    formatTime: (ms) => formatRfc3339(ms, zoneOffsetMinutes(zone, ms)),
  };
}
