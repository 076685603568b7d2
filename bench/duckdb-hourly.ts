/**
 * What a user would run instead of meter for ad-hoc totals: DuckDB straight on the raw NDJSON log, computing the
 * same hourly per-subject token totals with dedupe by (source, id) (first occurrence wins), rows loaded into JS and
 * written as CSV like `meter query --format csv`.
 *
 *   node dist/bench/duckdb-hourly.js events.ndjson > /dev/null
 *
 * @duckdb/node-api is not a dependency of meter (it is most of what an install would download): `npm run bench`
 * installs it on first use (see ensureDuckDb in run.ts). It is imported by a name TypeScript does not resolve, so
 * bench/ compiles without it, and used through the few members declared here.
 */
import { DUCKDB_PACKAGE } from './duckdb-package.js';

/** The part of @duckdb/node-api this script uses. */
interface DuckDbApi {
  DuckDBInstance: {
    create(path: string): Promise<{
      connect(): Promise<{
        run(sql: string): Promise<unknown>;
        streamAndReadUntil(sql: string, rows: number): Promise<{ getRows(): unknown[][] }>;
      }>;
    }>;
  };
}

const { DuckDBInstance } = (await import(DUCKDB_PACKAGE.name)) as DuckDbApi;

const file = process.argv[2]!.replace(/'/g, "''");
const instance = await DuckDBInstance.create(':memory:');
const conn = await instance.connect();
const sql = `
  WITH raw AS (
    SELECT source, id, subject, CAST(time AS TIMESTAMPTZ) AS t, data.tokens AS tokens, row_number() OVER () AS pos
    FROM read_ndjson('${file}', columns = {source: 'VARCHAR', id: 'VARCHAR', subject: 'VARCHAR', time: 'VARCHAR',
                                           data: 'STRUCT(tokens BIGINT)'})
  ), dedup AS (
    SELECT * FROM raw QUALIFY row_number() OVER (PARTITION BY source, id ORDER BY pos) = 1
  )
  SELECT date_trunc('hour', t) AS w, subject, sum(tokens) AS value
  FROM dedup GROUP BY ALL ORDER BY w, subject`;
await conn.run("SET TimeZone = 'UTC'");
const reader = await conn.streamAndReadUntil(sql, Number.MAX_SAFE_INTEGER);
const out: string[] = [];
let n = 0;
for (const row of reader.getRows()) {
  const w = row[0] as { toString(): string };
  out.push(`${w.toString()},${String(row[1])},${String(row[2])}`);
  n++;
  if (out.length >= 10_000) process.stdout.write(out.splice(0).join('\n') + '\n');
}
if (out.length) process.stdout.write(out.join('\n') + '\n');
process.stderr.write(`${n} rows\n`);
