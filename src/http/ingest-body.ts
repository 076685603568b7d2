/**
 * POST /api/v1/events: the body, by content type, into validated events, with the same validator as `meter ingest`
 * (src/core/event.ts). Every event of the request is checked before anything is stored, and every problem of every
 * event is reported (index and field), so one 400 tells the producer everything.
 */
import { TOO_DEEP, validateCloudEvent, type UsageEvent } from '../core/event.js';
import { arrayElements, nestsTooDeep } from '../core/json.js';
import { badRequest, type ValidationIssue } from './problem.js';

type BodyShape = 'one' | 'batch' | 'either';

const SHAPES: Record<string, BodyShape> = {
  'application/cloudevents+json': 'one',
  'application/cloudevents-batch+json': 'batch',
  'application/json': 'either',
};

/**
 * The shape a Content-Type announces. OpenMeter compares the raw header exactly; a `charset` parameter (utf-8) is
 * accepted as a harmless extension, since many HTTP clients add it.
 */
export function bodyShape(contentType: string | undefined): BodyShape {
  const raw = contentType ?? '';
  let shape = seen.get(raw);
  if (shape === undefined) {
    shape = shapeOf(raw);
    if (seen.size < 64) seen.set(raw, shape);
  }
  return shape;
}

/**
 * The shapes of the valid Content-Type headers seen so far: a client sends the same one request after request, and
 * reading it again cost about a microsecond a request (2% of a single-event request's time).
 */
const seen = new Map<string, BodyShape>();

function shapeOf(raw: string): BodyShape {
  const shape = SHAPES[mediaTypeOf(raw) ?? ''];
  if (shape === undefined) throw badRequest(`invalid content type: ${raw}`);
  return shape;
}

/**
 * The media type of a Content-Type header, lower-cased, when its only parameter is a harmless `charset=utf-8`
 * (OpenMeter compares the raw header; many HTTP clients add the charset); null when it has any other parameter.
 */
export function mediaTypeOf(raw: string): string | null {
  const [type, ...params] = raw.split(';');
  return params.every((p) => /^\s*charset\s*=\s*"?utf-8"?\s*$/i.test(p)) ? type!.trim().toLowerCase() : null;
}

/** The events of a request body, all valid, or a 400 problem listing every invalid one. */
export function parseIngestBody(text: string, contentType: string | undefined, nowMs: number, fingerprints: boolean): UsageEvent[] {
  const shape = bodyShape(contentType);
  // `curl -d @file` with a file that is not there sends nothing: say that, not "Unexpected end of JSON input".
  if (text.trim() === '') throw badRequest('invalid event: empty request body (send an event, or a JSON array of events)');
  if (nestsTooDeep(text)) throw badRequest(`invalid event: ${TOO_DEEP}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw badRequest(`invalid event: invalid JSON: ${(e as Error).message}`);
  }
  const rules = { requireTime: false, nowMs, fingerprints };
  let items: Array<{ value: unknown; text: string }>;
  if (Array.isArray(value)) {
    if (shape === 'one')
      throw badRequest('invalid event: application/cloudevents+json takes one event; send a batch as application/cloudevents-batch+json');
    if (value.length === 0 && shape === 'either') throw badRequest('invalid event: no events found');
    const texts = arrayElements(text);
    items = value.map((v, i) => ({ value: v, text: texts[i]! }));
  } else {
    if (shape === 'batch') throw badRequest('invalid event: application/cloudevents-batch+json takes a JSON array of events');
    items = [{ value, text }];
  }
  const events: UsageEvent[] = [];
  const issues: ValidationIssue[] = [];
  let invalid = 0,
    unlisted = 0;
  items.forEach((item, index) => {
    const r = validateCloudEvent(item.value, rules, item.text);
    if (r.ok) events.push(r.event);
    else {
      invalid++;
      for (const problem of splitProblems(r.error)) {
        if (issues.length < MAX_LISTED_PROBLEMS) issues.push({ code: 'invalid_event', index, ...problem });
        else unlisted++;
      }
    }
  });
  if (invalid > 0) {
    const listed = unlisted === 0 ? '' : `; the first ${MAX_LISTED_PROBLEMS} of ${MAX_LISTED_PROBLEMS + unlisted} problems are listed`;
    throw badRequest(`invalid event: ${invalid} of ${items.length} event(s) are invalid; nothing was stored${listed}`, {
      validationErrors: issues,
    });
  }
  return events;
}

/**
 * Problems listed in one answer at the most: a body of thousands of invalid events would otherwise get an answer
 * many times its size (a few bytes of `{}` give five problems each), and past V8's longest string, none at all.
 */
export const MAX_LISTED_PROBLEMS = 1000;

/** The validator joins an event's problems as `field: reason; field: reason`: one issue each, with its field. */
function splitProblems(error: string): Array<{ field?: string; message: string }> {
  return error.split(/; (?=[a-z_]+: )/).map((message) => {
    const m = /^([a-z_]+): /.exec(message);
    return m ? { field: m[1]!, message } : { message };
  });
}
