/**
 * The ports of the domain: the storage interface and its row types. The domain owns them; the stores (adapters)
 * implement them: src/store/sqlite/ (one file on one machine) and src/store/clickhouse/ (a server, for
 * scale-out), and every command works with either. All SQL lives behind this interface.
 */
import type { UsageEvent } from './event.js';
import type { Meter } from './meter.js';
import type { WindowPlan } from './window.js';

/** What happened to each event of a batch. */
export const enum RowStatus {
  inserted = 0,
  duplicate = 1,
  conflict = 2,
}

/** The outcome of writing one batch; the batch is committed as a whole before this is returned. */
export interface WriteOutcome {
  inserted: number;
  duplicates: number;
  /** Duplicates whose content differs from the stored event (a producer bug, usually). */
  conflicts: number;
  /** Per event of the batch, a RowStatus. */
  status: Uint8Array;
}

/** Options of Store.writeBatch. */
export interface WriteOptions {
  /** Commit the open transaction after the batch (default true); false leaves it open for the next batch. */
  commit?: boolean;
  /** Ends a wait for another writer's lock (a store that waits for one): the batch then fails, writing nothing. */
  signal?: AbortSignal;
}

/** An event as stored. */
export interface StoredEvent {
  id: string;
  source: string;
  type: string;
  subject: string;
  timeMs: number;
  data: string | null;
  ingestedMs: number;
}

/** Filters of `meter events`. */
export interface EventFilter {
  subjects: string[];
  type?: string;
  fromMs?: number;
  toMs?: number;
  limit: number;
}

export interface CountBy {
  key: string;
  events: number;
}

/** What `meter stats` shows. */
export interface StoreStats {
  location: string;
  events: number;
  byType: CountBy[];
  bySubject: CountBy[];
  subjects: number;
  firstMs: number | null;
  lastMs: number | null;
  sizeBytes: number | null;
}

export interface SubjectSummary {
  subject: string;
  events: number;
  firstMs: number;
  lastMs: number;
}

/** A dimension rows are grouped or filtered by: a JSON path into data, or an event column. */
export type Dimension = { key: string; path: string } | { key: string; column: 'type' };

/** A meter query, validated and resolved: everything a store needs and nothing it must interpret. */
export interface MeterQuery {
  meter: Meter;
  /** null: one total per group over the whole range. */
  window: WindowPlan | null;
  fromMs?: number;
  toMs?: number;
  subjects: string[];
  groupBy: Dimension[];
  /** Only events whose value of each filter's dimension is one of its `values` (every filter applies). */
  filters: Array<{ dimension: Dimension; values: string[] }>;
  /** false: sum across subjects (the subject of each row is null). */
  perSubject: boolean;
  /** Read the events themselves, never a store's pre-aggregated rollups (`--no-rollup`). */
  noRollup?: boolean;
}

/**
 * One aggregated row, ordered by window start, subject, then group values. `value` is exact decimal text
 * (null when no event of the group had a usable value, for AVG, MIN, MAX and LATEST).
 */
export interface AggregateRow {
  windowStart: number | null;
  subject: string | null;
  groups: string[];
  value: string | null;
  /** The group's first and last event time; needed (and always given) only for queries without windows. */
  firstMs: number;
  lastMs: number;
}

export interface Store {
  /** Where the data lives, for messages (a path or a URL without password). */
  readonly location: string;
  /** Whether writeBatch needs each event's `fingerprint` (the parse worker computes it then). */
  readonly needsFingerprints: boolean;
  /**
   * Stores a batch: every new (source, id) is inserted, the first stored copy wins. With `commit: false` a store
   * may keep the batch in an open transaction that a later call (or sync) commits; a batch is never half-written.
   */
  writeBatch(events: UsageEvent[], ingestedMs: number, opts?: WriteOptions): Promise<WriteOutcome>;
  /**
   * Commits the events like writeBatch with `commit: true`, for a server's many small commits: a store may defer
   * their dedupe (SQLite stages them, see store/sqlite/staging.ts), but every later read sees them deduplicated,
   * the first copy winning as in writeBatch.
   */
  stage(events: UsageEvent[], ingestedMs: number): Promise<void>;
  /** Finishes what stage() deferred (reads do it themselves); for a server between requests. */
  settle(): Promise<void>;
  /** Makes every write so far durable (also against power loss) before a run reports it. */
  sync(): Promise<void>;
  /** Stored events, newest first. */
  events(filter: EventFilter): AsyncIterable<StoredEvent>;
  stats(): Promise<StoreStats>;
  subjects(): Promise<SubjectSummary[]>;
  /** The first and last event time (of one type, or all when null); null for no events. */
  timeExtent(eventType: string | null): Promise<{ minMs: number; maxMs: number } | null>;
  /** Runs a meter query, streaming rows in order. */
  aggregate(query: MeterQuery): AsyncIterable<AggregateRow>;
  close(): Promise<void>;
}
