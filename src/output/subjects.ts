/** `meter subjects`: each subject with its event count and first and last event time. */
import type { SubjectSummary } from '../core/ports.js';
import { formatRfc3339 } from '../core/time.js';
import { csvRecord } from './csv.js';
import type { Sink } from './sink.js';
import { TableWriter } from './table.js';

export type SubjectsFormat = 'table' | 'csv' | 'json' | 'ndjson';

export async function renderSubjects(rows: SubjectSummary[], format: SubjectsFormat, sink: Sink, color: boolean): Promise<void> {
  const obj = (r: SubjectSummary) => ({ subject: r.subject, events: r.events, first: formatRfc3339(r.firstMs), last: formatRfc3339(r.lastMs) });
  if (format === 'json') await sink.write(JSON.stringify(rows.map(obj)) + '\n');
  else if (format === 'ndjson') for (const r of rows) await sink.write(JSON.stringify(obj(r)) + '\n');
  else if (format === 'csv') {
    await sink.write(csvRecord(['subject', 'events', 'first', 'last']));
    const plain = new Set([1, 2, 3]);
    for (const r of rows) await sink.write(csvRecord([r.subject, String(r.events), formatRfc3339(r.firstMs), formatRfc3339(r.lastMs)], plain));
  } else if (rows.length === 0) await sink.write('(no subjects)\n');
  else {
    const t = new TableWriter(['subject', 'events', 'first', 'last'], new Set([1]), color, sink);
    for (const r of rows) await t.row([r.subject, r.events.toLocaleString('en-US'), formatRfc3339(r.firstMs), formatRfc3339(r.lastMs)]);
    await t.end();
  }
}
