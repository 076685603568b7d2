/**
 * Parsing POST /api/v1/events bodies for `meter serve`: a large body (a batch) is parsed on a worker thread
 * (body-worker.ts), so that the main thread, which also answers HTTP and writes the store, is free meanwhile; a
 * small one (a single event) is parsed here, where a trip to the worker would cost more than the parse.
 *
 * Bodies reach the group committer in the order they arrived: while the worker has bodies to parse, small ones
 * queue behind them too, so a request never overtakes one that arrived before it (the first copy committed wins).
 */
import { Worker } from 'node:worker_threads';
import type { UsageEvent } from '../core/event.js';
import { fromColumns, StringDecoder } from '../ingest/columns.js';
import type { BodyAnswer, BodyJob } from './body-worker.js';
import { parseIngestBody } from './ingest-body.js';
import { HttpProblem } from './problem.js';

/**
 * Bodies of at least this many characters go to the worker: about 30 events. Below it the parse (a few µs an
 * event) costs less than posting the body and its events between threads.
 */
export const WORKER_MIN_CHARS = 8192;

interface Pending {
  resolve(events: UsageEvent[]): void;
  reject(e: unknown): void;
}

export class BodyParser {
  private worker: Worker | null = null;
  private strings = new StringDecoder();
  private readonly pending: Pending[] = [];

  /** The events of a body, all valid, or the 400 problem that lists what is invalid (as parseIngestBody). */
  parse(job: BodyJob): Promise<UsageEvent[]> {
    if (job.text.length < WORKER_MIN_CHARS && this.pending.length === 0) {
      try {
        return Promise.resolve(parseIngestBody(job.text, job.contentType, job.nowMs, job.fingerprints));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return new Promise<UsageEvent[]>((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.start().postMessage(job);
    });
  }

  /** Stops the worker (bodies still waiting for it are refused); a later large body starts a new one. */
  async close(): Promise<void> {
    const w = this.worker;
    this.forget('the server is stopping');
    if (w !== null) await w.terminate();
  }

  /** Drops the worker: refuses what it held, and starts the next one with a new dictionary of strings. */
  private forget(why: string): void {
    this.worker = null;
    this.strings = new StringDecoder();
    for (const p of this.pending.splice(0)) p.reject(new Error(why));
  }

  private start(): Worker {
    if (this.worker !== null) return this.worker;
    const w = new Worker(new URL('./body-worker.js', import.meta.url));
    // The server's own lifetime decides when the process ends, never this thread.
    w.unref();
    w.on('message', (a: BodyAnswer) => {
      if (this.worker !== w) return; // a worker already dropped: what it held was refused
      const p = this.pending.shift()!;
      if (a.ok) p.resolve(fromColumns(a.columns, this.strings));
      else if (a.status === 500) p.reject(new Error(`parsing a request body: ${a.detail}`));
      else p.reject(new HttpProblem(a.status, a.detail, a.extensions));
    });
    const fail = (why: string) => {
      if (this.worker === w) this.forget(`the body parser stopped: ${why}`);
    };
    w.on('error', (e) => fail(e.message));
    w.on('exit', (code) => fail(`exit code ${code}`));
    this.worker = w;
    return w;
  }
}
