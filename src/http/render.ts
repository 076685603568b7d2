/**
 * The response bodies of the v1 API in OpenMeter's shapes. Values are written as JSON numbers from their exact
 * decimal text (never through a double), times as RFC 3339 with milliseconds when they have any.
 */
import type { Meter } from '../core/meter.js';
import type { StoredEvent, SubjectSummary } from '../core/ports.js';
import { groupByObject, type QueryResult, type ResultRow } from '../core/query.js';
import { formatRfc3339 } from '../core/time.js';
import { csvRecord } from '../output/csv.js';
import { stableUlid } from './ids.js';

/** A configured meter as the API's Meter object; empty optional fields are omitted. */
export function meterJson(m: Meter, createdAt: string): Record<string, unknown> {
  const out: Record<string, unknown> = { id: stableUlid('meter', m.slug), slug: m.slug, name: m.slug };
  if (m.description) out.description = m.description;
  out.aggregation = m.aggregation;
  out.eventType = m.eventType;
  if (m.valueProperty) out.valueProperty = m.valueProperty;
  if (m.groupBy.length > 0) out.groupBy = Object.fromEntries(m.groupBy.map((g) => [g.key, g.path]));
  out.createdAt = createdAt;
  out.updatedAt = createdAt;
  return out;
}

export function subjectJson(s: SubjectSummary): Record<string, unknown> {
  return { id: stableUlid('subject', s.subject), key: s.subject, createdAt: formatRfc3339(s.firstMs), updatedAt: formatRfc3339(s.lastMs) };
}

/** One event of GET /api/v1/events; `data` is the stored canonical text, so its numbers keep every digit. */
export function storedEventJson(e: StoredEvent): string {
  const ingested = JSON.stringify(formatRfc3339(e.ingestedMs));
  return (
    `{"event":{"specversion":"1.0","id":${JSON.stringify(e.id)},"source":${JSON.stringify(e.source)},"type":${JSON.stringify(e.type)},` +
    `"subject":${JSON.stringify(e.subject)},"time":"${formatRfc3339(e.timeMs)}"` +
    (e.data === null ? '' : `,"datacontenttype":"application/json","data":${e.data}`) +
    `},"ingestedAt":${ingested},"storedAt":${ingested}}`
  );
}

/**
 * OpenMeter returns no row for a group whose aggregate is NULL (AVG, MIN, MAX or LATEST over events without a
 * usable value); neither does the API.
 */
export async function resultRows(result: QueryResult): Promise<ResultRow[]> {
  const rows: ResultRow[] = [];
  for await (const r of result.rows) if (r.value !== null) rows.push(r);
  return rows;
}

/** MeterQueryResult: `from`, `to` and `windowSize` only when the request gave them; `data` always. */
export function queryResultJson(
  result: QueryResult,
  rows: ResultRow[],
  asked: { from?: string; to?: string; windowSize?: string },
): string {
  let head = '{';
  if (asked.from !== undefined && result.fromMs !== null) head += `"from":${JSON.stringify(result.formatTime(result.fromMs))},`;
  if (asked.to !== undefined && result.toMs !== null) head += `"to":${JSON.stringify(result.formatTime(result.toMs))},`;
  if (asked.windowSize !== undefined) head += `"windowSize":${JSON.stringify(asked.windowSize)},`;
  const parts: string[] = [];
  for (const r of rows) {
    const groupBy = groupByObject(result, r);
    parts.push(
      `{"value":${r.value},"windowStart":${JSON.stringify(result.formatTime(r.windowStart))},` +
        `"windowEnd":${JSON.stringify(result.formatTime(r.windowEnd))},"subject":${JSON.stringify(r.subject)},` +
        `"groupBy":${JSON.stringify(groupBy)}}`,
    );
  }
  return head + `"data":[${parts.join(',')}]}`;
}

/**
 * OpenMeter's CSV: window_start, window_end, subject (only when grouped by it), the group-by keys, value. Values
 * are Go's `%f` (at least six decimals) but exact: a value with more digits keeps them all.
 */
export function queryResultCsv(result: QueryResult, rows: ResultRow[]): string {
  const header = ['window_start', 'window_end', ...(result.perSubject ? ['subject'] : []), ...result.groupKeys, 'value'];
  const plain = new Set([0, 1, header.length - 1]);
  let out = csvRecord(header);
  for (const r of rows) {
    const cells = [result.formatTime(r.windowStart), result.formatTime(r.windowEnd)];
    if (result.perSubject) cells.push(r.subject ?? '');
    out += csvRecord([...cells, ...r.groups, sixDecimals(r.value!)], plain);
  }
  return out;
}

/** `12` -> `12.000000`, `0.1234567` stays; exact decimal text in, exact text out. */
export function sixDecimals(value: string): string {
  const dot = value.indexOf('.');
  if (dot < 0) return value + '.000000';
  const frac = value.length - dot - 1;
  return frac >= 6 ? value : value + '0'.repeat(6 - frac);
}
