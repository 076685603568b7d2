/** `meter meters`: the configured meters, as a table or JSON. */
import type { Meter } from '../core/meter.js';
import type { Sink } from './sink.js';
import { smallTable } from './table.js';

/** `file` is the config the meters came from, null when there is none. */
export async function renderMeters(meters: Meter[], file: string | null, json: boolean, sink: Sink, color: boolean): Promise<void> {
  if (json) {
    await sink.write(JSON.stringify(meters) + '\n');
    return;
  }
  if (file === null) {
    // A message, not data: stdout stays empty, as for a table of no meters.
    process.stderr.write(
      'meter: no meter config (pass --config, set METER_CONFIG, or create ./meter.yaml); queries count events per type\n',
    );
    return;
  }
  const rows = meters.map((m) => [
    m.slug,
    m.eventType ?? '*',
    m.aggregation,
    m.valueProperty ?? '',
    m.groupBy.map((g) => `${g.key}: ${g.path}`).join(', '),
  ]);
  const t = await smallTable(['slug', 'eventType', 'aggregation', 'valueProperty', 'groupBy'], [], rows, color);
  await sink.write(`${file}: ${meters.length} meter${meters.length === 1 ? '' : 's'}\n${meters.length ? t : ''}`);
}
