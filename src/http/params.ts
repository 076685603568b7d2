/**
 * Request parameters of the v1 API, checked with OpenMeter's rules and messages, and turned into the options of the
 * core's query use case (src/core/query.ts), so that `meter serve` and `meter query` run the same query engine.
 */
import type { Meter } from '../core/meter.js';
import type { QueryOptions } from '../core/query.js';
import { parseRfc3339 } from '../core/time.js';
import { checkTimeZone } from '../core/window.js';
import { badRequest } from './problem.js';

/** `{meterIdOrSlug}`: a slug or a ULID, at most 64 characters (anything else is 400, not 404, as in OpenMeter). */
const SLUG = /^[a-z0-9]+(?:_[a-z0-9]+)*$/;
const ULID = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

export function checkMeterIdOrSlug(value: string): string {
  if (value.length > 64 || !(SLUG.test(value) || ULID.test(value))) {
    throw badRequest(
      `parameter "meterIdOrSlug" in path has an error: ${JSON.stringify(value)} is not a meter slug (^[a-z0-9]+(?:_[a-z0-9]+)*$) ` +
        'or a ULID of at most 64 characters',
    );
  }
  return value;
}

/** The parameters of a meter query, from a GET query string or a POST body. */
export interface MeterQueryParams {
  /** Where they came from, which an error names: OpenMeter's `parameter "x" in query` or `request body`. */
  in: ParamSource;
  from?: string;
  to?: string;
  windowSize?: string;
  windowTimeZone?: string;
  subject: string[];
  groupBy: string[];
  /** Key -> accepted values (GET gives one value per key; POST a list). */
  filterGroupBy: Record<string, string[]>;
  filterCustomerId: string[];
}

/** Where a request's parameters are: its query string, or its JSON body. */
export type ParamSource = 'query' | 'body';

const WINDOW_SIZES = new Set(['MINUTE', 'HOUR', 'DAY', 'MONTH']);
/** Brackets may come literal or percent-encoded (URLSearchParams has decoded them by now). */
const FILTER_KEY = /^filterGroupBy\[(.*)\]$/;

/**
 * The filters by key, in an object without a prototype: keys come from the client, and on a plain object
 * `__proto__` would set its prototype instead of a key (dropping the filter without a word) and `constructor`
 * would find Object's own, so that neither reached the check of the meter's keys.
 */
const noFilters = (): Record<string, string[]> => Object.create(null) as Record<string, string[]>;

/** OpenMeter's clientId: 1 to 36 characters (code points, as its spec's minLength and maxLength count). */
const clientIdFits = (v: string) => v.length >= 1 && [...v].length <= 36;

/** The query string of a GET: repeatable `subject` and `groupBy`, `filterGroupBy[k]=v` (deepObject). */

export function meterQueryFromSearch(q: URLSearchParams): MeterQueryParams {
  const p: MeterQueryParams = {
    in: 'query',
    subject: q.getAll('subject'),
    groupBy: q.getAll('groupBy'),
    filterGroupBy: noFilters(),
    filterCustomerId: q.getAll('filterCustomerId'),
  };
  for (const name of ['from', 'to', 'windowSize', 'windowTimeZone'] as const) {
    const v = q.get(name);
    if (v !== null) p[name] = v;
  }
  // Only for a client's progress tracking (ignored), but checked as OpenMeter's spec checks it.
  const clientId = q.get('clientId');
  if (clientId !== null && !clientIdFits(clientId))
    throw badRequest('parameter "clientId" in query has an error: must be 1 to 36 characters long');
  for (const [k, v] of q) {
    const m = FILTER_KEY.exec(k);
    if (!m) continue;
    // deepObject holds one value per key: a repeated key is ambiguous (lists go through POST or $in).
    if (p.filterGroupBy[m[1]!] !== undefined)
      throw badRequest(`filterGroupBy[${m[1]}]: one value per key; send several values with POST or advancedMeterGroupByFilters $in`);
    p.filterGroupBy[m[1]!] = [v];
  }
  if (q.has('advancedMeterGroupByFilters')) applyAdvanced(p, q.get('advancedMeterGroupByFilters')!);
  return p;
}

/** The JSON body of a POST query (MeterQueryRequest). */
export function meterQueryFromBody(body: unknown): MeterQueryParams {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw badRequest('request body has an error: must be a JSON object (MeterQueryRequest)');
  const b = body as Record<string, unknown>;
  const str = (name: string): string | undefined => {
    const v = b[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw badRequest(`request body has an error: ${name}: must be a string`);
    return v;
  };
  const list = (name: string): string[] => {
    const v = b[name];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
      throw badRequest(`request body has an error: ${name}: must be an array of strings`);
    if (v.length > 100) throw badRequest(`request body has an error: ${name}: at most 100 items`);
    return v as string[];
  };
  const clientId = str('clientId');
  if (clientId !== undefined && !clientIdFits(clientId))
    throw badRequest('request body has an error: clientId: must be 1 to 36 characters long');
  const p: MeterQueryParams = {
    in: 'body',
    from: str('from'),
    to: str('to'),
    windowSize: str('windowSize'),
    windowTimeZone: str('windowTimeZone'),
    subject: list('subject'),
    groupBy: list('groupBy'),
    filterGroupBy: noFilters(),
    filterCustomerId: list('filterCustomerId'),
  };
  const f = b.filterGroupBy;
  if (f !== undefined && f !== null) {
    if (typeof f !== 'object' || Array.isArray(f))
      throw badRequest('request body has an error: filterGroupBy: must be an object of value lists');
    for (const [k, v] of Object.entries(f)) {
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
        throw badRequest(`request body has an error: filterGroupBy.${k}: must be an array of strings`);
      p.filterGroupBy[k] = v as string[];
    }
  }
  const adv = b.advancedMeterGroupByFilters;
  if (adv !== undefined && adv !== null) applyAdvanced(p, adv);
  return p;
}

/**
 * `advancedMeterGroupByFilters`: only what the core's filter (a key's value is one of a list) can answer,
 * `{"k": {"$eq": "v"}}` and `{"k": {"$in": ["v", ...]}}`; anything else is refused rather than answered wrongly.
 */
function applyAdvanced(p: MeterQueryParams, raw: unknown): void {
  // As in OpenMeter, the two filters exclude each other: which of them would narrow the other is no guess to make.
  if (Object.keys(p.filterGroupBy).length > 0)
    throw badRequest('filterGroupBy and advancedMeterGroupByFilters cannot be combined: send one of them');
  let v = raw;
  if (typeof raw === 'string') {
    try {
      v = JSON.parse(raw);
    } catch {
      throw badRequest('advancedMeterGroupByFilters: not valid JSON');
    }
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw badRequest('advancedMeterGroupByFilters: must be an object of key -> filter');
  for (const [k, f] of Object.entries(v as Record<string, unknown>)) {
    const ops = f !== null && typeof f === 'object' ? Object.entries(f as Record<string, unknown>) : [];
    const [op, val] = ops[0] ?? [];
    if (ops.length === 1 && op === '$eq' && typeof val === 'string') (p.filterGroupBy[k] ??= []).push(val);
    else if (ops.length === 1 && op === '$in' && Array.isArray(val) && val.length > 0 && val.every((x) => typeof x === 'string'))
      (p.filterGroupBy[k] ??= []).push(...val);
    else throw badRequest(`advancedMeterGroupByFilters: ${k}: meter serve supports only {"$eq": "value"} and {"$in": ["value", ...]}`);
  }
}

/** A checked RFC 3339 time parameter, in epoch milliseconds. */
export function timeParam(name: string, value: string | undefined, source: ParamSource = 'query'): number | undefined {
  if (value === undefined) return undefined;
  const t = parseRfc3339(value);
  if (!t.ok) {
    if (source === 'body') throw badRequest(`request body has an error: ${name}: ${JSON.stringify(value)} is not an RFC 3339 time`);
    // A literal `+` in an offset arrives as a space (form decoding): say so, as it is the usual cause.
    const hint = value.includes(' ') ? ' (send "+" in an offset as %2B)' : '';
    throw badRequest(`parameter "${name}" in query has an error: ${JSON.stringify(value)} is not an RFC 3339 time${hint}`);
  }
  return t.ms;
}

/** OpenMeter's from/to rules: `to` is exclusive, equal bounds and a reversed range are errors. */
export function checkRange(fromMs: number | undefined, toMs: number | undefined): void {
  if (fromMs === undefined || toMs === undefined) return;
  if (fromMs === toMs) throw badRequest('from and to cannot be equal');
  if (fromMs > toMs) throw badRequest('from must be before to');
}

/**
 * The checks of a query's parameters that need no meter (formats, enums, the time zone), which OpenMeter's
 * OpenAPI validator runs before its handler looks the meter up: a bad parameter is a 400 even for an unknown
 * meter. Returns the time zone (an empty one is UTC, as Go's time.LoadLocation reads it).
 */
export function checkQueryParams(p: MeterQueryParams): string {
  checkRange(timeParam('from', p.from, p.in), timeParam('to', p.to, p.in));
  if (p.windowSize !== undefined && !WINDOW_SIZES.has(p.windowSize)) {
    const where = p.in === 'body' ? 'request body has an error: windowSize:' : 'parameter "windowSize" in query has an error:';
    throw badRequest(`${where} value is not one of the allowed values ["MINUTE","HOUR","DAY","MONTH"]`);
  }
  const tz = p.windowTimeZone || 'UTC';
  try {
    checkTimeZone(tz);
  } catch {
    throw badRequest(`invalid time zone: ${tz}`);
  }
  return tz;
}

/**
 * Checks a meter query and turns it into the core's QueryOptions. As in OpenMeter, a `subject` filter also groups
 * by subject, and rows carry a subject only when grouped by it.
 */
export function toQueryOptions(meter: Meter, meters: Meter[], p: MeterQueryParams): QueryOptions {
  const tz = checkQueryParams(p);
  const keys = new Set(meter.groupBy.map((g) => g.key));
  for (const g of p.groupBy) {
    if (g !== 'subject' && !keys.has(g)) throw badRequest(`invalid group by: ${g}`);
  }
  if (p.filterCustomerId.length > 0) throw badRequest('filterCustomerId: meter serve has no customers; filter by subject');
  const filters: string[] = [];
  for (const [k, values] of Object.entries(p.filterGroupBy)) {
    if (!keys.has(k)) throw badRequest(`invalid filter group by: ${k}`);
    if (values.length === 0) throw badRequest(`filterGroupBy[${k}]: at least one value`);
    // The values of one key are alternatives (an $in), as the core reads repeated filters of a key.
    for (const v of values) filters.push(`${k}=${v}`);
  }
  const perSubject = p.subject.length > 0 || p.groupBy.includes('subject');
  return {
    meters,
    meter: meter.slug,
    window: p.windowSize,
    tz,
    from: p.from,
    to: p.to,
    subjects: p.subject,
    groupBy: [...new Set(p.groupBy.filter((g) => g !== 'subject'))],
    filters,
    fill: false,
    allSubjects: !perSubject,
  };
}
