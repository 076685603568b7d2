/** The ClickHouse store (scale-out). Placeholder until the ClickHouse issue lands. */
import { UsageError } from '../errors.js';
import type { Store } from './store.js';

export class ClickHouseStore {
  static async open(_spec: string, _opts: { readonly?: boolean }): Promise<Store> {
    throw new UsageError('the ClickHouse backend is not available in this build');
  }
}
