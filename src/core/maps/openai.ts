/**
 * The built-in `openai` map: OpenAI API responses as they show up in logs (see README, "Metering OpenAI usage").
 * Each shape is a mapping spec, compiled like a mapping file; code does only what a path list cannot say: which
 * shape a record is (and where in it the response sits), which records carry no usage (skips, by reason),
 * uncached = input - cached, and the checks that tie counts together.
 */
import { plainAttribute } from '../event.js';
import {
  applyMapping,
  buildEvent,
  type CanonicalEvent,
  type Literals,
  lookup,
  mapFields,
  type MapOutcome,
  type RecordMapper,
  readRecordText,
  type TextOutcome,
} from '../mapping.js';
import { compileMapping, type MapOverrides, type Mapping, type MappingSpec, type Rule } from '../mapping-spec.js';
import { MAX_INSTANT_MS, MIN_INSTANT_MS } from '../time.js';
import { pathSteps } from '../meter.js';
import { NO_LITERALS, pathTree } from '../path-tree.js';
import { addWanted, insideWhole, sparseParse, type Wanted } from '../sparse-json.js';

export type Api = 'chat.completions' | 'responses' | 'completions' | 'embeddings';

/** Why a record is skipped: the keys of the summary's `skipped` object. */
export const OPENAI_SKIPS = {
  stream_chunk_without_usage: 'streamed chunks before the one with usage',
  stream_event_without_usage: 'Responses stream events other than response.completed',
  response_failed: 'responses with status failed',
  response_not_completed: 'responses still queued or in progress, or cancelled, without usage',
  batch_error: 'Batch API lines with an error',
  batch_non_200: 'Batch API lines with a status other than 200',
  error_response: 'logged API errors (no usage)',
  no_usage: 'completed responses without usage (text_completion stream chunks, usage not asked for)',
} as const;

const at = (p: string, rest: string) => (p === '$' ? `$.${rest}` : `${p}.${rest}`);
const count = (path: string, required = false) =>
  required ? { path, as: 'count' as const, required } : { path, as: 'count' as const, default: 0 };

/**
 * Where the customer is looked for, in order (see README): the record, its request, then what a response echoes.
 * A Responses object logged as it is (`p` `$`) echoes its `user` as the record's own: it comes last there too, so
 * that the same response gives the same subject however it was logged.
 */
export function defaultSubjectPaths(p: string, api: Api): string[] {
  const paths = [
    '$.subject',
    '$.customer_id',
    ...(p === '$' && api === 'responses' ? [] : ['$.user']),
    '$.request.subject',
    '$.request.customer_id',
    '$.request.user',
    '$.request.metadata.customer_id',
    '$.request.safety_identifier',
    at(p, 'metadata.customer_id'),
    at(p, 'safety_identifier'),
    at(p, 'user'),
  ];
  return [...new Set(paths)];
}

/** The spec of one shape: the response at path `p` (`$`, `$.response`, `$.response.body`, ...). */
/**
 * The data fields come in the contract's order (model, api, input_tokens, cached_input_tokens, then
 * uncached_input_tokens, made by code, output_tokens, reasoning_tokens, total_tokens, tokens, service_tier, batch).
 */
export function openaiSpec(p: string, api: Api, batch: boolean): MappingSpec {
  const usage = (f: string) => at(p, `usage.${f}`);
  const chatLike = api !== 'responses';
  const [input, output, details] = chatLike
    ? ['prompt_tokens', 'completion_tokens', ['prompt_tokens_details', 'completion_tokens_details']]
    : ['input_tokens', 'output_tokens', ['input_tokens_details', 'output_tokens_details']];
  const embeddings = api === 'embeddings';
  return {
    // Embeddings carry no id: the wrapper's request id, or a batch line's.
    id: embeddings
      ? batch
        ? ['$.response.request_id', '$.id']
        : ['$.request_id', '$.x_request_id', '$.id']
      : batch
        ? [at(p, 'id'), '$.id']
        : at(p, 'id'),
    time: embeddings
      ? { path: [at(p, 'created'), '$.created', '$.time', '$.ts', '$.timestamp'], timeFormat: 'unix', required: false }
      : { path: [at(p, 'created'), at(p, 'created_at')], timeFormat: 'unix' },
    subject: defaultSubjectPaths(p, api),
    source: { value: 'openai' },
    type: { value: 'openai' },
    data: {
      model: { path: at(p, 'model'), as: 'string', required: true },
      api: { value: api },
      input_tokens: count(usage(input!), true),
      cached_input_tokens: embeddings ? { value: 0 } : count(usage(`${details![0]}.cached_tokens`)),
      output_tokens: embeddings ? { value: 0 } : count(usage(output!), true),
      reasoning_tokens: embeddings ? { value: 0 } : count(usage(`${details![1]}.reasoning_tokens`)),
      // Missing totals are input + output (below).
      total_tokens: { path: usage('total_tokens'), as: 'count' },
      tokens: { path: usage('total_tokens'), as: 'count' },
      service_tier: { path: at(p, 'service_tier'), as: 'string' },
      batch: { value: batch },
    },
  };
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** What recognising a record found: the response's path and API, or a skip or reject. */
type Shape =
  | { p: string; api: Api; batch: boolean; response: Obj; endsStream?: string }
  | { kind: 'skip'; reason: keyof typeof OPENAI_SKIPS; stream?: StreamMark }
  | { kind: 'reject'; error: string };

/** A Responses stream event's response id, and whether the event ends its stream (see RESPONSE_STREAM_EVENTS). */
interface StreamMark {
  id: string;
  ends: boolean;
}

const EXPECTED =
  'expected chat.completion, a chat.completion.chunk with usage, response, a response.completed event, text_completion, an embeddings list, a Batch API output line, or a log record holding one of these under "response"';

/**
 * Whether an `error` member reports an error: loggers write "no error" as null, false, "", {} or [] as well as by
 * leaving it out, and a call logged so still has its usage to bill.
 */
function isError(e: unknown): boolean {
  if (e === undefined || e === null || e === false || e === '') return false;
  if (Array.isArray(e)) return e.length > 0;
  return !isObj(e) || Object.keys(e).length > 0;
}

/** The `object` of each response the map reads (see recognise). */
const RESPONSE_OBJECTS = new Set(['chat.completion', 'chat.completion.chunk', 'text_completion', 'response', 'list']);

/**
 * The Responses stream events that carry the whole response under `response`, and whether each ends the stream
 * (the others come before: a stream that has them and none of the last ones was cut off, and cannot be billed).
 */
const RESPONSE_STREAM_EVENTS = new Map([
  ['response.created', false],
  ['response.queued', false],
  ['response.in_progress', false],
  ['response.completed', true],
  ['response.incomplete', true],
  ['response.failed', true],
]);

/**
 * Whether a record is a response itself (or a Responses stream event), not a log record or batch line around one.
 * A record whose `response` is an object is a log record or batch line, whatever its own `type` or `object` says
 * ("response.received", "chat.completion"), unless it is a Responses stream event: one of those that carry the
 * whole response object, with nothing of a log record (`request`, `custom_id`) beside it.
 */
function isResponse(r: Obj): boolean {
  if (isObj(r.response)) {
    return (
      typeof r.type === 'string' &&
      RESPONSE_STREAM_EVENTS.has(r.type) &&
      typeof r.object !== 'string' &&
      r.response.object === 'response' &&
      !('request' in r) &&
      !('custom_id' in r)
    );
  }
  if (typeof r.object === 'string') return RESPONSE_OBJECTS.has(r.object);
  return typeof r.type === 'string' && r.type.startsWith('response.');
}

/**
 * Whether a record that is no response is a Batch API output line: a `custom_id` with the response under
 * `response.body` beside its `status_code` (or no response: an error line). A log record may have a `custom_id`
 * of its own.
 */
function isBatchLine(r: Obj): boolean {
  if (typeof r.custom_id !== 'string') return false;
  return r.response === undefined || r.response === null || (isObj(r.response) && 'status_code' in r.response);
}

/** Finds the response in a record, and what kind it is. */
function recognise(record: Obj): Shape {
  let p = '$';
  let r: Obj = record;
  let batch = false;
  // The id of the Responses stream this record's last event ends.
  let endsStream: string | undefined;
  // A log record may have a `type` or `object` of its own ("llm_call", "log_entry"): only a response's own says what
  // the record is.
  if (!isResponse(r) && ('response' in r || 'request' in r || 'custom_id' in r)) {
    // A Batch API line or a log record: the response is under `response` (a batch line's under response.body).
    batch = isBatchLine(r);
    if (isError(r.error)) return { kind: 'skip', reason: batch ? 'batch_error' : 'error_response' };
    const inner = r.response;
    if (inner === undefined || inner === null)
      return { kind: 'reject', error: `${batch ? 'batch line' : 'log record'} without a response (and without an error): nothing to bill` };
    if (!isObj(inner))
      return { kind: 'reject', error: `response: must be a JSON object, got ${Array.isArray(inner) ? 'an array' : `a ${typeof inner}`}` };
    if ('status_code' in inner && 'body' in inner) {
      if (inner.status_code !== 200) return { kind: 'skip', reason: batch ? 'batch_non_200' : 'error_response' };
      if (!isObj(inner.body)) return { kind: 'reject', error: 'response.body: must be a JSON object' };
      p = '$.response.body';
      r = inner.body;
    } else if (batch) {
      return { kind: 'reject', error: 'batch line: response has no status_code and body' };
    } else {
      p = '$.response';
      r = inner;
    }
  }
  if (typeof r.type === 'string' && r.type.startsWith('response.') && typeof r.object !== 'string') {
    // A Responses stream event: the last one carries the whole response, with usage.
    const inner = isObj(r.response) ? r.response : null;
    const last = RESPONSE_STREAM_EVENTS.get(r.type);
    const stream = last !== undefined && typeof inner?.id === 'string' ? { id: inner.id, ends: last } : undefined;
    if (r.type === 'response.failed') return { kind: 'skip', reason: 'response_failed', stream };
    if (r.type !== 'response.completed' && r.type !== 'response.incomplete')
      return { kind: 'skip', reason: 'stream_event_without_usage', stream };
    if (!isObj(r.response)) return { kind: 'reject', error: `${r.type} event without a response object` };
    p = at(p, 'response');
    r = r.response;
    if (typeof r.id === 'string') endsStream = r.id;
  }
  if (typeof r.object !== 'string') {
    if (isObj(r.error) && isError(r.error)) return { kind: 'skip', reason: 'error_response' };
    // A Responses stream's `error` event ({"type":"error","code":...,"message":...,"sequence_number":N}).
    if (r.type === 'error' && typeof r.message === 'string') return { kind: 'skip', reason: 'error_response' };
    return { kind: 'reject', error: `not an OpenAI response: no "object" field (${EXPECTED})` };
  }
  switch (r.object) {
    case 'chat.completion':
    case 'chat.completion.chunk':
      return { p, api: 'chat.completions', batch, response: r };
    case 'text_completion':
      return { p, api: 'completions', batch, response: r };
    case 'response':
      if (r.status === 'failed')
        return { kind: 'skip', reason: 'response_failed', stream: endsStream === undefined ? undefined : { id: endsStream, ends: true } };
      return { p, api: 'responses', batch, response: r, endsStream };
    case 'list':
      if (Array.isArray(r.data) && (r.data.length === 0 || (isObj(r.data[0]) && r.data[0].object === 'embedding'))) {
        return { p, api: 'embeddings', batch, response: r };
      }
      return { kind: 'reject', error: `not an OpenAI response: a list that is not of embeddings (${EXPECTED})` };
    default:
      return { kind: 'reject', error: `not an OpenAI response: object ${JSON.stringify(String(r.object).slice(0, 64))} (${EXPECTED})` };
  }
}

/** Every path the response can be found at (see recognise): a record, a log record's, a batch line's, a stream event's. */
const RESPONSE_PATHS = ['$', '$.response', '$.response.body', '$.response.response', '$.response.body.response'];
const APIS: Api[] = ['chat.completions', 'responses', 'completions', 'embeddings'];

/**
 * What the map reads of a record: every path of every shape's spec, and what recognise and the mapper look at (keys
 * whose presence or kind tells the shape), as steps. Anything else in a record is only checked.
 */
function openaiPaths(o: MapOverrides): Array<Array<string | number>> {
  const paths: Array<Array<string | number>> = [];
  const add = (path: string) => paths.push(pathSteps(path));
  for (const p of RESPONSE_PATHS) {
    for (const api of APIS) {
      for (const batch of [false, true]) {
        const spec = openaiSpec(p, api, batch);
        for (const field of [spec.id, spec.time, spec.subject, ...Object.values(spec.data ?? {})]) {
          const path = typeof field === 'object' && field !== null && !Array.isArray(field) ? field.path : field;
          for (const one of Array.isArray(path) ? path : [path]) if (typeof one === 'string' && one.startsWith('$')) add(one);
        }
      }
    }
    // `usage`, `response` and `body` are objects read member by member, through the specs' paths above.
    for (const key of ['object', 'type', 'status', 'id', 'error', 'message', 'data', 'custom_id', 'status_code']) add(at(p, key));
  }
  if (o.subjectPath !== undefined) add(o.subjectPath);
  return paths;
}

/** A count field's value when it is a plain count, or its default (undefined: none); null for anything else. */
function plainCount(rule: Rule, record: Obj): number | undefined | null {
  const v = lookup(rule, record);
  if (v === undefined) return rule.default === undefined ? (rule.required ? null : undefined) : (rule.default as number);
  // -0 is left to the generic path: the data it parses keeps the sign.
  return typeof v === 'number' && Number.isSafeInteger(v) && (v > 0 || Object.is(v, 0)) ? v : null;
}

/** A string field's value when it is a well-formed string (undefined: absent and not required); null otherwise. */
function plainString(rule: Rule, record: Obj): string | undefined | null {
  const v = lookup(rule, record);
  if (v === undefined) return rule.required ? null : undefined;
  // Null (the generic path says what is wrong) for anything but a well-formed string, and for an empty required one.
  return typeof v === 'string' && v.isWellFormed() && (v !== '' || !rule.required) ? v : null;
}

/**
 * The usual record's event, made in one go: every field present as the spec expects it (strings, safe counts, a
 * whole-second time in range), so that the data's text, written here in the order of openaiSpec plus
 * uncached_input_tokens (and the totals when missing) as the generic path inserts them, is canonical as written.
 * Null for anything else (a problem, a default subject by number, an embeddings shape): the generic path maps it
 * and says what is wrong.
 */
function canonical(m: Mapping, record: Obj): CanonicalEvent | null {
  const source = m.source.value,
    type = m.type.value;
  if (typeof source !== 'string' || typeof type !== 'string' || m.time === null || m.time.format !== 'unix') return null;
  const id = lookup(m.id, record),
    t = lookup(m.time, record),
    found = lookup(m.subject, record);
  if (typeof id !== 'string' || typeof found !== 'string' || typeof t !== 'number' || !Number.isSafeInteger(t)) return null;
  let subject = found;
  if (m.subject.pattern !== null) {
    const match = m.subject.pattern.exec(subject);
    if (match === null || match[1] === undefined) return null;
    subject = match[1];
  }
  const timeMs = t * 1000 + 0;
  if (!(timeMs >= MIN_INSTANT_MS && timeMs <= MAX_INSTANT_MS)) return null;
  if (!plainAttribute(id) || !plainAttribute(subject) || !plainAttribute(source) || !plainAttribute(type)) return null;
  // openaiSpec's data: model, api, input, cached, output, reasoning, total_tokens, tokens, service_tier, batch.
  const d = m.data;
  if (d.length !== 10 || d[1]!.literal === undefined || d[9]!.literal === undefined) return null;
  const model = plainString(d[0]!, record),
    tier = plainString(d[8]!, record);
  const input = plainCount(d[2]!, record),
    cached = plainCount(d[3]!, record),
    output = plainCount(d[4]!, record),
    reasoning = plainCount(d[5]!, record);
  let total = plainCount(d[6]!, record);
  if (model == null || input == null || cached == null || output == null || reasoning == null || total === null || tier === null)
    return null;
  if (cached > input || reasoning > output) return null;
  if (total === undefined) {
    total = input + output;
    if (!Number.isSafeInteger(total)) return null;
  }
  // Joined, not concatenated: a concatenation is a tree of strings, which the garbage collector copies as long as the
  // event waits in its chunk (thousands of events), unless something reads it flat first.
  const data = [
    `{${d[0]!.keyText}${JSON.stringify(model)},${d[1]!.keyText}${d[1]!.literal[0]},${d[2]!.keyText}${input},${d[3]!.keyText}${cached},`,
    `"uncached_input_tokens":${input - cached},${d[4]!.keyText}${output},${d[5]!.keyText}${reasoning},${d[6]!.keyText}${total},${d[7]!.keyText}${total}`,
    `${tier === undefined ? '' : `,${d[8]!.keyText}${JSON.stringify(tier)}`},${d[9]!.keyText}${d[9]!.literal[0]}}`,
  ].join('');
  return { id, source, type, subject, timeMs, data };
}

/** Streams remembered (by id) to find those that never got their usage chunk; beyond this, no more are tracked. */
const MAX_TRACKED_STREAMS = 1_000_000;

export function openaiMapper(o: MapOverrides = {}): RecordMapper {
  const compiled = new Map<string, Mapping>();
  // Records of one log are mostly of one shape: the last one's mapping is kept at hand.
  let last: { p: string; api: Api; batch: boolean; m: Mapping } | null = null;
  const mapping = (p: string, api: Api, batch: boolean): Mapping => {
    if (last !== null && last.p === p && last.api === api && last.batch === batch) return last.m;
    const key = `${p}|${api}|${batch}`;
    let m = compiled.get(key);
    if (m === undefined) compiled.set(key, (m = compileMapping(openaiSpec(p, api, batch), 'built-in map openai', o)));
    last = { p, api, batch, m };
    return m;
  };
  // One shape now, so that a bad --subject-path or --subject-pattern is reported before anything is read.
  mapping('$', 'chat.completions', false);
  // Chunk ids of streams without a usage chunk yet, and of those that had one (chunks may come in any order).
  const open = new Set<string>();
  const billed = new Set<string>();
  const skip = (reason: keyof typeof OPENAI_SKIPS): MapOutcome => ({ kind: 'skip', reason });
  const streamEnded = (id: string) => {
    open.delete(id);
    if (billed.size < MAX_TRACKED_STREAMS) billed.add(id);
  };

  const paths = openaiPaths(o);
  const wanted: Wanted = new Map();
  for (const steps of paths) addWanted(wanted, steps);
  // A --subject-path into an array, or to a member other paths read inside, has the map read inside a member that
  // sparseParse builds whole, unchecked: then every record takes the generic path.
  const sparse = !paths.some((steps) => insideWhole(wanted, steps));
  // sparseParse gives up on a member of `wanted` given twice, so the generic path alone decides on those; without a
  // path inside what sparseParse builds whole, this tree has the members of `wanted`.
  const tree = pathTree(paths);

  /** The mapping of one record; `fast`: from sparseParse, events as fields (TextOutcome), else as event text. */
  /** The usage members whose cached and reasoning counts the map reads (Chat Completions' and Responses' names). */
  const DETAILS = ['prompt_tokens_details', 'completion_tokens_details', 'input_tokens_details', 'output_tokens_details'] as const;

  function mapRecord(record: unknown, text: string, fast: boolean, literals: Literals): TextOutcome {
    if (!isObj(record)) return { kind: 'reject', error: `not an OpenAI response: a record must be a JSON object` };
    const shape = recognise(record);
    if ('kind' in shape) {
      if (shape.kind === 'skip' && shape.stream !== undefined) {
        const { id, ends } = shape.stream;
        if (ends) streamEnded(id);
        else if (!billed.has(id) && open.size < MAX_TRACKED_STREAMS) open.add(id);
        return skip(shape.reason);
      }
      return shape;
    }
    const { p, api, batch, response: r } = shape;
    // A Responses stream's last event (response.completed or response.incomplete) ends it.
    if (shape.endsStream !== undefined) streamEnded(shape.endsStream);
    const chunk = r.object === 'chat.completion.chunk';
    // A Responses object still queued, in progress or cancelled is no final count, whatever usage it carries: its
    // completed copy (the same id) is, and a first copy billed would win over it. (A stream's last event says by
    // its type that its response ended.)
    const unfinished = r.status === 'queued' || r.status === 'in_progress' || r.status === 'cancelled';
    if (api === 'responses' && unfinished && shape.endsStream === undefined) return skip('response_not_completed');
    if (r.usage === undefined || r.usage === null) {
      if (chunk) {
        if (typeof r.id === 'string' && !billed.has(r.id) && open.size < MAX_TRACKED_STREAMS) open.add(r.id);
        return skip('stream_chunk_without_usage');
      }
      if (api === 'responses' && r.status !== 'completed' && r.status !== 'incomplete') return skip('response_not_completed');
      return skip('no_usage');
    }
    // A stream's usage chunk came: whether it maps or is rejected (with its reason), the stream did not end without one.
    if (chunk && typeof r.id === 'string') streamEnded(r.id);
    if (!isObj(r.usage))
      return {
        kind: 'reject',
        error: `${at(p, 'usage')}: must be an object, got ${Array.isArray(r.usage) ? 'an array' : `a ${typeof r.usage}`}`,
      };
    // A details object of another type would read as "no cached (or reasoning) tokens": all billed at the full rate.
    for (const k of DETAILS) {
      const d = r.usage[k];
      if (d !== undefined && d !== null && !isObj(d))
        return {
          kind: 'reject',
          error: `${at(p, 'usage')}.${k}: must be an object, got ${Array.isArray(d) ? 'an array' : `a ${typeof d}`}`,
        };
    }
    if (api === 'embeddings' && p === '$') {
      return {
        kind: 'reject',
        error: "embeddings response without an id: log it inside a record with a request_id (OpenAI's x-request-id) so that it counts once",
      };
    }
    if (fast && api !== 'embeddings') {
      const event = canonical(mapping(p, api, batch), record);
      if (event !== null) return { kind: 'canonical', event };
    }
    const f = fast
      ? mapFields(mapping(p, api, batch), record, text, literals)
      : applyMapping(mapping(p, api, batch), record, text, literals);
    if ('problems' in f) return { kind: 'reject', error: f.problems.join('; ') };
    // The spec's fields 0-5 are always there: model, api, input, cached, output, reasoning (see openaiSpec).
    const d = f.data;
    const input = d[2]![2] as number,
      cached = d[3]![2] as number,
      output = d[4]![2] as number,
      reasoning = d[5]![2] as number;
    // Cached tokens are inside input tokens and reasoning tokens inside output tokens: more is impossible.
    if (cached > input) return { kind: 'reject', error: `cached tokens (${cached}) exceed input tokens (${input}), which include them` };
    if (reasoning > output)
      return { kind: 'reject', error: `reasoning tokens (${reasoning}) exceed output tokens (${output}), which include them` };
    d.splice(4, 0, ['uncached_input_tokens', String(input - cached), input - cached, '"uncached_input_tokens":']);
    if (d[7]?.[0] !== 'total_tokens') {
      const total = input + output;
      if (!Number.isSafeInteger(total)) return { kind: 'reject', error: `input + output tokens (${input} + ${output}) are over 2^53-1` };
      d.splice(7, 0, ['total_tokens', String(total), total, '"total_tokens":'], ['tokens', String(total), total, '"tokens":']);
    }
    return fast ? { kind: 'fields', fields: f } : { kind: 'event', ...buildEvent(f) };
  }

  const mapper: RecordMapper = {
    map(record, text) {
      const literals = readRecordText(text, tree);
      return 'problem' in literals ? { kind: 'reject', error: literals.problem } : (mapRecord(record, text, false, literals) as MapOutcome);
    },
    mapText(text) {
      const record = sparseParse(text, wanted);
      // sparseParse builds a safe integer only from an integer literal (see sparse-json.ts).
      return record === null ? null : mapRecord(record, text, true, NO_LITERALS);
    },
    finish: () => ({ unbilledStreams: open.size }),
  };
  if (!sparse) delete mapper.mapText;
  return mapper;
}
