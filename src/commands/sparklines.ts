/** When the terminal tables of `meter query` and `meter subjects` get a sparkline column. */
import { UsageError } from '../errors.js';

interface SparkFlags {
  /** true: --sparklines; false: --no-sparklines; undefined: when stdout is a terminal. */
  sparklines?: boolean;
  format: string;
  window?: string;
  output?: string;
}

/**
 * Whether to draw sparklines: asked for, or a table going to a terminal. Never in CSV or JSON, and not beside a
 * table that already has a row per window; asking for them there is a usage error rather than a silent no.
 */
export function wantSparklines(flags: SparkFlags): boolean {
  if (flags.sparklines === true) {
    if (flags.format !== 'table') throw new UsageError(`--sparklines: only in tables, not in --format ${flags.format}`);
    if (flags.window !== undefined && flags.window !== 'none')
      throw new UsageError('--sparklines: a table with --window already has a row per window; leave out --window');
    return true;
  }
  return (
    flags.sparklines === undefined &&
    flags.format === 'table' &&
    (flags.window === undefined || flags.window === 'none') &&
    flags.output === undefined &&
    Boolean(process.stdout.isTTY)
  );
}
