/**
 * Times one query inside the store (no process start): one subject, one month, hourly SUM of tokens.
 *   node dist/bench/store-query.js STORE.db SUBJECT FROM TO
 */
import { runQuery } from '../src/core/query.js';
import { SqliteStore } from '../src/store/sqlite/store.js';

const [db, subject, from, to] = process.argv.slice(2) as [string, string, string, string];
const store = SqliteStore.open(db, { readonly: true });
const meters = [{ slug: 'tokens_total', eventType: 'prompt', aggregation: 'SUM' as const, valueProperty: '$.tokens', groupBy: [] }];
const times: number[] = [];
let rows = 0;
for (let i = 0; i < 7; i++) {
  const t0 = performance.now();
  const result = await runQuery(store, { meters, window: 'hour', tz: 'UTC', from, to, subjects: [subject], groupBy: [], filters: [], fill: false, allSubjects: false });
  rows = 0;
  for await (const _ of result.rows) rows++;
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
process.stdout.write(`${times[3]!.toFixed(1)} ms median of 7 (${rows} rows)\n`);
await store.close();
