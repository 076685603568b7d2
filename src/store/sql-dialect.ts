/**
 * Pieces of meter SQL that depend only on the window plan: shared by the SQL stores so that every backend puts an
 * event into the same window. Only numbers computed here (never user text) are spliced into SQL.
 */
import { DAY_MS, EPOCH_SHIFT_MS, type OffsetSegment, type WindowPlan } from '../core/window.js';

/** How a backend spells the few functions the window key needs. */
export interface WindowDialect {
  /** A conditional: CASE WHEN ... in SQLite, multiIf(...) in ClickHouse. */
  cases(branches: Array<[cond: string, value: string]>, otherwise: string): string;
  greatest(a: string, b: string): string;
  /** Integer division toward zero of two non-negative integers. */
  intDiv(a: string, b: string): string;
  /** `yyyymm` of a day number (days since 1970-01-01) as an integer. */
  monthOfDay(day: string): string;
  /**
   * An integer literal as the backend must spell it so that arithmetic with it stays 64-bit (ClickHouse types a
   * literal by its value, and `Int64 % 60000` is an Int16 there). Absent: the digits as they are.
   */
  int?(digits: string): string;
  /** The remainder of two non-negative integers. Absent: `(a % b)`. */
  mod?(a: string, b: string): string;
}

function intText(n: number): string {
  if (!Number.isSafeInteger(n)) throw new RangeError(`not an integer: ${n}`);
  return String(n);
}

/**
 * The SQL expression of the window key of `timeCol` (epoch ms) under a plan: per offset segment, integer
 * arithmetic on the local clock (see WindowPlan.keyOf, which this mirrors exactly).
 */
export function windowKeySql(plan: WindowPlan, timeCol: string, d: WindowDialect): string {
  const int = (n: number): string => (d.int ? d.int(intText(n)) : intText(n));
  const mod = (a: string, b: string): string => (d.mod ? d.mod(a, b) : `(${a} % ${b})`);
  const segs = plan.segments;
  /** `value` of the offset segment that holds the time: that value for one segment, else a conditional. */
  const bySegment = (value: (s: OffsetSegment) => string): string => {
    if (segs.length === 1) return value(segs[0]!);
    const branches = segs.slice(0, -1).map((s, i): [string, string] => [`${timeCol} < ${int(segs[i + 1]!.start)}`, value(s)]);
    return d.cases(branches, value(segs[segs.length - 1]!));
  };
  if (plan.size === 'MINUTE' || plan.size === 'HOUR') {
    const size = int(plan.fixedMs);
    return bySegment((s) => {
      const start = `(${timeCol} - ${mod(`(${timeCol} + ${int(s.offsetMs + EPOCH_SHIFT_MS)})`, size)})`;
      return s.start === -Infinity ? start : d.greatest(int(s.start), start);
    });
  }
  // Day and month: the offset is chosen per segment and the day (and month) computed once from it. A key per
  // segment would repeat the month arithmetic (long in ClickHouse) once per segment, past the server's query size
  // for a zone with DST over a few years.
  const local = `(${timeCol} + ${bySegment((s) => int(s.offsetMs + EPOCH_SHIFT_MS))})`;
  const day = `(${d.intDiv(local, int(DAY_MS))} - ${int(EPOCH_SHIFT_MS / DAY_MS)})`;
  return plan.size === 'DAY' ? day : d.monthOfDay(day);
}
