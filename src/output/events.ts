/**
 * Stored events as CloudEvents (`meter events`, and the events `meter map` prints): a table, JSON or NDJSON.
 *
 * The JSON text is put together here rather than by JSON.stringify of a parsed event: `data` is already canonical
 * JSON text (core/json.ts), and a parse and stringify would change numbers past double precision.
 */
import type { UsageEvent } from '../core/event.js';
import type { StoredEvent } from '../core/ports.js';
import { formatRfc3339 } from '../core/time.js';
import type { Sink } from './sink.js';
import { TableWriter } from './table.js';

/** CloudEvents JSON text of an event; without a time for null, without data for undefined (`data` is JSON text). */
function cloudEventJson(
  e: { id: string; source: string; type: string; subject: string },
  timeMs: number | null,
  data: string | undefined,
): string {
  const time = timeMs === null ? '' : `,"time":${JSON.stringify(formatRfc3339(timeMs))}`;
  return (
    `{"specversion":"1.0","id":${JSON.stringify(e.id)},"source":${JSON.stringify(e.source)},"type":${JSON.stringify(e.type)},` +
    `"subject":${JSON.stringify(e.subject)}${time}${data === undefined ? '' : `,"data":${data}`}}`
  );
}

/** An event as `meter map` prints it, in the form it is stored: without a time when it had none, without null data. */
function eventJson(e: UsageEvent): string {
  return cloudEventJson(e, e.timeMissing ? null : e.timeMs, e.data ?? undefined);
}

/** Writes events to stdout as NDJSON (`meter map`), waiting when the reader is slower. */
export async function writeEvents(events: UsageEvent[]): Promise<void> {
  let out = '';
  for (const e of events) out += eventJson(e) + '\n';
  if (!process.stdout.write(out)) await new Promise((resolve) => process.stdout.once('drain', resolve));
}

/** A stored event: always with its time (the ingestion time when it had none) and its data, null included. */
function storedEventJson(e: StoredEvent): string {
  return cloudEventJson(e, e.timeMs, e.data ?? 'null');
}

export type EventsFormat = 'table' | 'json' | 'ndjson';

/** Renders stored events as they arrive: a table (data cut at 60 characters), a JSON array, or one per line. */
export async function renderEvents(events: AsyncIterable<StoredEvent>, format: EventsFormat, sink: Sink, color: boolean): Promise<void> {
  if (format === 'table') {
    const table = new TableWriter(['time', 'subject', 'type', 'source', 'id', 'data'], new Set(), color, sink);
    for await (const e of events) {
      const data = e.data ?? '';
      await table.row([formatRfc3339(e.timeMs), e.subject, e.type, e.source, e.id, data.length > 60 ? data.slice(0, 57) + '...' : data]);
    }
    if ((await table.end()) === 0) await sink.write('(no events)\n');
    return;
  }
  if (format === 'ndjson') {
    for await (const e of events) {
      const full = sink.write(storedEventJson(e) + '\n');
      if (full) await full;
    }
    return;
  }
  let first = true;
  await sink.write('[');
  for await (const e of events) {
    const full = sink.write((first ? '\n' : ',\n') + storedEventJson(e));
    if (full) await full;
    first = false;
  }
  await sink.write(first ? ']\n' : '\n]\n');
}
