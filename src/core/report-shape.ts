/**
 * The pure data shaping of `meter report`: which window size a range gets, and, from a meter's query rows, the
 * chart series (the top N entities and the rest as "others"), each entity's total, share and peak window, and the
 * totals per window. Every value stays exact decimal text; sums are exact (Decimal), so the top N and "others"
 * add up to the total to the last digit.
 */
import { Decimal } from './decimal.js';
import { compareUtf8 } from './query.js';
import { sparkline } from './sparkline.js';
import { DAY_MS, HOUR_MS, type WindowSize } from './window.js';

/** Up to this span a report is drawn per hour (two days, plus the hour a DST change adds). */
export const HOURLY_UP_TO_MS = 2 * DAY_MS + HOUR_MS;
/** Up to this span, per day: three months (the longest quarter has 92 days), plus a DST hour. */
export const DAILY_UP_TO_MS = 92 * DAY_MS + HOUR_MS;

/** The window size of a report over [fromMs, toMs): hours for up to two days, days up to three months, else months. */
export function chooseWindow(fromMs: number, toMs: number): WindowSize {
  const span = toMs - fromMs;
  if (span <= HOURLY_UP_TO_MS) return 'HOUR';
  if (span <= DAILY_UP_TO_MS) return 'DAY';
  return 'MONTH';
}

/** One query row of a meter, reduced to what the report needs. */
export interface ShapeCell {
  /** Identifies the entity (subject and group values); `label` is how it is shown. */
  key: string;
  label: string;
  /** Index of the window in the report's window list. */
  window: number;
  value: string | null;
}

export interface ShapeTotal {
  key: string;
  label: string;
  value: string | null;
}

/** A line or stack layer of the chart. */
export interface ChartSeries {
  label: string;
  /** Exact value per window; null where there is none (never for additive meters: "0" there). */
  values: Array<string | null>;
  total: string | null;
  /** The sum of the entities not in the top N; `count` of them. */
  others?: { count: number };
}

/** A row of the entities table. */
export interface EntityRow {
  key: string;
  label: string;
  total: string | null;
  /** Percent of the meter's total with one decimal (`12.5`), `<0.1` for a positive share that rounds to 0; null when not additive. */
  share: string | null;
  /** The window with the largest value (the earliest of equal ones); null when no window has a value above 0. */
  peak: { window: number; value: string } | null;
  spark: string;
}

export interface ShapedMeter {
  additive: boolean;
  /** Sum of the entity totals (additive meters); null otherwise, where the caller asks the store. */
  total: string | null;
  series: ChartSeries[];
  rows: EntityRow[];
  /** Exact sum per window over every entity (additive meters), else null. */
  windowTotals: Array<string | null> | null;
  /** The window with the largest total (additive meters). */
  peak: { window: number; value: string } | null;
}

export interface ShapeInput {
  additive: boolean;
  windows: number;
  cells: ShapeCell[];
  totals: ShapeTotal[];
  /** How many entities get their own series; the rest are summed into "others" (additive meters) or left out. */
  top: number;
  /** Characters per sparkline at most. */
  sparkWidth: number;
}

const dec = (text: string): Decimal => Decimal.parse(text)!;

/** Compares totals for ranking: larger first, no value last. */
function byTotalDesc(a: ShapeTotal, b: ShapeTotal): number {
  if (a.value === null || b.value === null) return a.value === b.value ? compareUtf8(a.label, b.label) : a.value === null ? 1 : -1;
  return dec(b.value).compare(dec(a.value)) || compareUtf8(a.label, b.label);
}

/** The largest value and its window (the earliest of equal ones); none when no window has a value above 0. */
function peakOf(values: ReadonlyArray<string | null>): { window: number; value: string } | null {
  let best: { window: number; value: string } | null = null;
  let bestDec: Decimal | null = null;
  values.forEach((v, window) => {
    if (v === null) return;
    const d = dec(v);
    if (bestDec === null || d.compare(bestDec) > 0) (best = { window, value: v }), (bestDec = d);
  });
  return best !== null && bestDec !== null && (bestDec as Decimal).sign() > 0 ? best : null;
}

/** part / whole in percent with one decimal, `<0.1` for a positive part that rounds to zero; null when whole is not positive. */
export function sharePercent(part: string | null, whole: string | null): string | null {
  if (part === null || whole === null) return null;
  const w = dec(whole);
  if (w.sign() <= 0) return null;
  const p = dec(part);
  const pct = p.mul(dec('100')).quotient(w, 1);
  if (pct.isZero() && p.sign() > 0) return '<0.1';
  return pct.toFixedMin(1);
}

/** Shapes one meter's rows for the report. */
export function shapeMeter(input: ShapeInput): ShapedMeter {
  const { additive, windows } = input;
  const empty = (): Array<string | null> => new Array<string | null>(windows).fill(additive ? '0' : null);
  const perEntity = new Map<string, Array<string | null>>();
  for (const c of input.cells) {
    let v = perEntity.get(c.key);
    if (v === undefined) perEntity.set(c.key, (v = empty()));
    // One row per entity and window; a second one (impossible from one query) would be added, not lost.
    v[c.window] = additive && v[c.window] !== '0' && c.value !== null ? dec(v[c.window]!).add(dec(c.value)).toString() : c.value;
  }
  const ranked = [...input.totals].sort(byTotalDesc);
  let total: string | null = null;
  let windowTotals: Array<string | null> | null = null;
  if (additive) {
    let t = Decimal.ZERO;
    for (const r of ranked) if (r.value !== null) t = t.add(dec(r.value));
    total = t.toString();
    const sums = new Array<Decimal>(windows).fill(Decimal.ZERO);
    for (const v of perEntity.values()) v.forEach((x, i) => x !== null && x !== '0' && (sums[i] = sums[i]!.add(dec(x))));
    windowTotals = sums.map((d) => d.toString());
  }
  const rows: EntityRow[] = ranked.map((r) => {
    const values = perEntity.get(r.key) ?? empty();
    return {
      key: r.key,
      label: r.label,
      total: r.value,
      share: additive ? sharePercent(r.value, total) : null,
      peak: peakOf(values),
      spark: sparkline(values, input.sparkWidth),
    };
  });
  const top = Math.max(1, input.top);
  // "others" only stands for two or more entities: a single one is shown by name.
  const own = ranked.length <= top + 1 ? ranked : ranked.slice(0, top);
  const series: ChartSeries[] = own.map((r) => ({ label: r.label, values: perEntity.get(r.key) ?? empty(), total: r.value }));
  if (additive && own.length < ranked.length) {
    const rest = ranked.slice(own.length);
    const sums = new Array<Decimal>(windows).fill(Decimal.ZERO);
    let restTotal = Decimal.ZERO;
    for (const r of rest) {
      if (r.value !== null) restTotal = restTotal.add(dec(r.value));
      perEntity.get(r.key)?.forEach((x, i) => x !== null && x !== '0' && (sums[i] = sums[i]!.add(dec(x))));
    }
    series.push({
      label: `others (${rest.length})`,
      values: sums.map((d) => d.toString()),
      total: restTotal.toString(),
      others: { count: rest.length },
    });
  }
  return { additive, total, series, rows, windowTotals, peak: windowTotals ? peakOf(windowTotals) : null };
}
