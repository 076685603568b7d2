/**
 * JSON in OpenMeter's response shape `{from, to, windowSize, windowTimeZone, data: [...]}` and NDJSON (one row object
 * a line). Both are streamed; values are written as exact JSON numbers from their decimal text.
 */
import { groupByObject, type QueryResult, type ResultRow } from '../core/query.js';
import type { Sink } from './sink.js';

function rowJson(result: QueryResult, r: ResultRow): string {
  const groupBy = groupByObject(result, r);
  return (
    `{"value":${r.value ?? 'null'},"windowStart":${JSON.stringify(result.formatTime(r.windowStart))},` +
    `"windowEnd":${JSON.stringify(result.formatTime(r.windowEnd))},"subject":${JSON.stringify(r.subject)},` +
    `"groupBy":${JSON.stringify(groupBy)}}`
  );
}

export async function renderJson(result: QueryResult, sink: Sink): Promise<void> {
  const head = {
    from: result.fromMs === null ? null : result.formatTime(result.fromMs),
    to: result.toMs === null ? null : result.formatTime(result.toMs),
    windowSize: result.windowSize,
    windowTimeZone: result.zone,
    meter: result.meter.slug,
    aggregation: result.meter.aggregation,
  };
  await sink.write(JSON.stringify(head).slice(0, -1) + ',"data":[');
  let first = true;
  for await (const r of result.rows) {
    const full = sink.write((first ? '\n' : ',\n') + rowJson(result, r));
    if (full) await full;
    first = false;
  }
  await sink.write(first ? ']}\n' : '\n]}\n');
}

export async function renderNdjson(result: QueryResult, sink: Sink): Promise<void> {
  for await (const r of result.rows) {
    const full = sink.write(rowJson(result, r) + '\n');
    if (full) await full;
  }
}
