/** Opens the store a `--db` value names: a SQLite file path, or a clickhouse:// URL. */
import { SqliteStore } from './sqlite/store.js';
import type { Store } from './store.js';

export const DEFAULT_DB = 'meter.db';

/** `--db`, else METER_DB, else ./meter.db. */
export function resolveDb(flag: string | undefined): string {
  return flag ?? process.env.METER_DB ?? DEFAULT_DB;
}

export function isClickHouseUrl(spec: string): boolean {
  return /^clickhouse:\/\//i.test(spec);
}

export async function openStore(spec: string, opts: { readonly?: boolean } = {}): Promise<Store> {
  if (isClickHouseUrl(spec)) {
    const { ClickHouseStore } = await import('./clickhouse/store.js');
    return ClickHouseStore.open(spec, opts);
  }
  return SqliteStore.open(spec, opts);
}
