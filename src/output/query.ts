/** `meter query`: a query's result in the format asked for (each format's renderer is in its own file). */
import type { QueryResult } from '../core/query.js';
import { renderCsv } from './csv.js';
import { renderJson, renderNdjson } from './json.js';
import type { Sink } from './sink.js';
import { quotedNames, renderTable, type SparkColumn } from './table.js';

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

/**
 * The note of a query whose named subjects (`-s`) have no rows, or whose filters (`-f`) left none: values are
 * matched exactly, so this is most often a typo, which an empty result would not show. Null when there is none.
 */
export function noRowsNote(subjects: string[], filtersMatchedNothing: boolean): string | null {
  if (subjects.length > 0)
    return `meter: note: no rows for subject${subjects.length === 1 ? '' : 's'} ${quotedNames(subjects)} (matched exactly; \`meter subjects\` lists them)\n`;
  return filtersMatchedNothing ? 'meter: note: no rows match the --filter values (matched exactly)\n' : null;
}
