/**
 * A seeded corpus of OpenAI records in every shape `--map openai` reads (../shared/docs/openai-and-pricing.md,
 * part 1), with the exact totals they must give: per customer and model, per token kind. Skipped and rejected
 * records are generated too, with how many of each to expect.
 */

import { prng } from '../bench/generate.js';

/** mulberry32 (the log generator's), so a failing corpus can be made again from its seed. */
export const rng = prng;

export const KINDS = [
  'input_tokens',
  'cached_input_tokens',
  'uncached_input_tokens',
  'output_tokens',
  'reasoning_tokens',
  'total_tokens',
] as const;
export type Kind = (typeof KINDS)[number];
export type Totals = Map<string, Record<Kind, number>>;

export interface Corpus {
  /** The main log: every shape but batch lines. */
  log: string[];
  /** Batch API output (the customer is in custom_id: `cust_N:row_M`). */
  batch: string[];
  /** The same billable responses as `log`, logged another way (request/response records). */
  relogged: string[];
  /** Expected totals, key `subject|model`. */
  totals: Totals;
  events: number;
  skipped: Record<string, number>;
  rejected: number;
  unbilledStreams: number;
}

const MODELS = ['gpt-5.4', 'gpt-5.4-mini', 'gpt-4o-mini-2024-07-18', 'gpt-4.1', 'o3-2025-04-16'];
const CUSTOMERS = ['cust_1', 'cust_2', 'cust_3', 'cust_ö4', 'cust_5'];

export function generate(seed: number, n: number): Corpus {
  const r = rng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const chance = (p: number) => r() < p;
  const c: Corpus = { log: [], batch: [], relogged: [], totals: new Map(), events: 0, skipped: {}, rejected: 0, unbilledStreams: 0 };
  const skip = (reason: string) => (c.skipped[reason] = (c.skipped[reason] ?? 0) + 1);
  let seq = 0;
  const id = (prefix: string) => `${prefix}${(seq++).toString(36)}${Math.floor(r() * 1e9).toString(36)}`;
  const created = () => int(1735689600, 1798761599); // 2025-2026

  /** Usage figures for one call, and what it adds to the totals. */
  const usage = (subject: string, model: string, embeddings = false) => {
    const input = int(0, 5000);
    const cached = embeddings ? 0 : chance(0.5) ? int(0, input) : 0;
    const output = embeddings ? 0 : int(0, 3000);
    const reasoning = embeddings ? 0 : chance(0.4) ? int(0, output) : 0;
    const key = `${subject}|${model}`;
    const t = c.totals.get(key) ?? {
      input_tokens: 0,
      cached_input_tokens: 0,
      uncached_input_tokens: 0,
      output_tokens: 0,
      reasoning_tokens: 0,
      total_tokens: 0,
    };
    t.input_tokens += input;
    t.cached_input_tokens += cached;
    t.uncached_input_tokens += input - cached;
    t.output_tokens += output;
    t.reasoning_tokens += reasoning;
    t.total_tokens += input + output;
    c.totals.set(key, t);
    c.events++;
    return { input, cached, output, reasoning };
  };
  /** Chat-style usage, details present or absent (absent only when they would be 0). */
  const chatUsage = (u: ReturnType<typeof usage>) => {
    const o: Record<string, unknown> = { prompt_tokens: u.input, completion_tokens: u.output, total_tokens: u.input + u.output };
    if (u.cached > 0 || chance(0.5)) o.prompt_tokens_details = { cached_tokens: u.cached, audio_tokens: 0 };
    if (u.reasoning > 0 || chance(0.5)) {
      o.completion_tokens_details = {
        reasoning_tokens: u.reasoning,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0,
      };
    }
    return o;
  };
  const responsesUsage = (u: ReturnType<typeof usage>) => ({
    input_tokens: u.input,
    input_tokens_details: { cached_tokens: u.cached, cache_write_tokens: 0 },
    output_tokens: u.output,
    output_tokens_details: { reasoning_tokens: u.reasoning },
    total_tokens: u.input + u.output,
  });
  const chat = (subject: string | null, model: string, u: ReturnType<typeof usage>, rid = id('chatcmpl-')) => {
    const o: Record<string, unknown> = {
      id: rid,
      object: 'chat.completion',
      created: created(),
      model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Hello!', refusal: null, annotations: [] },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage: chatUsage(u),
    };
    if (chance(0.6)) o.service_tier = pick(['default', 'flex', 'priority']);
    if (chance(0.2)) o.service_tier = null;
    if (subject !== null) o.customer_id = subject;
    return o;
  };
  const response = (model: string, u: ReturnType<typeof usage> | null, status = 'completed') => ({
    id: id('resp_'),
    object: 'response',
    created_at: created(),
    status,
    completed_at: null,
    model,
    output: [],
    usage: u === null ? null : responsesUsage(u),
    user: null,
    metadata: {},
    service_tier: 'default',
    safety_identifier: null,
    prompt_cache_key: null,
  });

  for (let i = 0; i < n; i++) {
    const subject = pick(CUSTOMERS),
      model = pick(MODELS);
    const shape = int(0, 9);
    if (shape === 0) {
      // A bare chat completion, annotated with the customer by the app.
      const o = chat(subject, model, usage(subject, model));
      c.log.push(JSON.stringify(o));
      c.relogged.push(
        JSON.stringify({ ts: '2026-01-01T00:00:00Z', request: { model, user: subject }, response: { ...o, customer_id: undefined } }),
      );
    } else if (shape === 1) {
      // A stream: chunks without usage (skipped), then the usage chunk (choices: []); some streams are cut off.
      const sid = id('chatcmpl-'),
        t = created();
      const chunks = int(1, 4);
      for (let k = 0; k < chunks; k++) {
        c.log.push(
          JSON.stringify({
            id: sid,
            object: 'chat.completion.chunk',
            created: t,
            model,
            system_fingerprint: 'fp_44709d6fcb',
            choices: [{ index: 0, delta: { content: 'x' }, finish_reason: null }],
            usage: null,
            obfuscation: 'abc',
          }),
        );
        skip('stream_chunk_without_usage');
      }
      if (chance(0.15)) {
        c.unbilledStreams++;
        continue;
      }
      const u = usage(subject, model);
      const last = {
        id: sid,
        object: 'chat.completion.chunk',
        created: t,
        model,
        system_fingerprint: 'fp_44709d6fcb',
        choices: [],
        usage: chatUsage(u),
      };
      c.log.push(JSON.stringify({ customer_id: subject, ...last }));
      c.relogged.push(JSON.stringify({ request: { user: subject, stream: true }, response: last }));
    } else if (shape === 2) {
      // A Responses object; the customer is what it echoes (metadata.customer_id, safety_identifier or user).
      const o: Record<string, unknown> = response(model, usage(subject, model));
      const where = int(0, 2);
      if (where === 0) o.metadata = { customer_id: subject, other: 'x' };
      else if (where === 1) o.safety_identifier = subject;
      else o.user = subject;
      c.log.push(JSON.stringify(o));
      c.relogged.push(JSON.stringify({ customer_id: subject, request: { model }, response: o }));
    } else if (shape === 3) {
      // A Responses stream: events before the last carry no usage.
      const o = { ...response(model, usage(subject, model)), metadata: { customer_id: subject } };
      c.log.push(JSON.stringify({ type: 'response.created', sequence_number: 0, response: { ...o, status: 'in_progress', usage: null } }));
      c.log.push(
        JSON.stringify({
          type: 'response.output_text.delta',
          sequence_number: 1,
          item_id: 'msg_1',
          output_index: 0,
          content_index: 0,
          delta: 'Hi',
        }),
      );
      skip('stream_event_without_usage');
      skip('stream_event_without_usage');
      c.log.push(JSON.stringify({ type: 'response.completed', sequence_number: 2, response: o }));
      c.relogged.push(JSON.stringify(o));
    } else if (shape === 4) {
      // Legacy completions, wrapped with the customer in the request.
      const u = usage(subject, model);
      const o = {
        id: id('cmpl-'),
        object: 'text_completion',
        created: created(),
        model,
        choices: [{ text: 'x', index: 0, logprobs: null, finish_reason: 'length' }],
        usage: { prompt_tokens: u.input, completion_tokens: u.output, total_tokens: u.input + u.output },
      };
      // text_completion has no details: the counts are made to fit.
      fixNoDetails(c, subject, model, u);
      c.log.push(JSON.stringify({ request: { model, prompt: 'x', metadata: { customer_id: subject } }, response: o }));
      c.relogged.push(JSON.stringify({ customer_id: subject, response: o }));
    } else if (shape === 5) {
      // A wrapped chat completion, the customer given three ways.
      const o = chat(null, model, usage(subject, model));
      const way = int(0, 2);
      const rec =
        way === 0
          ? { customer_id: subject, request: { model }, response: o }
          : way === 1
            ? { request: { model, user: subject }, response: o }
            : { request: { model, safety_identifier: subject }, response: o };
      // Loggers write "no error" in many ways: each is no error.
      if (chance(0.3)) Object.assign(rec, { error: pick([null, false, '', {}, []]) });
      // A log record's own type or object says nothing of the response in it.
      if (chance(0.3)) Object.assign(rec, pick([{ type: 'llm_call' }, { object: 'log_entry' }, { type: 'x', object: 'chat.log' }]));
      c.log.push(JSON.stringify(rec));
      c.relogged.push(JSON.stringify({ subject, response: o }));
    } else if (shape === 6) {
      // Embeddings: only a wrapper's request id identifies them.
      const u = usage(subject, model, true);
      const body = {
        object: 'list',
        data: [{ object: 'embedding', embedding: [0.0023064255, -0.009327292], index: 0 }],
        model,
        usage: { prompt_tokens: u.input, total_tokens: u.input },
      };
      const rid = id('req_'),
        ts = created();
      c.log.push(JSON.stringify({ request_id: rid, ts, customer_id: subject, request: { model, input: 'x' }, response: body }));
      c.relogged.push(JSON.stringify({ request_id: rid, time: new Date(ts * 1000).toISOString(), customer_id: subject, response: body }));
      if (chance(0.3)) {
        c.log.push(JSON.stringify(body)); // no id: rejected
        c.rejected++;
      }
    } else if (shape === 7) {
      // Batch API output lines, some failed.
      const row = `${subject}:row_${i}`;
      if (chance(0.1)) {
        c.batch.push(
          JSON.stringify({ id: id('batch_req_'), custom_id: row, response: null, error: { code: 'batch_expired', message: 'expired' } }),
        );
        skip('batch_error');
        // biome-ignore lint/suspicious/noDuplicateElseIf: each chance() draws a new number
      } else if (chance(0.1)) {
        c.batch.push(
          JSON.stringify({
            id: id('batch_req_'),
            custom_id: row,
            response: { status_code: 429, request_id: id('req_'), body: { error: { message: 'rate limited', type: 'requests' } } },
            error: null,
          }),
        );
        skip('batch_non_200');
      } else {
        const body = chance(0.7) ? chat(null, model, usage(subject, model)) : { ...response(model, usage(subject, model)) };
        c.batch.push(
          JSON.stringify({
            id: id('batch_req_'),
            custom_id: row,
            response: { status_code: 200, request_id: id('req_'), body },
            error: null,
          }),
        );
      }
    } else if (shape === 8) {
      // Responses that bill nothing.
      if (chance(0.5)) {
        c.log.push(JSON.stringify({ ...response(model, null, 'failed'), metadata: { customer_id: subject } }));
        skip('response_failed');
      } else {
        c.log.push(JSON.stringify({ ...response(model, null, 'in_progress'), metadata: { customer_id: subject } }));
        skip('response_not_completed');
      }
    } else {
      // A logged API error.
      c.log.push(
        JSON.stringify({
          customer_id: subject,
          request: { model },
          response: { error: { message: 'bad', type: 'invalid_request_error', code: null } },
        }),
      );
      skip('error_response');
    }
  }
  return c;
}

/** text_completion has no cached or reasoning details: the last usage() is adjusted to have none. */
function fixNoDetails(c: Corpus, subject: string, model: string, u: { cached: number; reasoning: number }): void {
  const t = c.totals.get(`${subject}|${model}`)!;
  t.cached_input_tokens -= u.cached;
  t.uncached_input_tokens += u.cached;
  t.reasoning_tokens -= u.reasoning;
  u.cached = 0;
  u.reasoning = 0;
}
