/** `meter subjects`: every subject with its event count and first and last event time, as a table, CSV, JSON or NDJSON. */
import type { SubjectSummary } from '../core/ports.js';
import { formatRfc3339 } from '../core/time.js';
import { csvRecord } from './csv.js';
import type { Sink } from './sink.js';
import { TableWriter, type SparkColumn } from './table.js';

export type SubjectsFormat = 'table' | 'csv' | 'json' | 'ndjson';

function subjectJson(r: SubjectSummary) {
  return { subject: r.subject, events: r.events, first: formatRfc3339(r.firstMs), last: formatRfc3339(r.lastMs) };
}

/** `spark`: the table's sparkline column, if it has one. */
export async function renderSubjects(
  rows: SubjectSummary[],
  format: SubjectsFormat,
  sink: Sink,
  color: boolean,
  spark?: SparkColumn,
): Promise<void> {
  if (format === 'json') await sink.write(JSON.stringify(rows.map(subjectJson)) + '\n');
  else if (format === 'ndjson') for (const r of rows) await sink.write(JSON.stringify(subjectJson(r)) + '\n');
  else if (format === 'csv') {
    await sink.write(csvRecord(['subject', 'events', 'first', 'last']));
    // Counts and times never start with a formula character; the subject may, and is made safe.
    const plain = new Set([1, 2, 3]);
    for (const r of rows)
      await sink.write(csvRecord([r.subject, String(r.events), formatRfc3339(r.firstMs), formatRfc3339(r.lastMs)], plain));
  } else if (rows.length === 0) await sink.write('(no subjects)\n');
  else {
    const t = new TableWriter(['subject', 'events', 'first', 'last', ...(spark ? [spark.head] : [])], new Set([1]), color, sink);
    for (const r of rows) {
      const cells = [r.subject, r.events.toLocaleString('en-US'), formatRfc3339(r.firstMs), formatRfc3339(r.lastMs)];
      if (spark) cells.push(spark.line({ subject: r.subject, groups: [] }));
      await t.row(cells);
    }
    await t.end();
  }
}
