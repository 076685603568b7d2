/**
 * Sparklines of usage over a range for terminal tables: the same query per window (the window chosen from the
 * range as the report chooses it), one sparkline per row of the table it goes with. Only the shape is drawn; the
 * table beside it prints the exact totals.
 */
import { Decimal } from './decimal.js';
import type { Store, SubjectSummary } from './ports.js';
import { planQuery, runQuery, type QueryOptions, type QueryResult, type ResultRow } from './query.js';
import { chooseWindow } from './report-shape.js';
import { sparkline } from './sparkline.js';
import { WindowPlan, type WindowSize } from './window.js';

/** Characters of a terminal sparkline. */
export const TERMINAL_SPARK_WIDTH = 30;

export interface UsageSparklines {
  /** The window size the sparklines are drawn in; null when there is no data to draw. */
  window: WindowSize | null;
  /** Sparkline by row key (sparkKey). */
  lines: Map<string, string>;
}

/** The key of a table row: its subject and group values; `bySubject` keys by the subject alone. */
export function sparkKey(r: Pick<ResultRow, 'subject' | 'groups'>, bySubject = false): string {
  return bySubject ? JSON.stringify([r.subject]) : JSON.stringify([r.subject, r.groups]);
}

/**
 * Sparklines of the query `o` (without a window) over its range, or over the stored events' span where `o` leaves
 * it open. `bySubject` sums a subject's rows over its group values first (for counts and sums, which add up).
 */
export async function usageSparklines(
  store: Store,
  o: QueryOptions,
  opts: { bySubject?: boolean; width?: number } = {},
): Promise<UsageSparklines> {
  const { query } = planQuery(o);
  let fromMs = query.fromMs,
    toMs = query.toMs;
  if (fromMs === undefined || toMs === undefined) {
    const extent = await store.timeExtent(query.meter.eventType);
    if (extent === null) return { window: null, lines: new Map() };
    fromMs ??= extent.minMs;
    toMs ??= extent.maxMs + 1;
    if (fromMs >= toMs) return { window: null, lines: new Map() };
  }
  const size = chooseWindow(fromMs, toMs);
  const plan = new WindowPlan(size, o.tz, fromMs, toMs);
  const index = new Map<number, number>();
  for (const start of plan.windows(fromMs, toMs)) index.set(start, index.size);
  const additive = query.meter.aggregation === 'SUM' || query.meter.aggregation === 'COUNT';
  const values = new Map<string, Array<Decimal | null>>();
  const result = await runQuery(store, {
    ...o,
    window: size,
    from: new Date(fromMs).toISOString(),
    to: new Date(toMs).toISOString(),
    fill: false,
  });
  for await (const r of result.rows) {
    const key = sparkKey(r, opts.bySubject);
    let v = values.get(key);
    if (v === undefined) values.set(key, (v = new Array<Decimal | null>(index.size).fill(additive ? Decimal.ZERO : null)));
    const w = index.get(r.windowStart);
    if (w === undefined || r.value === null) continue;
    const d = Decimal.parse(r.value)!;
    v[w] = opts.bySubject && v[w] !== null ? v[w]!.add(d) : d;
  }
  const lines = new Map<string, string>();
  for (const [key, v] of values)
    lines.set(
      key,
      sparkline(
        v.map((d) => (d === null ? null : d.toString())),
        opts.width ?? TERMINAL_SPARK_WIDTH,
      ),
    );
  return { window: size, lines };
}

/** A query's result and, when asked, the sparklines of its rows. */
export async function runQueryWithSparklines(
  store: Store,
  o: QueryOptions,
  sparklines: boolean,
): Promise<{ result: QueryResult; sparklines: UsageSparklines | null }> {
  // The sparklines run a query of their own; they are read before the result's rows start streaming.
  const lines = sparklines ? await usageSparklines(store, o) : null;
  return { result: await runQuery(store, o), sparklines: lines };
}

/** Every stored event, counted (the meter used without a config), over the whole store in UTC. */
const ALL_EVENTS: QueryOptions = { meters: [], tz: 'UTC', subjects: [], groupBy: [], filters: [], fill: false, allSubjects: false };

/** Every subject with its event count and first and last event time and, when asked, a sparkline of its events. */
export async function listSubjects(
  store: Store,
  sparklines: boolean,
): Promise<{ rows: SubjectSummary[]; sparklines: UsageSparklines | null }> {
  const rows = await store.subjects();
  return { rows, sparklines: sparklines ? await usageSparklines(store, ALL_EVENTS, { bySubject: true }) : null };
}
