/**
 * Meter configs the tests (and the benchmark) share. Most tests meter `prompt` events whose data carries `tokens`
 * and `model`: the meters below are those, written once, and `meterConfig` writes any list of them as the YAML a
 * user would (the same text the tests used to spell out by hand).
 */

/** One meter of a config, as its YAML states it. */
export interface MeterSpec {
  slug: string;
  description?: string;
  eventType: string;
  aggregation: 'SUM' | 'COUNT' | 'AVG' | 'MIN' | 'MAX' | 'LATEST' | 'UNIQUE_COUNT';
  valueProperty?: string;
  /** Group-by key -> JSON path, in the order written. */
  groupBy?: Record<string, string>;
}

/** A meter config file's text: `meters:` and each meter's fields in the order OpenMeter's docs write them. */
export function meterConfig(...meters: MeterSpec[]): string {
  const out = ['meters:'];
  for (const m of meters) {
    out.push(`  - slug: ${m.slug}`);
    if (m.description !== undefined) out.push(`    description: ${m.description}`);
    out.push(`    eventType: ${m.eventType}`, `    aggregation: ${m.aggregation}`);
    if (m.valueProperty !== undefined) out.push(`    valueProperty: ${m.valueProperty}`);
    const groups = Object.entries(m.groupBy ?? {});
    if (groups.length) out.push('    groupBy:', ...groups.map(([k, p]) => `      ${k}: ${p}`));
  }
  return out.join('\n') + '\n';
}

/** The SUM of a prompt's tokens by model: the meter most tests and the benchmark query. */
export const TOKENS: MeterSpec = { slug: 'tokens', eventType: 'prompt', aggregation: 'SUM', valueProperty: '$.tokens', groupBy: { model: '$.model' } };

/** The number of prompts. */
export const CALLS: MeterSpec = { slug: 'calls', eventType: 'prompt', aggregation: 'COUNT' };

/** A meter of `aggregation` over a prompt's `path` (its tokens unless said), without group-by keys. */
export function promptMeter(slug: string, aggregation: MeterSpec['aggregation'], valueProperty = '$.tokens'): MeterSpec {
  return { slug, eventType: 'prompt', aggregation, valueProperty };
}

/** A SUM of data.tokens (`tokens`) and a COUNT (`events`) of `prompt` events, neither with group-by keys. */
export const TOKENS_AND_COUNT_METERS = meterConfig({ ...TOKENS, groupBy: undefined }, { ...CALLS, slug: 'events' });
