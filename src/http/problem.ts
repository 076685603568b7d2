/**
 * RFC 7807 problems in OpenMeter's shape, and the one place that turns errors into HTTP answers. Both SDKs parse a
 * problem body only when the content type is exactly `application/problem+json`, so that is what every error sends.
 */
import { STATUS_CODES } from 'node:http';
import { ConfigError, StoreBusyError, UsageError } from '../errors.js';

/** One entry of `extensions.validationErrors`: which event of the request, which field, and what is wrong. */
export interface ValidationIssue {
  code: string;
  message: string;
  index?: number;
  field?: string;
}

/** An error answered with a problem: thrown by handlers, turned into a response by problemOf. */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly extensions?: Record<string, unknown>,
    /** Extra response headers (Retry-After of a 503, WWW-Authenticate of a 401). */
    readonly headers?: Record<string, string>,
  ) {
    super(detail);
  }
}

/** Where Go's http.StatusText, which OpenMeter's titles are, words a status otherwise than Node's STATUS_CODES. */
const GO_TITLES: Record<number, string> = {
  413: 'Request Entity Too Large',
  414: 'Request URI Too Long',
  416: 'Requested Range Not Satisfiable',
};

export const badRequest = (detail: string, extensions?: Record<string, unknown>) => new HttpProblem(400, detail, extensions);
export const notFound = (detail: string) => new HttpProblem(404, detail);

/** The problem an error answers with: typed errors of the core are the client's fault (400) or the store's (500). */
export function problemOf(e: unknown): HttpProblem {
  if (e instanceof HttpProblem) return e;
  if (e instanceof UsageError || e instanceof ConfigError) return badRequest(e.message);
  // Nothing was written, and the client may send it again (the store's path stays in the server's log).
  if (e instanceof StoreBusyError)
    return new HttpProblem(503, 'the store is busy: another process held its write lock too long; retry later', undefined, {
      'Retry-After': '1',
    });
  // Anything else (a StoreError, a defect) tells the client nothing about the store, its path or its server: the
  // server's log has it.
  return new HttpProblem(500, '');
}

/** The JSON body of a problem; `detail` is blank for 500 and `extensions` omitted when empty, as OpenMeter does. */
export function problemBody(p: HttpProblem, instance?: string): string {
  const body: Record<string, unknown> = {
    type: 'about:blank',
    title: GO_TITLES[p.status] ?? STATUS_CODES[p.status] ?? 'Error',
    status: p.status,
    detail: p.status === 500 ? '' : p.detail,
  };
  if (instance !== undefined) body.instance = instance;
  if (p.extensions && Object.keys(p.extensions).length > 0) body.extensions = p.extensions;
  return JSON.stringify(body);
}
