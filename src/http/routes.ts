/**
 * The routes of OpenMeter's v1 API that `meter serve` answers, and their handlers. Handlers return a Reply or throw
 * an HttpProblem (or a typed error of the core); server.ts writes either. Every read of the store goes through
 * `api.read`, every write through the group committer.
 */
import type { IncomingMessage } from 'node:http';
import type { Meter } from '../core/meter.js';
import type { Store, StoredEvent } from '../core/ports.js';
import { runQuery, type QueryOptions } from '../core/query.js';
import { formatRfc3339 } from '../core/time.js';
import { type GroupCommitter, QueueFullError } from '../ingest/group-commit.js';
import type { BodyParser } from './body-parser.js';
import { hasAdminToken, meterNotAllowed, portalClaimsOf, unauthorized, type PortalClaims, type PortalSigner } from './auth.js';
import { readBody, type BodyLimits } from './body.js';
import { newUlid, stableUlid } from './ids.js';
import { mediaTypeOf } from './ingest-body.js';
import { portalReportJson, reportJson, reportPage } from './report-routes.js';
import {
  checkMeterIdOrSlug,
  checkQueryParams,
  checkRange,
  meterQueryFromBody,
  meterQueryFromSearch,
  timeParam,
  toQueryOptions,
  type MeterQueryParams,
} from './params.js';
import { badRequest, HttpProblem, notFound } from './problem.js';
import { meterJson, queryResultCsv, queryResultJson, resultRows, storedEventJson, subjectJson } from './render.js';

/** What the handlers share: the store, the meters, the committer and the server's settings. */
export interface Api {
  store: Store;
  meters: Meter[];
  /** When the meters were defined (the config file's modification time): their createdAt/updatedAt. */
  metersCreatedAt: string;
  committer: GroupCommitter;
  /** Parses POST /api/v1/events bodies (large ones on a thread of their own). */
  bodies: BodyParser;
  /** Runs a read of the store (see readerFor in commands/serve.ts). */
  read: <T>(fn: (store: Store) => Promise<T>) => Promise<T>;
  limits: BodyLimits;
  /** The admin token; null: no auth (loopback by default). */
  token: string | null;
  signer: PortalSigner;
}

export interface Reply {
  status: number;
  /** A body of this content type (none for 204). */
  type?: string;
  body?: string;
  headers?: Record<string, string>;
}

const JSON_TYPE = 'application/json';
const json = (value: unknown, status = 200): Reply => ({ status, type: JSON_TYPE, body: JSON.stringify(value) });
const notImplemented = (what: string) => () => {
  throw new HttpProblem(501, `${what}: meters come from the config file (--config) in meter serve; edit it and restart`);
};

type Handler = (api: Api, req: IncomingMessage, params: string[], query: URLSearchParams) => Promise<Reply>;

interface Route {
  pattern: RegExp;
  methods: Partial<Record<string, Handler>>;
  /** Portal routes take a portal token instead of the admin token. */
  portal?: boolean;
  /** A page without data: no token needed (its script sends one with each request for data). */
  page?: boolean;
}

const SEG = '([^/]+)';
const ROUTES: Route[] = [
  { pattern: /^\/api\/v1\/events$/, methods: { POST: ingestEvents, GET: listEvents } },
  { pattern: /^\/api\/v1\/meters$/, methods: { GET: listMeters, POST: notImplemented('creating a meter') } },
  {
    pattern: new RegExp(`^/api/v1/meters/${SEG}$`),
    methods: {
      GET: getMeter,
      PUT: notImplemented('updating a meter'),
      PATCH: notImplemented('updating a meter'),
      DELETE: notImplemented('deleting a meter'),
    },
  },
  { pattern: new RegExp(`^/api/v1/meters/${SEG}/query$`), methods: { GET: queryGet, POST: queryPost } },
  // SDK beta.8's deprecated values(): an alias of the query, as OpenMeter's document suggests.
  { pattern: new RegExp(`^/api/v1/meters/${SEG}/values$`), methods: { GET: queryGet } },
  { pattern: new RegExp(`^/api/v1/meters/${SEG}/subjects$`), methods: { GET: meterSubjects } },
  { pattern: new RegExp(`^/api/v1/meters/${SEG}/group-by/${SEG}/values$`), methods: { GET: groupByValues } },
  { pattern: /^\/api\/v1\/subjects$/, methods: { GET: listSubjects } },
  { pattern: new RegExp(`^/api/v1/subjects/${SEG}$`), methods: { GET: getSubject } },
  { pattern: /^\/api\/v1\/portal\/tokens$/, methods: { POST: createPortalToken } },
  { pattern: new RegExp(`^/api/v1/portal/meters/${SEG}/query$`), methods: { GET: portalQuery }, portal: true },
  // The usage report of `meter report`, as a page that fetches its document: the pages hold no data, so they
  // need no token; their script sends the one given in the URL's fragment (never sent to a server) to the JSON.
  { pattern: /^\/$/, methods: { GET: reportPage('/api/v1/report') }, page: true },
  { pattern: /^\/portal$/, methods: { GET: reportPage('/api/v1/portal/report') }, page: true },
  { pattern: /^\/api\/v1\/report$/, methods: { GET: reportJson } },
  { pattern: /^\/api\/v1\/portal\/report$/, methods: { GET: portalReportJson }, portal: true },
];

/**
 * A usage page calls the portal route from the browser, often from another origin. Portal tokens are bearer tokens,
 * never cookies, so any origin may call with one: a page without the token can read nothing.
 */
const PORTAL_PREFLIGHT = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET',
  'Access-Control-Allow-Headers': 'Authorization, Accept',
  'Access-Control-Max-Age': '600',
};

/**
 * The CORS header of every answer on a portal route (its meters' queries and its report, errors included, so that a
 * page can read them), as their preflight (PORTAL_PREFLIGHT) promises. Not on the route that issues portal tokens:
 * an admin route, which a page of another origin must never read (on a server without --token it would hand any
 * site a token for any subject).
 */
export function corsHeaders(url: string | undefined): Record<string, string> | undefined {
  const path = pathOf(url ?? '/');
  // The prefix first: this runs for every answer, and most are no portal's.
  if (!path.startsWith('/api/v1/portal/')) return undefined;
  return ROUTES.some((r) => r.portal && r.pattern.test(path)) ? { 'Access-Control-Allow-Origin': '*' } : undefined;
}

/**
 * The path of a request target: its origin form (`/a/b?q`), or the path of its absolute form
 * (`http://host/a/b?q`, which HTTP/1.1 servers must accept), without the query.
 */
function pathOf(url: string): string {
  const abs = /^https?:\/\/[^/?#]*/i.exec(url);
  const rest = abs ? url.slice(abs[0].length) || '/' : url;
  const q = rest.indexOf('?');
  return q < 0 ? rest : rest.slice(0, q);
}

/** Finds the route of a request and runs it: 404 for an unknown path, 405 for a known path with another method. */
export async function route(api: Api, req: IncomingMessage): Promise<Reply> {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = pathOf(url);
  const match = ROUTES.find((r) => r.pattern.test(path));
  // Everything but the portal's own route needs the admin token, unknown paths included (they reveal nothing then).
  if (!match?.portal && !match?.page && !hasAdminToken(req, api.token)) throw unauthorized();
  if (!match) throw notFound(`no route for ${path}`);
  if (match.portal && req.method === 'OPTIONS') return { status: 204, headers: PORTAL_PREFLIGHT };
  const handler = match.methods[req.method ?? 'GET'];
  if (!handler)
    throw new HttpProblem(405, `method ${req.method} is not allowed on ${path}`, undefined, {
      Allow: Object.keys(match.methods).join(', '),
    });
  let params: string[];
  try {
    params = match.pattern
      .exec(path)!
      .slice(1)
      .map((s) => decodeURIComponent(s));
  } catch {
    throw badRequest(`malformed percent-encoding in path ${path}`);
  }
  const query = q < 0 ? '' : url.slice(q + 1);
  // URLSearchParams would read bytes that are not UTF-8 as U+FFFD, so that other byte strings name one subject.
  for (const part of query.split('&')) {
    try {
      decodeURIComponent(part.replace(/\+/g, ' '));
    } catch {
      throw badRequest(`malformed percent-encoding in the query string: ${part.slice(0, 200)}`);
    }
  }
  return handler(api, req, params, new URLSearchParams(query));
}

// --- events

async function ingestEvents(api: Api, req: IncomingMessage): Promise<Reply> {
  const text = await readBody(req, api.limits);
  const events = await api.bodies.parse({
    text,
    contentType: req.headers['content-type'],
    nowMs: Date.now(),
    fingerprints: api.store.needsFingerprints,
  });
  try {
    await api.committer.submit(events);
  } catch (e) {
    if (e instanceof QueueFullError) {
      throw new HttpProblem(503, 'too many events are waiting to be committed; retry later', undefined, { 'Retry-After': '1' });
    }
    throw e;
  }
  return { status: 204 };
}

const THIRTY_TWO_DAYS_MS = 32 * 86_400_000;

function limitParam(q: URLSearchParams): number {
  const raw = q.get('limit');
  if (raw === null) return 100;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > 100)
    throw badRequest(`parameter "limit" in query has an error: must be a whole number from 1 to 100`);
  return n;
}

/**
 * GET /api/v1/events, newest first. `from` defaults to 32 days back as in OpenMeter; an older `from` is allowed,
 * since `meter` keeps events for good. `to` and `ingestedAtTo` are inclusive, as in OpenMeter's code (`time <= to`;
 * its queries' `to` is exclusive). `id` is a partial match, `subject` an exact one.
 */
async function listEvents(api: Api, _req: IncomingMessage, _p: string[], q: URLSearchParams): Promise<Reply> {
  if (q.getAll('customerId').length > 0) throw badRequest('customerId: meter serve has no customers; filter by subject');
  const now = Date.now();
  const fromMs = timeParam('from', q.get('from') ?? undefined) ?? now - THIRTY_TWO_DAYS_MS + 1000;
  const toMs = timeParam('to', q.get('to') ?? undefined);
  if (toMs !== undefined && toMs < fromMs) throw badRequest('from must be before to');
  const ingestedFrom = timeParam('ingestedAtFrom', q.get('ingestedAtFrom') ?? undefined);
  const ingestedTo = timeParam('ingestedAtTo', q.get('ingestedAtTo') ?? undefined);
  if (ingestedFrom !== undefined && ingestedTo !== undefined && ingestedTo < ingestedFrom)
    throw badRequest(`ingestedAtTo date is before ingestedAtFrom date: ${formatRfc3339(ingestedTo)} < ${formatRfc3339(ingestedFrom)}`);
  const idPart = q.get('id');
  const limit = limitParam(q);
  const subject = q.get('subject');
  const keep = (e: StoredEvent) =>
    (idPart === null || e.id.includes(idPart)) &&
    (ingestedFrom === undefined || e.ingestedMs >= ingestedFrom) &&
    (ingestedTo === undefined || e.ingestedMs <= ingestedTo);
  const filtered = idPart !== null || ingestedFrom !== undefined || ingestedTo !== undefined;
  const out: string[] = [];
  await api.read(async (store) => {
    const filter = {
      subjects: subject === null ? [] : [subject],
      fromMs,
      toMs: toMs === undefined ? undefined : toMs + 1,
      limit: filtered ? Number.MAX_SAFE_INTEGER : limit,
    };
    for await (const e of store.events(filter)) {
      if (!keep(e)) continue;
      out.push(storedEventJson(e));
      if (out.length >= limit) break;
    }
  });
  return { status: 200, type: JSON_TYPE, body: `[${out.join(',')}]` };
}

// --- meters

function findMeter(api: Api, idOrSlug: string): Meter {
  checkMeterIdOrSlug(idOrSlug);
  const m = api.meters.find((x) => x.slug === idOrSlug || stableUlid('meter', x.slug) === idOrSlug);
  if (!m) throw notFound(`meter not found: ${idOrSlug}`);
  return m;
}

/** A query parameter that must be one of `allowed` when given (OpenMeter's spec validation: 400 otherwise). */
function enumParam<T extends string>(q: URLSearchParams, name: string, allowed: readonly T[]): T | undefined {
  const v = q.get(name);
  if (v === null) return undefined;
  if (!(allowed as readonly string[]).includes(v))
    throw badRequest(`parameter "${name}" in query has an error: value is not one of the allowed values ${JSON.stringify(allowed)}`);
  return v as T;
}

/** A whole-number query parameter from 1 to `max`, when given. */
function pageParam(q: URLSearchParams, name: string, max: number): void {
  const raw = q.get(name);
  if (raw !== null && !(/^\d+$/.test(raw) && Number(raw) >= 1 && Number(raw) <= max))
    throw badRequest(`parameter "${name}" in query has an error: must be a whole number from 1 to ${max}`);
}

/**
 * GET /api/v1/meters: every meter (OpenMeter's code ignores paging, though its spec checks the parameters), ordered
 * by `orderBy` (key by default; a YAML meter's name is its key, and all share their times, so the key breaks ties)
 * in `order` (ASC by default).
 */
async function listMeters(api: Api, _req: IncomingMessage, _p: string[], q: URLSearchParams): Promise<Reply> {
  pageParam(q, 'page', Number.MAX_SAFE_INTEGER);
  pageParam(q, 'pageSize', 1000);
  // A boolean as Go's strconv.ParseBool reads one.
  enumParam(q, 'includeDeleted', ['1', 't', 'T', 'TRUE', 'true', 'True', '0', 'f', 'F', 'FALSE', 'false', 'False']);
  const orderBy = enumParam(q, 'orderBy', ['key', 'name', 'aggregation', 'createdAt', 'updatedAt'] as const) ?? 'key';
  const descending = enumParam(q, 'order', ['ASC', 'DESC'] as const) === 'DESC';
  const byKey = (a: Meter, b: Meter) => (a.slug < b.slug ? -1 : a.slug > b.slug ? 1 : 0);
  const byAggregation = (a: Meter, b: Meter) => (a.aggregation < b.aggregation ? -1 : a.aggregation > b.aggregation ? 1 : 0);
  const sorted = [...api.meters].sort((a, b) => (orderBy === 'aggregation' && byAggregation(a, b)) || byKey(a, b));
  if (descending) sorted.reverse();
  return json(sorted.map((m) => meterJson(m, api.metersCreatedAt)));
}

async function getMeter(api: Api, _req: IncomingMessage, [id]: string[]): Promise<Reply> {
  return json(meterJson(findMeter(api, id!), api.metersCreatedAt));
}

/** CSV when the whole Accept header is one media type, text/csv (a list falls back to JSON, as in OpenMeter). */
function wantsCsv(req: IncomingMessage): boolean {
  const accept = req.headers.accept;
  if (accept === undefined) return false;
  // As Go's mime.ParseMediaType, which OpenMeter uses: one trailing semicolon is no parameter.
  const [type, ...params] = accept.replace(/;\s*$/, '').split(';');
  return (
    type!.trim().toLowerCase() === 'text/csv' && params.every((p) => /^\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+=("[^"]*"|[^\s",;]+)\s*$/.test(p))
  );
}

async function answerQuery(api: Api, req: IncomingMessage, meter: Meter, p: MeterQueryParams, portal?: PortalClaims): Promise<Reply> {
  const opts: QueryOptions = toQueryOptions(meter, api.meters, p);
  if (portal) {
    // Whatever subject was asked for, a portal token sees its own subject's usage only.
    opts.subjects = [portal.subject];
    opts.allSubjects = false;
  }
  const { result, rows } = await api.read(async (store) => {
    const result = await runQuery(store, opts);
    return { result, rows: await resultRows(result) };
  });
  if (wantsCsv(req)) {
    return {
      status: 200,
      type: 'text/csv',
      body: queryResultCsv(result, rows),
      headers: { 'Content-Disposition': `attachment; filename=${meter.slug}.csv` },
    };
  }
  return { status: 200, type: JSON_TYPE, body: queryResultJson(result, rows, p) };
}

async function queryGet(api: Api, req: IncomingMessage, [id]: string[], q: URLSearchParams): Promise<Reply> {
  const p = meterQueryFromSearch(q);
  checkQueryParams(p);
  return answerQuery(api, req, findMeter(api, id!), p);
}

async function queryPost(api: Api, req: IncomingMessage, [id]: string[]): Promise<Reply> {
  const p = meterQueryFromBody(await jsonBody(api, req));
  checkQueryParams(p);
  return answerQuery(api, req, findMeter(api, id!), p);
}

/**
 * The JSON body of a request, sent as `application/json` (a charset parameter accepted, as on the events route).
 * Any other type is refused, as OpenMeter's validator refuses it: a page of another origin can send text/plain
 * without a preflight, and must not reach an admin route of a server without --token that way.
 */
async function jsonBody(api: Api, req: IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (mediaTypeOf(type) !== 'application/json') throw badRequest(`invalid content type: ${type}`);
  const text = await readBody(req, api.limits);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw badRequest(`request body has an error: invalid JSON: ${(e as Error).message}`);
  }
}

/** The distinct values of one dimension of a meter's rows over a range (subjects, or a group-by key). */
async function distinct(api: Api, meter: Meter, q: URLSearchParams, groupBy: string, defaultLastDay: boolean): Promise<Reply> {
  let from = q.get('from') ?? undefined;
  const to = q.get('to') ?? undefined;
  checkRange(timeParam('from', from), timeParam('to', to));
  if (defaultLastDay && from === undefined && to === undefined) from = formatRfc3339(Date.now() - 86_400_000);
  const p: MeterQueryParams = { in: 'query', from, to, subject: [], groupBy: [groupBy], filterGroupBy: {}, filterCustomerId: [] };
  const opts = toQueryOptions(meter, api.meters, p);
  const values = await api.read(async (store) => {
    const result = await runQuery(store, opts);
    const seen = new Set<string>();
    for await (const r of result.rows) seen.add(groupBy === 'subject' ? r.subject! : r.groups[0]!);
    return [...seen].sort();
  });
  return json(values);
}

async function meterSubjects(api: Api, _req: IncomingMessage, [id]: string[], q: URLSearchParams): Promise<Reply> {
  checkRange(timeParam('from', q.get('from') ?? undefined), timeParam('to', q.get('to') ?? undefined));
  return distinct(api, findMeter(api, id!), q, 'subject', false);
}

async function groupByValues(api: Api, _req: IncomingMessage, [id, key]: string[], q: URLSearchParams): Promise<Reply> {
  checkRange(timeParam('from', q.get('from') ?? undefined), timeParam('to', q.get('to') ?? undefined));
  const meter = findMeter(api, id!);
  if (!meter.groupBy.some((g) => g.key === key)) throw badRequest(`invalid group by: ${key}`);
  return distinct(api, meter, q, key!, true);
}

// --- subjects (synthesised from the stored events)

async function listSubjects(api: Api): Promise<Reply> {
  const rows = await api.read((store) => store.subjects());
  return json(rows.map(subjectJson));
}

async function getSubject(api: Api, _req: IncomingMessage, [key]: string[]): Promise<Reply> {
  const rows = await api.read((store) => store.subjects());
  const s = rows.find((r) => r.subject === key || stableUlid('subject', r.subject) === key);
  if (!s) throw notFound(`subject not found: ${key}`);
  return json(subjectJson(s));
}

// --- portal

async function createPortalToken(api: Api, req: IncomingMessage): Promise<Reply> {
  const b = (await jsonBody(api, req)) as Record<string, unknown>;
  if (b === null || typeof b !== 'object' || Array.isArray(b)) throw badRequest('request body has an error: must be a JSON object');
  if (typeof b.subject !== 'string' || b.subject.length === 0)
    throw badRequest('request body has an error: subject: a non-empty string is required');
  const slugs = b.allowedMeterSlugs;
  if (slugs !== undefined && (!Array.isArray(slugs) || slugs.some((s) => typeof s !== 'string'))) {
    throw badRequest('request body has an error: allowedMeterSlugs: must be an array of meter slugs');
  }
  for (const s of (slugs as string[] | undefined) ?? []) {
    if (!api.meters.some((m) => m.slug === s)) throw badRequest(`request body has an error: allowedMeterSlugs: unknown meter ${s}`);
  }
  const now = Date.now();
  if (b.expiresAt !== undefined && b.expiresAt !== null && typeof b.expiresAt !== 'string')
    throw badRequest('request body has an error: expiresAt: must be an RFC 3339 time (a string)');
  const expiresAt = b.expiresAt === undefined || b.expiresAt === null ? undefined : timeParam('expiresAt', b.expiresAt, 'body');
  if (expiresAt !== undefined && expiresAt <= now) throw badRequest('request body has an error: expiresAt: must be in the future');
  const claims: PortalClaims = { id: newUlid(now), subject: b.subject, createdAt: now };
  if (slugs !== undefined) claims.allowedMeterSlugs = slugs as string[];
  if (expiresAt !== undefined) claims.expiresAt = expiresAt;
  const out: Record<string, unknown> = { id: claims.id, subject: claims.subject };
  if (claims.allowedMeterSlugs) out.allowedMeterSlugs = claims.allowedMeterSlugs;
  if (expiresAt !== undefined) out.expiresAt = formatRfc3339(expiresAt);
  out.createdAt = formatRfc3339(now);
  out.token = api.signer.sign(claims);
  return json(out);
}

async function portalQuery(api: Api, req: IncomingMessage, [id]: string[], q: URLSearchParams): Promise<Reply> {
  const claims = portalClaimsOf(req, api.signer);
  const p = meterQueryFromSearch(q);
  checkQueryParams(p);
  const meter = findMeter(api, id!);
  if (claims.allowedMeterSlugs && !claims.allowedMeterSlugs.includes(meter.slug)) throw meterNotAllowed(meter.slug);
  return answerQuery(api, req, meter, p, claims);
}
