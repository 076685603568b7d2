/**
 * Meters in OpenMeter's config format (the `meters:` list of its config.yaml) and their validation, free of I/O.
 * Validation collects every problem of every meter, each naming the meter's slug and the field.
 */
import { ConfigError, yamlProblem } from '../errors.js';
import { parseYamlFile, type YamlFile } from './yaml.js';
import { decimalText } from './decimal.js';

export const AGGREGATIONS = ['SUM', 'COUNT', 'AVG', 'MIN', 'MAX', 'UNIQUE_COUNT', 'LATEST'] as const;
export type Aggregation = (typeof AGGREGATIONS)[number];

/** A meter: what to count, how, and by which dimensions. */
export interface Meter {
  slug: string;
  description?: string;
  /** Only events of this type count; null counts every type (the built-in meter used when none is configured). */
  eventType: string | null;
  aggregation: Aggregation;
  /** JSON path into `data` (`$.tokens`); absent for COUNT. */
  valueProperty?: string;
  /** Group-by key -> JSON path, in config order. */
  groupBy: Array<{ key: string; path: string }>;
}

const SLUG = /^[a-z0-9]+(?:_[a-z0-9]+)*$/;
/** Group-by keys the output names its own columns by (CSV: window_start, window_end, subject, value). */
const RESERVED_KEYS = ['subject', 'value', 'window_start', 'window_end', 'windowStart', 'windowEnd'];
const GROUP_KEY = /^[a-zA-Z_][0-9a-zA-Z_]*$/;
/** `$.a.b`, `$.a[0].b`, `$.completion-tokens`: keys without dots, brackets, quotes or spaces. */
const JSON_PATH = /^\$(?:\.[^.[\]"'\\\s\u0000-\u001f]+|\[\d+\])+$/;

/** Checks a `$.a.b` style path; returns a problem text or null. */
export function checkJsonPath(path: unknown): string | null {
  if (typeof path !== 'string') return 'must be a JSON path string like $.tokens';
  if (!JSON_PATH.test(path)) return `"${path}" is not a $.a.b style JSON path`;
  return null;
}

/** The JSON path's steps: object keys (strings) and array indexes (numbers). */
const stepCache = new Map<string, Array<string | number>>();

export function pathSteps(path: string): Array<string | number> {
  const cached = stepCache.get(path);
  if (cached !== undefined) return cached;
  const steps: Array<string | number> = [];
  for (const m of path.slice(1).matchAll(/\.([^.[\]]+)|\[(\d+)\]/g)) {
    steps.push(m[1] !== undefined ? m[1] : Number(m[2]));
  }
  if (stepCache.size < 1000) stepCache.set(path, steps);
  return steps;
}

/**
 * The member `step` of a parsed JSON object or array when it is its own: a `constructor` or `toString` it lacks is
 * absent, not Object's. What parsed JSON inherits is a function or `__proto__` (JSON holds no function): checked so,
 * as hasOwn for every step cost the parse worker 10% with --map openai.
 */
export function ownMember(v: object, step: string | number): unknown {
  const x: unknown = (v as Record<string | number, unknown>)[step];
  return typeof x === 'function' || (step === '__proto__' && !Object.hasOwn(v, step)) ? undefined : x;
}

/** Reads the value at a path of a parsed `data` object (undefined when missing). */
export function valueAtPath(data: unknown, path: string): unknown {
  let v: unknown = data;
  for (const step of pathSteps(path)) {
    if (v === null || typeof v !== 'object') return undefined;
    if (typeof step === 'number' ? !Array.isArray(v) : Array.isArray(v)) return undefined;
    v = ownMember(v, step);
  }
  return v;
}

/** True when a meter can use the event's data: its value counts (numbers) or exists (UNIQUE_COUNT). */
export function meterCanUse(meter: Meter, data: unknown): boolean {
  if (meter.valueProperty === undefined) return true;
  const v = valueAtPath(data, meter.valueProperty);
  if (meter.aggregation === 'UNIQUE_COUNT') {
    return v !== undefined && v !== null && typeof v !== 'object';
  }
  // Every JSON number of an accepted event is kept exactly (core/json.ts), even one JSON.parse made Infinity.
  return typeof v === 'number' || decimalText(v) !== null;
}

/** Validates the raw `meters:` list; throws ConfigError listing every problem. */
export function validateMeters(raw: unknown, file: string, lineOf: (path: Array<string | number>) => number | null = () => null): Meter[] {
  const problems: string[] = [];
  // A problem read from a file starts with its line, as a price file's do.
  const on = (path: Array<string | number>, text: string) => {
    const line = lineOf(path);
    problems.push(line === null ? text : `line ${line}: ${text}`);
  };
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw new ConfigError(file, ['meters: must be a list']);
  const meters: Meter[] = [];
  const seen = new Set<string>();
  raw.forEach((m: unknown, i: number) => {
    const where = (field: string) =>
      `meter ${typeof (m as { slug?: unknown })?.slug === 'string' ? `"${(m as { slug: string }).slug}"` : `#${i + 1}`} ${field}`;
    if (m === null || typeof m !== 'object' || Array.isArray(m)) {
      on(['meters', i], `meter #${i + 1}: must be a mapping with slug, eventType, aggregation`);
      return;
    }
    const o = m as Record<string, unknown>;
    const before = problems.length;
    /** A problem of `field` (`groupBy.KEY` for a key of groupBy). */
    const at = (field: string, text: string) => {
      const dot = field.indexOf('.');
      on(['meters', i, ...(dot < 0 ? [field] : [field.slice(0, dot), field.slice(dot + 1)])], `${where(field)}: ${text}`);
    };
    // A value of another kind is named as such (`slug: 123` is a number there, not a slug left out).
    const kind = (v: unknown) => (v === undefined || v === null ? 'missing' : `not a string (${String(JSON.stringify(v)).slice(0, 60)})`);
    if (typeof o.slug !== 'string') at('slug', kind(o.slug));
    else if (!SLUG.test(o.slug) || o.slug.length > 64) {
      at('slug', 'must match ^[a-z0-9]+(?:_[a-z0-9]+)*$ and be 1-64 characters');
    } else if (seen.has(o.slug)) at('slug', 'defined twice');
    else seen.add(o.slug);
    if (typeof o.eventType !== 'string' || o.eventType.length === 0) at('eventType', o.eventType === '' ? 'missing' : kind(o.eventType));
    const agg = typeof o.aggregation === 'string' ? o.aggregation.toUpperCase() : o.aggregation;
    if (!AGGREGATIONS.includes(agg as Aggregation)) {
      at('aggregation', `${JSON.stringify(o.aggregation ?? null)} is not one of ${AGGREGATIONS.join(', ')}`);
    }
    if (agg === 'COUNT') {
      if (o.valueProperty !== undefined && o.valueProperty !== null && o.valueProperty !== '') {
        at('valueProperty', 'COUNT counts events and takes no valueProperty');
      }
    } else {
      // Checked whatever the aggregation, so that a bad aggregation and a bad path are listed together.
      if (o.valueProperty === undefined || o.valueProperty === null || o.valueProperty === '') {
        if (AGGREGATIONS.includes(agg as Aggregation)) at('valueProperty', `required for ${agg}`);
      } else {
        const p = checkJsonPath(o.valueProperty);
        if (p) at('valueProperty', p);
      }
    }
    const groupBy: Array<{ key: string; path: string }> = [];
    if (o.groupBy !== undefined && o.groupBy !== null) {
      if (typeof o.groupBy !== 'object' || Array.isArray(o.groupBy)) {
        at('groupBy', 'must be a mapping of key: $.path');
      } else {
        for (const [key, path] of Object.entries(o.groupBy as Record<string, unknown>)) {
          if (!GROUP_KEY.test(key)) at(`groupBy.${key}`, 'key must match ^[a-zA-Z_][0-9a-zA-Z_]*$');
          // `subject` is a column of every row; `type` is allowed: OpenMeter's own example config groups by it.
          // The output's own columns: a group named so would give CSV two columns of one name.
          if (RESERVED_KEYS.includes(key)) at(`groupBy.${key}`, `"${key}" is reserved`);
          const p = checkJsonPath(path);
          if (p) at(`groupBy.${key}`, p);
          groupBy.push({ key, path: String(path) });
        }
      }
    }
    if (o.description !== undefined && o.description !== null && typeof o.description !== 'string') {
      at('description', 'must be text');
    }
    if (problems.length > before) return;
    const meter: Meter = {
      slug: o.slug as string,
      eventType: o.eventType as string,
      aggregation: agg as Aggregation,
      groupBy,
    };
    if (typeof o.description === 'string') meter.description = o.description;
    if (agg !== 'COUNT') meter.valueProperty = o.valueProperty as string;
    meters.push(meter);
  });
  if (problems.length > 0) throw new ConfigError(file, problems);
  return meters;
}

/** Parses a config file's text (YAML or JSON); other top-level keys of an OpenMeter config are ignored. */
export function parseMeterConfig(text: string, file: string): Meter[] {
  let parsed: YamlFile;
  try {
    parsed = parseYamlFile(text);
  } catch (e) {
    throw new ConfigError(file, [yamlProblem(e)]);
  }
  const doc = parsed.value;
  if (doc === null || doc === undefined) return [];
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(file, ['must be a mapping with a meters: list']);
  return validateMeters((doc as Record<string, unknown>).meters, file, parsed.lineOf);
}

/** The meter used when no config defines any: counts every event, grouped by type. */
export const EVENTS_METER: Meter = {
  slug: 'events',
  description: 'all stored events, counted per type (no meter configured)',
  eventType: null,
  aggregation: 'COUNT',
  groupBy: [],
};
