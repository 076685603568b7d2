/** `meter stats`: what the store holds, as text or JSON. */
import type { StoreStats } from '../core/ports.js';
import { formatRfc3339 } from '../core/time.js';
import type { Sink } from './sink.js';
import { count } from './summary.js';
import { smallTable } from './table.js';

export async function renderStats(s: StoreStats, json: boolean, sink: Sink, color: boolean): Promise<void> {
  if (json) {
    const first = s.firstMs === null ? null : formatRfc3339(s.firstMs);
    const last = s.lastMs === null ? null : formatRfc3339(s.lastMs);
    await sink.write(JSON.stringify({ ...s, first, last }) + '\n');
    return;
  }
  const lines = [
    `store     ${s.location}`,
    `events    ${count(s.events)}`,
    `subjects  ${count(s.subjects)}`,
    `from      ${s.firstMs === null ? '-' : formatRfc3339(s.firstMs)}`,
    `to        ${s.lastMs === null ? '-' : formatRfc3339(s.lastMs)}`,
    `size      ${s.sizeBytes === null ? '-' : (s.sizeBytes / 1048576).toFixed(1) + ' MiB'}`,
  ];
  const byType = await smallTable(
    ['type', 'events'],
    [1],
    s.byType.map((r) => [r.key, count(r.events)]),
    color,
  );
  const bySubject = await smallTable(
    ['subject (top 10)', 'events'],
    [1],
    s.bySubject.map((r) => [r.key, count(r.events)]),
    color,
  );
  await sink.write(lines.join('\n') + '\n' + (s.events ? byType + bySubject : ''));
}
