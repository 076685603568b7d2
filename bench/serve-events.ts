/** The events of the serve benchmark: unique ids from a prefix and a counter, 1,000 subjects, four models. */
import { MODELS } from './generate.js';

/** The first event's time, in seconds since the epoch; event n is n seconds later. */
export const START_SECONDS = Date.UTC(2026, 10, 1) / 1000;

export function benchEvent(prefix: string, n: number): string {
  return (
    `{"specversion":"1.0","type":"prompt","id":"${prefix}-${n}","source":"bench","subject":"customer-${String(n % 1000).padStart(4, '0')}",` +
    `"time":"${new Date((START_SECONDS + n) * 1000).toISOString()}","data":{"tokens":${(n * 7919) % 2800},"model":"${MODELS[n % MODELS.length]}"}}`
  );
}
