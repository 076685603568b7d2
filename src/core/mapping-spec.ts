/**
 * Mapping specs: the rules of a mapping file (or of a built-in map) as written, and their compilation into the
 * rules mapping.ts applies to each record, with every problem of a spec listed at once. Pure: no I/O.
 */
import { ConfigError } from '../errors.js';
import { canonicalNumber, decimalText } from './decimal.js';
import { checkJsonPath, pathSteps } from './meter.js';
import { pathKey } from './path-tree.js';

export type Scalar = string | number | boolean;
export const TIME_FORMATS = ['rfc3339', 'unix', 'unix_ms'] as const;
export type TimeFormat = (typeof TIME_FORMATS)[number];
/** What a data field must hold: `count` is a non-negative safe integer (token counts); `number` any exact number. */
export const VALUE_KINDS = ['any', 'string', 'number', 'count', 'boolean'] as const;
export type ValueKind = (typeof VALUE_KINDS)[number];

/** One field as written: a path (`$.a.b`), a list of paths, a literal, or the long form. */
export type FieldInput = Scalar | string[] | FieldSpec;
export interface FieldSpec {
  path?: string | string[];
  value?: Scalar;
  /** Used when no path is present. */
  default?: Scalar;
  as?: ValueKind;
  /** A record without the field is rejected (default: true for id, subject, time; false for data fields). */
  required?: boolean;
  /** `time` only. */
  timeFormat?: TimeFormat;
  /** `subject` only: a regular expression whose first capture group is the subject. */
  pattern?: string;
}
export interface MappingSpec {
  id: FieldInput;
  time?: FieldInput;
  subject: FieldInput;
  source?: FieldInput;
  type: FieldInput;
  data?: Record<string, FieldInput>;
}

/** The command line's say over a mapping (`--source`, `--subject-path`, `--subject-pattern`). */
export interface MapOverrides {
  source?: string;
  subjectPath?: string;
  subjectPattern?: string;
}

export interface Path {
  text: string;
  steps: Array<string | number>;
  /** The path in the one spelling readPaths names the members it reads by (pathKey). */
  key: string;
}
export interface Rule {
  name: string;
  paths: Path[];
  value?: Scalar;
  default?: Scalar;
  as: ValueKind;
  required: boolean;
  /** Data fields: the key. */
  key?: string;
  /** Data fields: the key's JSON text and colon, made once (the event text is built per record), when canonical. */
  keyText?: string;
  /** A literal's [JSON text, value], made once. */
  literal?: [string, Scalar];
  /** The default's [JSON text, value], made once. */
  fallback?: [string, Scalar];
}
export interface Mapping {
  id: Rule;
  time: (Rule & { format: TimeFormat }) | null;
  subject: Rule & { pattern: RegExp | null };
  source: Rule;
  type: Rule;
  data: Rule[];
}

const SPEC_KEYS = ['id', 'time', 'subject', 'source', 'type', 'data'];
const FIELD_KEYS = ['path', 'value', 'default', 'as', 'required', 'timeFormat', 'pattern'];

/** A problem with a --subject-pattern or `pattern:` (null when fine): it must compile and capture. */
export function checkPattern(p: string): string | null {
  let re: RegExp;
  try {
    re = new RegExp(p);
  } catch (e) {
    return `not a regular expression (${(e as Error).message})`;
  }
  return new RegExp(`${re.source}|`).exec('')!.length > 1 ? null : 'needs a capture group, e.g. ^(cust_[0-9]+):';
}

function isScalar(v: unknown): v is Scalar {
  return typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}

/** What each kind asks of a value, for messages. */
const KIND_TEXT: Record<ValueKind, string> = {
  any: 'a value',
  string: 'a string',
  number: 'a number',
  count: 'a non-negative whole number up to 2^53-1',
  boolean: 'true or false',
};

/**
 * A literal or default as its field emits it, [JSON text, value], or null when its `as` refuses it: a record's
 * value is checked, and so is what stands in for it. A number is written in canonical form; `as: number` takes a
 * numeric string as a number, as it does in a record (a way to give more digits than YAML's numbers keep).
 */
function asKind(kind: ValueKind, v: Scalar): [string, Scalar] | null {
  if (typeof v === 'number') {
    if (kind === 'string' || kind === 'boolean' || (kind === 'count' && !(Number.isSafeInteger(v) && v >= 0))) return null;
    return [decimalText(v)!, v];
  }
  if (typeof v === 'string') {
    if (kind === 'number') {
      const c = canonicalNumber(v);
      return c === null ? null : [c, Number(c)];
    }
    return kind === 'string' || kind === 'any' ? [JSON.stringify(v), v] : null;
  }
  return kind === 'boolean' || kind === 'any' ? [String(v), v] : null;
}

/** Compiles one field, adding its problems (named by `name`) to `problems`. */
function compileField(
  name: string,
  input: unknown,
  problems: string[],
  dflt: { required: boolean },
): Rule & { format: TimeFormat; pattern: RegExp | null } {
  const rule: Rule & { format: TimeFormat; pattern: RegExp | null } = {
    name,
    paths: [],
    as: 'any',
    required: dflt.required,
    format: 'rfc3339',
    pattern: null,
  };
  const addPath = (p: unknown) => {
    const problem = checkJsonPath(p);
    if (problem)
      problems.push(
        `${name}: ${problem}${typeof p === 'string' && p.startsWith('$') ? ' (write {value: ...} for a literal starting with $)' : ''}`,
      );
    else {
      const steps = pathSteps(p as string);
      rule.paths.push({ text: p as string, steps, key: pathKey(steps) });
    }
  };
  let spec: FieldSpec;
  if (typeof input === 'string' && input.startsWith('$')) spec = { path: input };
  else if (isScalar(input)) spec = { value: input };
  else if (Array.isArray(input)) spec = { path: input as string[] };
  else if (input !== null && typeof input === 'object') spec = input as FieldSpec;
  else {
    problems.push(`${name}: must be a JSON path, a list of paths, a literal or a mapping with path/value`);
    return rule;
  }
  for (const key of Object.keys(spec))
    if (!FIELD_KEYS.includes(key)) problems.push(`${name}.${key}: unknown (expected ${FIELD_KEYS.join(', ')})`);
  if (spec.path !== undefined) {
    const list = Array.isArray(spec.path) ? spec.path : [spec.path];
    if (list.length === 0) problems.push(`${name}.path: empty list`);
    list.forEach(addPath);
  }
  if (spec.as !== undefined) {
    if (!VALUE_KINDS.includes(spec.as)) problems.push(`${name}.as: ${JSON.stringify(spec.as)} is not one of ${VALUE_KINDS.join(', ')}`);
    else rule.as = spec.as;
  }
  const standIn = (key: 'value' | 'default', v: unknown): [string, Scalar] | undefined => {
    if (!isScalar(v)) {
      problems.push(`${name}.${key}: must be a string, number or boolean`);
      return undefined;
    }
    const r = asKind(rule.as, v);
    if (r === null) problems.push(`${name}.${key}: ${JSON.stringify(v)} is not ${KIND_TEXT[rule.as]} (as: ${rule.as})`);
    return r ?? undefined;
  };
  if (spec.value !== undefined) {
    const literal = standIn('value', spec.value);
    if (literal !== undefined) {
      rule.value = literal[1];
      rule.literal = literal;
    }
    if (spec.path !== undefined) problems.push(`${name}: give either path or value, not both`);
  } else if (spec.path === undefined) problems.push(`${name}: needs a path or a value`);
  if (spec.default !== undefined) {
    const fallback = standIn('default', spec.default);
    if (fallback !== undefined) {
      rule.default = fallback[1];
      rule.fallback = fallback;
    }
  }
  if (spec.required !== undefined) {
    if (typeof spec.required !== 'boolean') problems.push(`${name}.required: must be true or false`);
    else rule.required = spec.required;
  }
  if (spec.timeFormat !== undefined) {
    if (name !== 'time') problems.push(`${name}.timeFormat: only time takes a timeFormat`);
    else if (!TIME_FORMATS.includes(spec.timeFormat))
      problems.push(`time.timeFormat: ${JSON.stringify(spec.timeFormat)} is not one of ${TIME_FORMATS.join(', ')}`);
    else rule.format = spec.timeFormat;
  }
  if (spec.pattern !== undefined) {
    const problem =
      name !== 'subject' ? 'only subject takes a pattern' : typeof spec.pattern !== 'string' ? 'must be text' : checkPattern(spec.pattern);
    if (problem) problems.push(`${name}.pattern: ${problem}`);
    else rule.pattern = new RegExp(spec.pattern);
  }
  return rule;
}

/**
 * Compiles a mapping spec (a parsed mapping file, or a built-in spec); throws ConfigError listing every problem.
 * `--source` and `--subject-path` replace the spec's rules; `--subject-pattern` its subject pattern. `literalCheck`
 * adds the problems of its literals that only applying them finds (core/mapping.ts's literalProblems).
 */
export function compileMapping(
  raw: unknown,
  file: string,
  o: MapOverrides = {},
  literalCheck: (m: Mapping) => string[] = () => [],
): Mapping {
  const problems: string[] = [];
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new ConfigError(file, ['must be a mapping with id, subject, type and data'], 'mapping');
  const spec = raw as Record<string, unknown>;
  for (const key of Object.keys(spec)) if (!SPEC_KEYS.includes(key)) problems.push(`${key}: unknown (expected ${SPEC_KEYS.join(', ')})`);
  // Fields reported missing stand in as empty literals, whose literal check would say so again.
  const missing = new Set<Rule>();
  const field = (name: string, input: unknown, required: boolean) => {
    if (input === undefined || input === null) {
      problems.push(`${name}: missing${name === 'source' ? ' (or give --source)' : ''}`);
      const rule = compileField(name, '', [], { required });
      missing.add(rule);
      return rule;
    }
    return compileField(name, input, problems, { required });
  };
  const id = field('id', spec.id, true);
  // An id that is the same for every record makes every record after the first a duplicate, dropped by dedupe:
  // usage lost with exit 0. (`id: request_id` without `$.` is such a literal.)
  if (!missing.has(id) && (id.literal !== undefined || id.fallback !== undefined))
    problems.push(
      `id: ${id.literal !== undefined ? `the literal ${id.literal[0]}` : `the default ${id.fallback![0]}`} would give records the same id, and dedupe would keep one of them; write a JSON path ($.request_id)`,
    );
  const time = spec.time === undefined || spec.time === null ? null : field('time', spec.time, true);
  const subject = field('subject', o.subjectPath ?? spec.subject, true);
  if (o.subjectPattern !== undefined) {
    const problem = checkPattern(o.subjectPattern);
    if (problem) problems.push(`--subject-pattern: ${problem}`);
    else subject.pattern = new RegExp(o.subjectPattern);
  }
  const source = o.source !== undefined ? field('source', { value: o.source }, true) : field('source', spec.source, true);
  const type = field('type', spec.type, true);
  const data: Rule[] = [];
  if (spec.data !== undefined && spec.data !== null) {
    if (typeof spec.data !== 'object' || Array.isArray(spec.data)) problems.push('data: must be a mapping of field: rule');
    else
      for (const [key, input] of Object.entries(spec.data)) {
        if (key.length === 0) problems.push('data: a field has an empty name');
        // A key holding a lone surrogate has no canonical text: it is left to validation, which refuses it.
        const keyText = key.isWellFormed() ? `${JSON.stringify(key)}:` : undefined;
        data.push({ ...compileField(`data.${key}`, input, problems, { required: false }), key, keyText });
      }
  }
  // Every event has an id, and a subject, source and type, each a string: an id rule that may give none, or a rule
  // that takes a number or a boolean, fails every record it does. (A time may be left out: the ingestion time.)
  if (!missing.has(id) && !id.required) problems.push('id.required: an id is always required');
  for (const rule of [id, subject, source, type])
    if (!missing.has(rule) && rule.as !== 'any' && rule.as !== 'string')
      problems.push(`${rule.name}.as: ${rule.name} is text (as: string)`);
  const m = { id, time, subject, source, type, data };
  const live = <R extends Rule>(r: R): R => (missing.has(r) ? { ...r, value: undefined } : r);
  problems.push(...literalCheck({ ...m, id: live(id), subject: live(subject), source: live(source), type: live(type) }));
  if (problems.length > 0) throw new ConfigError(file, problems, 'mapping');
  return m;
}
