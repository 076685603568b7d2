/**
 * The body parser of `meter serve` (src/http/body-parser.ts): a large body is parsed on a worker thread, a small
 * one inline, and either way the answer is parseIngestBody's; bodies are answered in the order they came.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { UsageEvent } from '../src/core/event.js';
import { BodyParser, WORKER_MIN_CHARS } from '../src/http/body-parser.js';
import { parseIngestBody } from '../src/http/ingest-body.js';
import { HttpProblem } from '../src/http/problem.js';
import { genCase, Rng, runSeed } from './gen.js';

const parser = new BodyParser();
after(() => parser.close());

const BATCH = 'application/cloudevents-batch+json';

/** The outcome of a parse, comparable: its events in a fixed order, or its problem. */
type Outcome = { events: string[] } | { problem: { status: number; detail: string; extensions: unknown } };

function outcomeOf(run: () => UsageEvent[]): Outcome {
  try {
    return eventsOutcome(run());
  } catch (e) {
    return problemOutcome(e);
  }
}

/** The events in their order, without the parsed `data` that only `meter ingest` uses (for its meters' checks). */
const eventsOutcome = (events: UsageEvent[]): Outcome => ({
  events: events.map(({ dataValue: _, ...e }) => JSON.stringify(e)),
});

/** Whether a generated line is one valid event (some lines are arrays of events, some are invalid). */
function valid(line: string): boolean {
  if (!line.trimStart().startsWith('{')) return false;
  try {
    return parseIngestBody(line, 'application/json', 0, false).length === 1;
  } catch {
    return false;
  }
}

function problemOutcome(e: unknown): Outcome {
  if (!(e instanceof HttpProblem)) throw e;
  return { problem: { status: e.status, detail: e.detail, extensions: e.extensions } };
}

test('generated bodies: the worker gives exactly what parseIngestBody gives inline, events and problems', async () => {
  const seed = runSeed();
  const rng = new Rng(seed);
  for (let round = 0; round < 12; round++) {
    const events: string[] = [];
    while (events.join(',').length < WORKER_MIN_CHARS) {
      for (const line of genCase(rng.int(0, 0xffffffff), rng.int(40, 400)).lines) if (valid(line)) events.push(line);
      // Events without a time take the request's.
      events.push(`{"specversion":"1.0","id":"t${events.length}","source":"s","type":"t","subject":"a","data":{"v":1}}`);
    }
    // Some bodies get invalid events among the valid ones: the problem must list every one of them.
    const invalid = rng.chance(0.4);
    if (invalid) events.splice(rng.int(0, events.length), 0, '{"id":""}', '{"specversion":"1.0","id":"x"}');
    const text = `[${events.join(',')}]`;
    const nowMs = rng.int(0, 2e12);
    const fingerprints = rng.chance(0.5);
    const inline = outcomeOf(() => parseIngestBody(text, BATCH, nowMs, fingerprints));
    const viaWorker = await parser.parse({ text, contentType: BATCH, nowMs, fingerprints }).then(eventsOutcome, problemOutcome);
    assert.equal('problem' in inline, invalid, `seed ${seed}, round ${round}`);
    assert.deepEqual(viaWorker, inline, `seed ${seed}, round ${round}`);
  }
});

test('a small body is parsed inline; a content type or JSON problem comes back from the worker unchanged', async () => {
  const one = '{"specversion":"1.0","id":"1","source":"s","type":"t","subject":"a","data":{"v":1}}';
  assert.deepEqual(
    await parser.parse({ text: one, contentType: 'application/json', nowMs: 7, fingerprints: false }).then(eventsOutcome),
    outcomeOf(() => parseIngestBody(one, 'application/json', 7, false)),
  );
  const big = `[${Array.from({ length: 200 }, (_, i) => one.replace('"id":"1"', `"id":"${i}"`)).join(',')}]`;
  for (const [text, type] of [
    [big, 'application/cloudevents+json'],
    [big, 'text/plain'],
    [`${big},`, BATCH],
  ] as const) {
    const inline = outcomeOf(() => parseIngestBody(text, type, 0, false));
    assert.ok('problem' in inline);
    assert.deepEqual(
      await parser.parse({ text, contentType: type, nowMs: 0, fingerprints: false }).then(eventsOutcome, problemOutcome),
      inline,
    );
  }
});

test('bodies are answered in the order they came: a small one never overtakes a large one before it', async () => {
  const event = (id: string, v: number) => `{"specversion":"1.0","id":"${id}","source":"s","type":"t","subject":"a","data":{"v":${v}}}`;
  const large = `[${Array.from({ length: 300 }, (_, i) => event(`L${i}`, i)).join(',')}]`;
  const order: string[] = [];
  const jobs = [
    parser.parse({ text: large, contentType: BATCH, nowMs: 0, fingerprints: false }).then(() => order.push('large 1')),
    parser
      .parse({ text: event('s1', 1), contentType: 'application/json', nowMs: 0, fingerprints: false })
      .then(() => order.push('small 1')),
    parser.parse({ text: large, contentType: BATCH, nowMs: 0, fingerprints: false }).then(() => order.push('large 2')),
    parser
      .parse({ text: '{"id":""}', contentType: 'application/json', nowMs: 0, fingerprints: false })
      .catch(() => order.push('bad small')),
  ];
  await Promise.all(jobs);
  assert.deepEqual(order, ['large 1', 'small 1', 'large 2', 'bad small']);
  // With nothing left in the worker, a small body is answered at once again.
  const alone = parser.parse({ text: event('s2', 2), contentType: 'application/json', nowMs: 0, fingerprints: false });
  let settled = false;
  void alone.then(() => (settled = true));
  await Promise.resolve();
  assert.equal(settled, true);
});

test('copies of one event in a large body keep their order, so the first copy is the one stored', async () => {
  const event = (id: string, subject: string, v: number) =>
    `{"specversion":"1.0","id":"${id}","source":"s","type":"t","subject":"${subject}","data":{"v":${v}}}`;
  const body = [event('dup', 'b', 1)];
  for (let i = 0; i < 200; i++) body.push(event(`e${i}`, i % 2 ? 'a' : 'c', i));
  body.push(event('dup', 'b', 2));
  const events = await parser.parse({ text: `[${body.join(',')}]`, contentType: BATCH, nowMs: 0, fingerprints: false });
  assert.deepEqual(
    events.filter((e) => e.id === 'dup').map((e) => e.data),
    ['{"v":1}', '{"v":2}'],
  );
});

test('a worker that stops, or is closed, refuses the bodies it held; the next large body starts a new one', {
  timeout: 20_000,
}, async () => {
  const own = new BodyParser();
  const job = (who: string) => {
    const event = (i: number) =>
      `{"specversion":"1.0","id":"w${i}","source":"src-${who}","type":"t-${who}","subject":"${who}","data":{"v":${i}}}`;
    return { text: `[${Array.from({ length: 300 }, (_, i) => event(i)).join(',')}]`, contentType: BATCH, nowMs: 0, fingerprints: false };
  };
  // Each new worker numbers its strings afresh: the events must still carry their own subject, source and type.
  const whose = (events: UsageEvent[]) => [...new Set(events.map((e) => `${e.subject} ${e.source} ${e.type}`))];
  try {
    assert.deepEqual(whose(await own.parse(job('alice'))), ['alice src-alice t-alice']);
    const held = assert.rejects(own.parse(job('bob')), /the body parser stopped/);
    await own['worker']!.terminate();
    await held;
    assert.deepEqual(whose(await own.parse(job('carol'))), ['carol src-carol t-carol']);
    const closing = assert.rejects(own.parse(job('dave')), /the server is stopping/);
    await own.close();
    await closing;
    assert.deepEqual(whose(await own.parse(job('erin'))), ['erin src-erin t-erin']);
  } finally {
    await own.close();
  }
  await assert.doesNotReject(own.close());
});

test('a large body keeps the order of its events, as an inline parse does (ties of LATEST follow it)', async () => {
  const event = (id: string, subject: string) =>
    `{"specversion":"1.0","id":"${id}","source":"s","type":"t","subject":"${subject}","time":"2024-01-01T00:00:00Z","data":{"v":1}}`;
  const body = [event('x1', 'zeta'), event('x2', 'alpha'), event('x3', 'zeta')];
  for (let i = 0; i < 100; i++) body.push(event(`p${i}`, i % 2 ? 'alpha' : 'zeta'));
  const events = await parser.parse({ text: `[${body.join(',')}]`, contentType: BATCH, nowMs: 0, fingerprints: false });
  assert.deepEqual(
    events.slice(0, 3).map((e) => e.id),
    ['x1', 'x2', 'x3'],
  );
});
