/** `meter query`: a query's result in the format asked for (each format's renderer is in its own file). */
import type { QueryResult } from '../core/query.js';
import { renderCsv } from './csv.js';
import { renderJson, renderNdjson } from './json.js';
import type { Sink } from './sink.js';
import { renderTable, type SparkColumn } from './table.js';

export type QueryFormat = 'table' | 'csv' | 'json' | 'ndjson';

/** `color` and `spark` (the sparkline column) apply to tables only. */
export async function renderQuery(
  result: QueryResult,
  format: QueryFormat,
  sink: Sink,
  color: boolean,
  spark?: SparkColumn,
): Promise<void> {
  if (format === 'csv') await renderCsv(result, sink);
  else if (format === 'json') await renderJson(result, sink);
  else if (format === 'ndjson') await renderNdjson(result, sink);
  else await renderTable(result, sink, color, spark);
}
