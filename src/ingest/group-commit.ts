/**
 * Group commit for a server: requests hand in their (validated) events and wait; requests that arrive while a
 * commit runs are written together in the next one, in one transaction. So many small requests share one commit
 * instead of paying one each, and a request is answered only once its events are committed.
 *
 * Each commit goes through Store.stage: the SQLite store appends the events, and deduplicates them into its events
 * table in bulk, once many are waiting or a second after the first of them (settleLater), or before any read.
 *
 * The number of events waiting is bounded: past `maxQueued`, submit refuses at once (the caller answers 503 with
 * Retry-After) rather than letting memory grow with the backlog.
 */
import type { UsageEvent } from '../core/event.js';
import type { Store } from '../core/ports.js';

/** submit() was refused because too many events are already waiting. */
export class QueueFullError extends Error {}

interface Waiting {
  events: UsageEvent[];
  resolve(): void;
  reject(e: unknown): void;
}

export interface GroupCommitOptions {
  /** Most events waiting to be committed (requests in the running commit not counted). */
  maxQueued: number;
  /** Also make every commit durable against power loss (store.sync) before answering. */
  syncEachCommit: boolean;
  /** Runs every store operation in turn with the server's reads (see StoreLock). */
  lock: <T>(fn: () => Promise<T>) => Promise<T>;
}

/** How long staged events may wait for their merge when no read asks for it first. */
const SETTLE_AFTER_MS = 1000;

export class GroupCommitter {
  private waiting: Waiting[] = [];
  private queued = 0;
  private running: Promise<void> | null = null;
  private settleTimer: NodeJS.Timeout | null = null;
  /** Commits made and events in them, for the log at shutdown. */
  commits = 0;
  events = 0;

  constructor(
    private readonly store: Store,
    private readonly o: GroupCommitOptions,
  ) {}

  /** Resolves once every event is committed (stored, or a duplicate of a stored one); rejects if none is. */
  submit(events: UsageEvent[]): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    if (this.queued > 0 && this.queued + events.length > this.o.maxQueued)
      return Promise.reject(new QueueFullError('too many events waiting'));
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ events, resolve, reject });
      this.queued += events.length;
      if (this.running === null) this.running = this.loop();
    });
  }

  /** Resolves when nothing is waiting or being committed; nothing more is settled later (the caller syncs). */
  async drain(): Promise<void> {
    while (this.running !== null) await this.running;
    if (this.settleTimer !== null) clearTimeout(this.settleTimer);
    this.settleTimer = null;
  }

  /**
   * Settles what the commits staged a second after the first of them, so that a process that cannot merge staged
   * events itself (one that may only read the store) sees them soon. A failure leaves them staged: the next read
   * merges them, or reports why it cannot.
   */
  private settleLater(): void {
    if (this.settleTimer !== null) return;
    this.settleTimer = setTimeout(() => {
      this.settleTimer = null;
      this.o.lock(() => this.store.settle()).catch(() => undefined);
    }, SETTLE_AFTER_MS);
    this.settleTimer.unref();
  }

  private async loop(): Promise<void> {
    try {
      while (this.waiting.length > 0) {
        // Wait for the end of this turn of the event loop: every request whose body arrived in it joins the commit.
        // (A SQLite commit is synchronous, so without this each request would commit alone.)
        await new Promise((resolve) => setImmediate(resolve));
        const group = this.waiting;
        this.waiting = [];
        this.queued = 0;
        await this.commit(group);
      }
    } finally {
      this.running = null;
    }
  }

  private async commit(group: Waiting[]): Promise<void> {
    const events = group.length === 1 ? group[0]!.events : group.flatMap((w) => w.events);
    try {
      await this.o.lock(async () => {
        await this.store.stage(events, Date.now());
        if (this.o.syncEachCommit) await this.store.sync();
      });
      this.settleLater();
      this.commits++;
      this.events += events.length;
      for (const w of group) w.resolve();
    } catch (e) {
      // The transaction was rolled back as a whole: no request of the group has any event stored.
      for (const w of group) w.reject(e);
    }
  }
}

/**
 * Runs store operations one at a time, in arrival order. A SQLite read holds a transaction while its rows are
 * streamed, and a write must not begin inside it; with the lock, neither ever sees the other half-done.
 */
export function storeLock(): <T>(fn: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => undefined);
    return run;
  };
}
