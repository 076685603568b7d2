/**
 * Deterministic generator of OpenAI-style usage logs (NDJSON CloudEvents): N unique events over 30 days, random
 * `chatcmpl-...` ids, a share of exact duplicates, S subjects and a few models. The same arguments always give
 * the same bytes, so benchmark runs compare like with like.
 *
 *   node dist/bench/generate.js --events 1000000 --duplicates 0.02 --subjects 1000 > events.ndjson
 */
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { once } from 'node:events';

export interface GenerateOptions {
  events: number;
  duplicateRate: number;
  subjects: number;
  seed: number;
  /** First event time (epoch ms); events spread over 30 days from here. */
  startMs: number;
  /** Extra lines for the bundled example: a conflicting duplicate and some bad lines. */
  withBadLines: boolean;
}

export const MODELS = ['gpt-4o', 'gpt-4o-mini', 'o3-mini', 'gpt-4.1'];
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** mulberry32: a small, fast, deterministic PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Yields the lines of a log. */
export function* generateLines(o: GenerateOptions): Generator<string> {
  const rnd = prng(o.seed);
  const span = 30 * 86_400_000;
  const recent: string[] = [];
  for (let i = 0; i < o.events; i++) {
    let id = 'chatcmpl-';
    for (let k = 0; k < 29; k++) id += ALPHABET[Math.floor(rnd() * ALPHABET.length)];
    const subject = `customer-${String(Math.floor(rnd() * o.subjects) + 1).padStart(4, '0')}`;
    const model = MODELS[Math.floor(rnd() * MODELS.length)]!;
    const prompt = 20 + Math.floor(rnd() * 2000);
    const completion = 1 + Math.floor(rnd() * 800);
    // Time grows with i (a log is roughly ordered) with jitter, millisecond precision.
    const t = o.startMs + Math.floor(((i + rnd()) / o.events) * span);
    const line =
      `{"specversion":"1.0","type":"prompt","id":"${id}","source":"openai-proxy","subject":"${subject}",` +
      `"time":"${new Date(t).toISOString()}","data":{"tokens":${prompt + completion},"model":"${model}",` +
      `"prompt_tokens":${prompt},"completion_tokens":${completion}}}`;
    yield line;
    recent.push(line);
    if (recent.length > 64) recent.shift();
    // Exact re-deliveries, as a retrying shipper produces them.
    if (rnd() < o.duplicateRate) yield recent[Math.floor(rnd() * recent.length)]!;
    if (o.withBadLines && i === Math.floor(o.events / 3)) {
      yield '{"specversion":"1.0","type":"prompt","id":"chatcmpl-broken","source":"openai-proxy","subject":"customer-0001","time":"2026-11-02T10:00:00Z","data":{"tokens":';
      yield `{"specversion":"1.0","type":"prompt","id":"chatcmpl-notime-zone","source":"openai-proxy","subject":"customer-0002","time":"2026-11-02 10:00:00","data":{"tokens":10,"model":"gpt-4o"}}`;
    }
    if (o.withBadLines && i === Math.floor((2 * o.events) / 3)) {
      // Same (source, id) as an earlier event, other content: a conflicting duplicate, which loses.
      yield recent[0]!.replace(/"tokens":\d+/, '"tokens":999999');
      yield `{"specversion":"1.0","type":"prompt","id":"chatcmpl-feb30","source":"openai-proxy","subject":"customer-0003","time":"2026-02-30T10:00:00Z","data":{"tokens":5,"model":"gpt-4o"}}`;
    }
  }
}

export async function writeLog(o: GenerateOptions, out: Writable): Promise<void> {
  let buf: string[] = [];
  for (const line of generateLines(o)) {
    buf.push(line);
    if (buf.length >= 2000) {
      if (!out.write(buf.join('\n') + '\n')) await once(out, 'drain');
      buf = [];
    }
  }
  if (buf.length) out.write(buf.join('\n') + '\n');
}

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = arg('out', '-');
  const stream = out === '-' ? process.stdout : createWriteStream(out);
  await writeLog(
    {
      events: Number(arg('events', '1000000')),
      duplicateRate: Number(arg('duplicates', '0.02')),
      subjects: Number(arg('subjects', '1000')),
      seed: Number(arg('seed', '42')),
      startMs: Date.parse(arg('start', '2026-10-01T00:00:00Z')),
      withBadLines: process.argv.includes('--bad-lines'),
    },
    stream,
  );
  if (stream !== process.stdout) stream.end();
}
