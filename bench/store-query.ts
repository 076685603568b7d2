/**
 * Times queries inside the store (no process start), median of 7 each: the invoice query (monthly SUM of tokens per
 * subject, every subject), one subject's month, and one subject's month hourly.
 *   node dist/bench/store-query.js STORE.db [--no-rollup]
 */
import { runQuery } from '../src/core/query.js';
import { SqliteStore } from '../src/store/sqlite/store.js';

const db = process.argv[2]!;
const raw = process.argv.includes('--no-rollup');
const store = SqliteStore.open(db, { readonly: true });
const meters = [{ slug: 'tokens_total', eventType: 'prompt', aggregation: 'SUM' as const, valueProperty: '$.tokens', groupBy: [] }];
const month = { from: '2026-10-01T00:00:00Z', to: '2026-11-01T00:00:00Z' };
const cases: Array<[string, { window: string; subjects: string[] }]> = [
  ['invoice query: monthly per subject, every subject', { window: 'month', subjects: [] }],
  ["one subject's month", { window: 'month', subjects: ['customer-0042'] }],
  ["one subject's month, hourly", { window: 'hour', subjects: ['customer-0042'] }],
];
for (const [label, c] of cases) {
  const times: number[] = [];
  let rows = 0;
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    const result = await runQuery(store, {
      meters,
      tz: 'UTC',
      ...month,
      ...c,
      groupBy: [],
      filters: [],
      fill: false,
      allSubjects: false,
      rollup: !raw,
    });
    rows = 0;
    for await (const _ of result.rows) rows++;
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  process.stdout.write(`  in-process ${label}: ${times[3]!.toFixed(1)} ms median of 7 (${rows} rows)${raw ? ', --no-rollup' : ''}\n`);
}
await store.close();
