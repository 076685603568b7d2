/**
 * The load generator of the serve benchmark, run as its own process (so it does not share a core's event loop
 * with the server): autocannon POSTs unique events to /api/v1/events, one per request or `--batch` per request,
 * and prints one JSON line of figures.
 *
 *   node dist/bench/serve-load.js --url http://127.0.0.1:8888 --batch 100 --connections 50 --duration 10
 */
import { createRequire } from 'node:module';
import { benchEvent } from './serve-events.js';

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  duration: number;
}
type Autocannon = (o: Record<string, unknown>) => Promise<AutocannonResult>;

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

const url = arg('url', 'http://127.0.0.1:8888');
const batch = Number(arg('batch', '1'));
const prefix = arg('prefix', 'load');
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

let n = 0;
const body = (): string => {
  if (batch === 1) return benchEvent(prefix, n++);
  const parts: string[] = [];
  for (let i = 0; i < batch; i++) parts.push(benchEvent(prefix, n++));
  return `[${parts.join(',')}]`;
};

const result = await autocannon({
  url,
  connections: Number(arg('connections', '50')),
  duration: Number(arg('duration', '10')),
  requests: [
    {
      method: 'POST',
      path: '/api/v1/events',
      headers: { 'content-type': batch === 1 ? 'application/cloudevents+json' : 'application/cloudevents-batch+json' },
      setupRequest: (req: Record<string, unknown>) => ({ ...req, body: body() }),
    },
  ],
});
const ok = result.requests.total - result.non2xx;
process.stdout.write(
  JSON.stringify({
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    seconds: result.duration,
    eventsPerSec: Math.round((ok * batch) / result.duration),
    p50ms: result.latency.p50,
    p99ms: result.latency.p99,
  }) + '\n',
);
