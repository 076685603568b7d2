/** Options and helpers shared by the commands, so the same flag means the same thing everywhere. */
import fs from 'node:fs';
import { Option, type Command } from 'commander';
import { parseMeterConfig, type Meter } from '../core/meter.js';
import { UsageError } from '../errors.js';
import { openStore, resolveDb } from '../store/open.js';
import type { Store } from '../store/store.js';

export const DEFAULT_CONFIG = 'meter.yaml';

/** Collects a repeatable option's values. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function positiveInt(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n <= 0) throw new UsageError(`${flag} "${value}": must be a positive whole number`);
    return n;
  };
}

export function addDbOption(cmd: Command): Command {
  return cmd.addOption(new Option('--db <path|url>', 'store: a SQLite file, or clickhouse://host:8123/db (default: $METER_DB or ./meter.db)'));
}

export function addConfigOption(cmd: Command): Command {
  return cmd.addOption(new Option('--config <file>', 'meter definitions, OpenMeter YAML (default: $METER_CONFIG or ./meter.yaml if present)'));
}

/** The meters of `--config`, else METER_CONFIG, else ./meter.yaml when present; none otherwise. */
export function loadMeters(flag: string | undefined): { meters: Meter[]; file: string | null } {
  const file = flag ?? process.env.METER_CONFIG ?? (fs.existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : null);
  if (file === null) return { meters: [], file: null };
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`${file}: cannot read meter config (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return { meters: parseMeterConfig(text, file), file };
}

export async function withStore<T>(db: string | undefined, readonly: boolean, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(resolveDb(db), { readonly });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** Output formats of the commands that print rows. */
export function formatOption(choices: string[], dflt: string): Option {
  return new Option('--format <format>', 'output format').choices(choices).default(dflt);
}
