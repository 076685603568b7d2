/**
 * Micro-benchmark of the ClickHouse flattening of `data` (store/clickhouse/flatten.ts), the CPU step of every
 * ClickHouse ingest: canonical data texts of the benchmark's shape plus a nested, escaped and decimal mix, each
 * flattened into one reused FlatData. Prints events/s, the median of `--runs` rounds; no server needed.
 *
 *   npm run build && node dist/bench/flatten.js [--events N] [--runs R]
 */
import { canonicalOrSame } from '../src/core/json.js';
import { emptyFlat, flattenData } from '../src/store/clickhouse/flatten.js';
import { prng } from './generate.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
}

const EVENTS = Number(arg('events', '200000'));
const RUNS = Number(arg('runs', '7'));
const rnd = prng(42);
const MODELS = ['gpt-4o', 'gpt-4o-mini', 'o3-mini', 'claude-3-5-sonnet', 'gemini-1.5-pro'];
const texts: string[] = [];
for (let k = 0; k < EVENTS; k++) {
  const model = MODELS[Math.floor(rnd() * MODELS.length)]!;
  const data =
    k % 4 === 0
      ? `{"tokens":${Math.floor(rnd() * 5000)},"model":"${model}","type":"input","usage":{"prompt_tokens":${Math.floor(rnd() * 900)},` +
        `"completion_tokens":${Math.floor(rnd() * 900)},"cost":${(rnd() * 3).toFixed(6)}},"tags":["a","b\\u00e9"],"user":"u${k % 97}","ok":true,"note":null}`
      : `{"tokens":${Math.floor(rnd() * 5000)},"model":"${model}","type":"${k % 2 ? 'input' : 'output'}"}`;
  texts.push(canonicalOrSame(data));
}
const chars = texts.reduce((a, t) => a + t.length, 0);
const into = emptyFlat();
const rates: number[] = [];
let check = 0;
for (let r = 0; r < RUNS + 1; r++) {
  const t0 = process.hrtime.bigint();
  for (const t of texts) check += flattenData(t, into).nn;
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r > 0) rates.push(EVENTS / s); // the first round warms the JIT up
}
rates.sort((a, b) => a - b);
const median = rates[Math.floor(rates.length / 2)]!;
console.log(
  `flattenData: ${EVENTS} events (${(chars / EVENTS).toFixed(0)} chars each), median of ${RUNS}: ` +
    `${Math.round(median).toLocaleString('en-US')} events/s (min ${Math.round(rates[0]!).toLocaleString('en-US')}, ` +
    `max ${Math.round(rates[rates.length - 1]!).toLocaleString('en-US')}) [check ${check}]`,
);
