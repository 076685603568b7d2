/**
 * The query shapes of the benchmark, each as `meter query ... --format csv -o file` on the store next to DuckDB on
 * the raw log (duckdb-shapes.ts), alternating in every run so both see the same machine load; the values of the
 * two CSV files are compared once per shape.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Shape {
  name: string;
  label: string;
  /** meter query flags. */
  args: string[];
}

export const SHAPES: Shape[] = [
  { name: 'hourly', label: 'hourly per subject', args: ['--window', 'hour'] },
  { name: 'monthly', label: 'monthly per subject (invoice)', args: ['--window', 'month'] },
  { name: 'total', label: 'total per subject, no window', args: [] },
  { name: 'daily-model', label: 'daily per subject by model', args: ['--window', 'day', '--group-by', 'model'] },
  { name: 'one-subject', label: 'one subject, hourly', args: ['--window', 'hour', '--subject', 'customer-0042'] },
];

export type Timer = (cmd: string, args: string[]) => { seconds: number };

export function load(): string {
  return `load ${os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')} on ${os.cpus().length} cores`;
}

/**
 * A CSV of either tool as sorted "start|...|value" lines: times as epoch ms (meter prints RFC 3339, DuckDB
 * `yyyy-mm-dd hh:mm:ss[.fff]` in UTC); meter's window_end column is dropped unless the shape has no window, where
 * meter's first/last event times stand in the place of DuckDB's min/max.
 */
function normalized(file: string, tool: 'meter' | 'duckdb', windowed: boolean): string[] {
  const lines = fs.readFileSync(file, 'utf8').trim().split('\n').slice(1);
  const ms = (t: string) => String(Date.parse(tool === 'meter' ? t : t.replace(' ', 'T') + 'Z'));
  return lines
    .map((l) => {
      const c = l.split(',');
      if (tool === 'meter') return [ms(c[0]!), ...(windowed ? [] : [ms(c[1]!)]), ...c.slice(2)].join('|');
      return windowed ? [ms(c[0]!), ...c.slice(1)].join('|') : [ms(c[0]!), ms(c[1]!), ...c.slice(2)].join('|');
    })
    .sort();
}

/** Runs one DuckDB dedupe variant per name on one shape; the fastest whose values equal the first one's wins. */
export function chooseDedupe(timer: Timer, duck: (shape: string, dedupe: string, out: string) => [string, string[]], dir: string): string {
  let best = '',
    bestS = Infinity,
    ref = '';
  for (const d of ['distinct-on', 'qualify', 'arg_min']) {
    const out = path.join(dir, `dedupe-${d}.csv`);
    const t = timer(...duck('monthly', d, out)).seconds;
    const text = fs.readFileSync(out, 'utf8');
    const same = ref === '' || text === ref;
    if (ref === '') ref = text;
    process.stdout.write(
      `  DuckDB dedupe ${d.padEnd(12)} ${t.toFixed(2).padStart(7)} s  ${same ? 'same totals' : 'DIFFERENT totals: not used'}\n`,
    );
    if (same && t < bestS) [best, bestS] = [d, t];
  }
  return best;
}

export interface ShapeResult {
  shape: Shape;
  meter: number[];
  raw: number[];
  duck: number[];
  rows: number;
  equal: boolean;
}

/**
 * Every shape, `runs` times: meter (rollups), meter --no-rollup and DuckDB, alternating. The caller has run one
 * query after the ingest already, so the rollups are caught up.
 */
export function runShapes(
  timer: Timer,
  meter: (args: string[]) => [string, string[]],
  duck: (shape: string, out: string) => [string, string[]],
  runs: number,
  dir: string,
): ShapeResult[] {
  const results: ShapeResult[] = SHAPES.map((shape) => ({ shape, meter: [], raw: [], duck: [], rows: 0, equal: false }));
  for (let i = 0; i < runs; i++) {
    for (const r of results) {
      const mOut = path.join(dir, `${r.shape.name}.meter.csv`),
        rOut = path.join(dir, `${r.shape.name}.raw.csv`);
      const dOut = path.join(dir, `${r.shape.name}.duckdb.csv`);
      r.meter.push(timer(...meter([...r.shape.args, '--format', 'csv', '-o', mOut])).seconds);
      r.duck.push(timer(...duck(r.shape.name, dOut)).seconds);
      r.raw.push(timer(...meter([...r.shape.args, '--no-rollup', '--format', 'csv', '-o', rOut])).seconds);
      if (i === 0) {
        const windowed = r.shape.args.includes('--window');
        const m = normalized(mOut, 'meter', windowed),
          d = normalized(dOut, 'duckdb', windowed);
        r.rows = m.length;
        r.equal = m.join('\n') === d.join('\n') && fs.readFileSync(mOut, 'utf8') === fs.readFileSync(rOut, 'utf8');
      }
    }
  }
  return results;
}
