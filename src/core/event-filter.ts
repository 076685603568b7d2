/** The filter of `meter events` from its flags: times parsed as the query's are, and an empty range refused. */
import { UsageError } from '../errors.js';
import type { EventFilter } from './ports.js';
import { parseQueryTime } from './query.js';

export interface EventFilterParams {
  subjects: string[];
  type?: string;
  /** RFC 3339, or a date (midnight UTC). */
  from?: string;
  to?: string;
  limit: number;
}

export function planEventFilter(p: EventFilterParams): EventFilter {
  const filter: EventFilter = {
    subjects: p.subjects,
    type: p.type,
    fromMs: p.from === undefined ? undefined : parseQueryTime(p.from, 'UTC', '--from'),
    toMs: p.to === undefined ? undefined : parseQueryTime(p.to, 'UTC', '--to'),
    limit: p.limit,
  };
  // As `meter query` does: an empty range is a mistake in the flags, not an empty answer.
  if (filter.fromMs !== undefined && filter.toMs !== undefined && filter.fromMs >= filter.toMs) {
    throw new UsageError(`--from ${p.from} is not before --to ${p.to} (from is inclusive, to is exclusive)`);
  }
  return filter;
}
