/**
 * Sparklines: a row of block characters (`▁▂▃▄▅▆▇█`) showing the shape of a series of exact decimal values, for
 * terminal tables and the HTML report's tables. Only the shape is drawn, so the values go through doubles here;
 * the exact values are printed beside it.
 */

export const SPARK_LEVELS = '▁▂▃▄▅▆▇█';

/** A value as a double for drawing: huge decimals clamp to the largest double instead of becoming Infinity. */
function toNumber(text: string): number {
  const n = Number(text);
  if (Number.isFinite(n)) return n;
  return Number.isNaN(n) ? 0 : Math.sign(n) * Number.MAX_VALUE;
}

/**
 * Values (decimal text; null for a window without a value) -> a sparkline, one character per value, or per bucket
 * of values when there are more than `width` (a bucket shows the mean of its values, so unequal buckets at the
 * edges keep their height). Bars rise from the lower of 0 and the smallest value to the largest value, so usage
 * of 0 is the lowest bar and a steady series is a full row; a window without a value is a space.
 */
export function sparkline(values: ReadonlyArray<string | null>, width = Infinity): string {
  let points: Array<number | null> = values.map((v) => (v === null ? null : toNumber(v)));
  if (points.length > width && width >= 1) {
    const w = Math.floor(width);
    const buckets: Array<number | null> = [];
    for (let i = 0; i < w; i++) {
      const from = Math.floor((i * points.length) / w),
        to = Math.floor(((i + 1) * points.length) / w);
      let sum = 0,
        n = 0;
      for (let k = from; k < to; k++) {
        const p = points[k];
        if (p !== null && p !== undefined) (sum += p), n++;
      }
      // Huge values can overflow the sum: then the mean is summed from parts divided first.
      if (!Number.isFinite(sum)) {
        sum = 0;
        for (let k = from; k < to; k++) sum += (points[k] ?? 0) / n;
        n = n === 0 ? 0 : 1;
      }
      buckets.push(n === 0 ? null : sum / n);
    }
    points = buckets;
  }
  let lo = 0,
    hi = 0;
  for (const p of points) {
    if (p === null) continue;
    if (p > hi) hi = p;
    if (p < lo) lo = p;
  }
  let out = '';
  for (const p of points) out += p === null ? ' ' : hi === lo ? SPARK_LEVELS[0] : levelOf(p, lo, hi);
  return out;
}

/** The level of p in [lo, hi]; halves, so that hi - lo cannot overflow a double. */
function levelOf(p: number, lo: number, hi: number): string {
  const f = (p / 2 - lo / 2) / (hi / 2 - lo / 2);
  return SPARK_LEVELS[Math.max(0, Math.min(7, Math.floor(f * 8)))]!;
}
