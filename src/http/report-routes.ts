/**
 * The usage report of `meter report` over HTTP: the page at `/` (every subject, admin token) and at `/portal` (one
 * customer, portal token), and the report documents they fetch. The document is built by the same use case as the
 * command's file (core/report.ts), so the page shows the same exact values as `meter report` and `meter query`.
 */
import type { IncomingMessage } from 'node:http';
import { buildReport, type ReportOptions } from '../core/report.js';
import { OptionError, UsageError } from '../errors.js';
import { reportDoc } from '../output/report-doc.js';
import { reportShell } from '../output/report-html.js';
import { meterNotAllowed, portalClaimsOf } from './auth.js';
import { badRequest, HttpProblem } from './problem.js';
import type { Api, Reply } from './routes.js';

/** Series of their own in a chart; the rest are "others". */
const DEFAULT_TOP = 8;

/** The page of a report document at `dataPath`. */
export function reportPage(dataPath: string) {
  return async (): Promise<Reply> => ({ status: 200, type: 'text/html; charset=utf-8', body: reportShell(dataPath) });
}

/** `GET /api/v1/report`: `meter report`'s options as parameters (`period` or `from`/`to`, `tz`, `window`, `meter`, `subject`, `groupBy`, `top`). */
export async function reportJson(api: Api, _req: IncomingMessage, _params: string[], q: URLSearchParams): Promise<Reply> {
  return answer(api, reportOptions(api, q, q.getAll('subject'), q.getAll('meter')));
}

/** `GET /api/v1/portal/report`: the token's customer only, and only the meters the token allows. */
export async function portalReportJson(api: Api, req: IncomingMessage, _params: string[], q: URLSearchParams): Promise<Reply> {
  const claims = portalClaimsOf(req, api.signer);
  const allowed = claims.allowedMeterSlugs;
  const asked = q.getAll('meter');
  // As on the portal's query route: a meter the token does not allow is a 403, never left out in silence.
  const refused = allowed === undefined ? undefined : asked.find((m) => !allowed.includes(m));
  if (refused !== undefined) throw meterNotAllowed(refused);
  // A token that allows no meter (`allowedMeterSlugs: []`) is refused every meter on the query route; here an empty
  // list of meters would mean every configured one.
  if (allowed !== undefined && allowed.length === 0) throw new HttpProblem(403, 'this portal token allows no meter');
  return answer(api, reportOptions(api, q, [claims.subject], asked.length > 0 ? asked : (allowed ?? [])));
}

function reportOptions(api: Api, q: URLSearchParams, subjects: string[], meterSlugs: string[]): ReportOptions {
  const one = (name: string): string | undefined => {
    const all = q.getAll(name);
    if (all.length > 1) throw badRequest(`parameter "${name}" in query has an error: give it once`);
    return all[0];
  };
  const top = one('top') ?? String(DEFAULT_TOP);
  if (!/^[1-9]\d{0,2}$/.test(top)) throw badRequest('parameter "top" in query has an error: must be a whole number from 1 to 999');
  const opts: ReportOptions = { meters: api.meters, meterSlugs, tz: one('tz') ?? 'UTC', subjects, top: Number(top) };
  for (const key of ['period', 'from', 'to', 'window', 'groupBy'] as const) {
    const v = one(key);
    if (v !== undefined) opts[key] = v;
  }
  return opts;
}

/** The parameters of the report routes, by the option of `meter report` each one stands for. */
const PARAMETER_OF: Record<string, string> = {
  '--period': 'period',
  '--from': 'from',
  '--to': 'to',
  '--window': 'window',
  '--group-by': 'groupBy',
};

async function answer(api: Api, opts: ReportOptions): Promise<Reply> {
  try {
    const doc = await api.read(async (store) => reportDoc(await buildReport(store, opts), 'meter serve'));
    return { status: 200, type: 'application/json', body: JSON.stringify(doc) };
  } catch (e) {
    // The core names the command's options; a client of the API sent parameters, which it must recognise.
    const name = e instanceof OptionError ? PARAMETER_OF[e.option] : undefined;
    if (name !== undefined) {
      const { value, problem } = e as OptionError;
      throw badRequest(`parameter "${name}" in query has an error: ${JSON.stringify(value)}: ${problem}`);
    }
    // Other usage errors of the core name the options in their text: the parameters' names replace them.
    if (e instanceof UsageError) throw badRequest(e.message.replace(/--(period|from|to|window|group-by)\b/g, (o) => PARAMETER_OF[o]!));
    throw e;
  }
}
