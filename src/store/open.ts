/** Opens the store a `--db` value names: a SQLite file path, or a clickhouse:// URL. */
import { SqliteStore } from './sqlite/store.js';
import type { Store } from './store.js';
import { UsageError } from '../errors.js';

export const DEFAULT_DB = 'meter.db';

/** `--db`, else METER_DB (when not empty), else ./meter.db. */
export function resolveDb(flag: string | undefined): string {
  if (flag === '') throw new UsageError('--db: empty; give a SQLite file path or clickhouse://host:8123/db');
  const spec = flag ?? (process.env.METER_DB || undefined) ?? DEFAULT_DB;
  // Anything that starts like a URL (`sqlite:x.db`, `postgres://...`, `clickhouse:x`) but a clickhouse:// URL would
  // otherwise become a SQLite file of that name; a file whose name has a colon is written ./a:b.db.
  if (/^[a-z][a-z0-9+.-]*:/i.test(spec) && !isClickHouseUrl(spec)) {
    const from = flag === undefined ? 'METER_DB' : '--db';
    throw new UsageError(
      `${from} ${spec}: not a store meter can open; give a SQLite file path (./${spec} for a file of that name) or clickhouse://host:8123/db`,
    );
  }
  return spec;
}

export function isClickHouseUrl(spec: string): boolean {
  return /^clickhouse:\/\//i.test(spec);
}

export interface OpenOptions {
  readonly?: boolean;
  /** Told how a long rollup catch-up before a query advances (SQLite only: ClickHouse keeps no rollups). */
  onCatchUp?: (done: number, total: number) => void;
}

export async function openStore(spec: string, opts: OpenOptions = {}): Promise<Store> {
  if (isClickHouseUrl(spec)) {
    const { ClickHouseStore } = await import('./clickhouse/store.js');
    return ClickHouseStore.open(spec, { readonly: opts.readonly });
  }
  return SqliteStore.open(spec, opts);
}
