/**
 * Meter configs the tests (and the benchmark) share. Most tests meter `prompt` events whose data carries `tokens`
 * and `model`: the meters below are those, written once, and `meterConfig` writes any list of them as the YAML a
 * user would (the same text the tests used to spell out by hand).
 */
import type { UsageEvent } from '../src/core/event.js';
import type { Meter } from '../src/core/meter.js';
import type { MeterQuery } from '../src/core/ports.js';
import { WindowPlan } from '../src/core/window.js';

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
export const TOKENS: MeterSpec = {
  slug: 'tokens',
  eventType: 'prompt',
  aggregation: 'SUM',
  valueProperty: '$.tokens',
  groupBy: { model: '$.model' },
};

/** The number of prompts. */
export const CALLS: MeterSpec = { slug: 'calls', eventType: 'prompt', aggregation: 'COUNT' };

/** A meter of `aggregation` over a prompt's `path` (its tokens unless said), without group-by keys. */
export function promptMeter(slug: string, aggregation: MeterSpec['aggregation'], valueProperty = '$.tokens'): MeterSpec {
  return { slug, eventType: 'prompt', aggregation, valueProperty };
}

/** A SUM of data.tokens (`tokens`) and a COUNT (`events`) of `prompt` events, neither with group-by keys. */
export const TOKENS_AND_COUNT_METERS = meterConfig({ ...TOKENS, groupBy: undefined }, { ...CALLS, slug: 'events' });

/** A meter as the stores get it: of prompt events, grouped by model (the tests of the stores' query SQL). */
export function queryMeter(aggregation: Meter['aggregation'], valueProperty?: string): Meter {
  return { slug: 't', eventType: 'prompt', aggregation, valueProperty, groupBy: [{ key: 'model', path: '$.model' }] };
}

/** A COUNT of every prompt event: the query the SQL tests vary. */
export const BASE_QUERY: MeterQuery = {
  meter: queryMeter('COUNT'),
  window: null,
  subjects: [],
  groupBy: [],
  filters: [],
  perSubject: false,
};

export const NOV_1 = Date.parse('2026-11-01T00:00:00Z'),
  NOV_2 = Date.parse('2026-11-02T00:00:00Z');

/** A SUM of tokens per hour of 2026-11-01 (UTC), per subject, of one subject, filtered and grouped by model. */
export const HOURLY_SUM_QUERY: MeterQuery = {
  meter: queryMeter('SUM', '$.tokens'),
  window: new WindowPlan('HOUR', 'UTC', NOV_1, NOV_2),
  fromMs: NOV_1,
  toMs: NOV_2,
  subjects: ['acme'],
  groupBy: [{ key: 'model', path: '$.model' }],
  filters: [{ dimension: { key: 'model', path: '$.model' }, values: ['gpt-4o'] }],
  perSubject: true,
};

/** Strings that have broken naive escaping somewhere: subjects, group values and filters of the escaping tests. */
export const HOSTILE = [
  "'",
  "''",
  "\\'",
  '\\',
  '\\\\',
  "') OR 1=1 --",
  "x' OR '1'='1",
  "'; DROP TABLE events; --",
  'a\u0000b',
  '\u0000',
  'line\nbreak',
  'cr\rlf\r\n',
  'tab\there',
  '\b\f\v\u0007',
  '\\n',
  '\\0',
  '\\x41',
  '`backtick`',
  '"double"',
  '{param:String}',
  '$1 ? :name',
  '/* comment */',
  '-- comment',
  'é ü 中文 😀',
  '\u2028\u2029',
  '\ud800',
  ' leading and trailing ',
  '',
];

/** A validated event as a store's writer gets it, with its dedupe key given (two ids may share one: a collision). */
export function keyedEvent(id: string, key: number, over: Partial<UsageEvent> = {}): UsageEvent {
  return {
    id,
    source: 'src',
    type: 'prompt',
    subject: 'acme',
    timeMs: 1_790_000_000_000,
    timeMissing: false,
    data: '{"tokens":1}',
    key,
    ...over,
  };
}
