/**
 * The thread that parses large POST /api/v1/events bodies for `meter serve` (see body-parser.ts): each message is
 * one body, answered in order with its events as columns (columns.ts, in the body's order) or with the problem that
 * refuses it.
 */
import { parentPort } from 'node:worker_threads';
import type { UsageEvent } from '../core/event.js';
import { StringEncoder, toColumns, transferList, type EventColumns } from '../ingest/columns.js';
import { parseIngestBody } from './ingest-body.js';
import { HttpProblem } from './problem.js';

/** A body to parse, with what parseIngestBody takes besides. */
export interface BodyJob {
  text: string;
  contentType: string | undefined;
  nowMs: number;
  fingerprints: boolean;
}

/** The answer to a BodyJob: its events, or the problem (or the message of an unexpected error: a 500). */
export type BodyAnswer =
  | { ok: true; columns: EventColumns }
  | { ok: false; status: number; detail: string; extensions?: Record<string, unknown> };

const port = parentPort!;
const strings = new StringEncoder();

port.on('message', (job: BodyJob) => {
  let events: UsageEvent[];
  try {
    events = parseIngestBody(job.text, job.contentType, job.nowMs, job.fingerprints);
  } catch (e) {
    const problem: BodyAnswer =
      e instanceof HttpProblem
        ? { ok: false, status: e.status, detail: e.detail, extensions: e.extensions }
        : { ok: false, status: 500, detail: (e as Error)?.message ?? String(e) };
    port.postMessage(problem);
    return;
  }
  // In the order of the body, as an inline parse gives them: the store's order breaks ties (LATEST, event lists).
  const columns = toColumns(events, strings, true);
  port.postMessage({ ok: true, columns } satisfies BodyAnswer, transferList(columns));
});
