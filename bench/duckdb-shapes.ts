/**
 * DuckDB as its users run it for ad-hoc totals: one `COPY (SELECT ...) TO 'out.csv'` straight on the raw NDJSON
 * log, with its own reader, its own hash aggregation on every core and its own CSV writer. Every shape of the
 * benchmark (see SHAPES), deduplicated by (source, id) in one of three ways (see DEDUPE).
 *
 *   node dist/bench/duckdb-shapes.js events.ndjson SHAPE DEDUPE out.csv
 */
import { DUCKDB_PACKAGE } from './duckdb-package.js';

/**
 * The part of @duckdb/node-api this script uses. It is not a dependency of meter: `npm run bench` installs it on
 * first use (duckdb-package.ts), and it is imported by a name TypeScript does not resolve, so bench/ compiles
 * without it.
 */
interface DuckDbApi {
  DuckDBInstance: { create(path: string): Promise<{ connect(): Promise<{ run(sql: string): Promise<unknown> }> }> };
}

const { DuckDBInstance } = (await import(DUCKDB_PACKAGE.name)) as DuckDbApi;

/** The columns read from each line; `pos` (file order) is added where a dedupe needs the first occurrence. */
const COLUMNS = `columns = {source: 'VARCHAR', id: 'VARCHAR', type: 'VARCHAR', subject: 'VARCHAR', time: 'TIMESTAMPTZ',
  data: 'STRUCT(tokens BIGINT, model VARCHAR)'}`;

/**
 * Ways to keep one copy per (source, id). The benchmark's duplicates are exact copies, so each gives the same
 * totals; `qualify` and `arg_min` keep the first occurrence in file order as meter does, `distinct-on` any one.
 */
export const DEDUPE: Record<string, (file: string) => string> = {
  'distinct-on': (f) => `SELECT DISTINCT ON (source, id) type, subject, time AS t, data.tokens AS tokens, data.model AS model
    FROM read_json('${f}', ${COLUMNS})`,
  qualify: (f) => `SELECT type, subject, t, tokens, model FROM (
      SELECT source, id, type, subject, time AS t, data.tokens AS tokens, data.model AS model, row_number() OVER () AS pos
      FROM read_json('${f}', ${COLUMNS}))
    QUALIFY row_number() OVER (PARTITION BY source, id ORDER BY pos) = 1`,
  arg_min: (f) => `SELECT arg_min(type, pos) AS type, arg_min(subject, pos) AS subject, arg_min(t, pos) AS t,
      arg_min(tokens, pos) AS tokens, arg_min(model, pos) AS model FROM (
      SELECT source, id, type, subject, time AS t, data.tokens AS tokens, data.model AS model, row_number() OVER () AS pos
      FROM read_json('${f}', ${COLUMNS})) GROUP BY source, id`,
};

/** The query shapes, over `e` (the deduplicated events); window starts as UTC timestamps. */
export const SHAPES: Record<string, string> = {
  hourly: `SELECT CAST(date_trunc('hour', t) AS TIMESTAMP) AS w, subject, sum(tokens) AS value FROM e
    WHERE type = 'prompt' GROUP BY ALL ORDER BY ALL`,
  monthly: `SELECT CAST(date_trunc('month', t) AS TIMESTAMP) AS w, subject, sum(tokens) AS value FROM e
    WHERE type = 'prompt' GROUP BY ALL ORDER BY ALL`,
  total: `SELECT CAST(min(t) AS TIMESTAMP) AS first, CAST(max(t) AS TIMESTAMP) AS last, subject, sum(tokens) AS value FROM e
    WHERE type = 'prompt' GROUP BY subject ORDER BY subject`,
  'daily-model': `SELECT CAST(date_trunc('day', t) AS TIMESTAMP) AS w, subject, model, sum(tokens) AS value FROM e
    WHERE type = 'prompt' GROUP BY ALL ORDER BY ALL`,
  'one-subject': `SELECT CAST(date_trunc('hour', t) AS TIMESTAMP) AS w, subject, sum(tokens) AS value FROM e
    WHERE type = 'prompt' AND subject = 'customer-0042' GROUP BY ALL ORDER BY ALL`,
};

const [file, shape, dedupe, out] = process.argv.slice(2) as [string, string, string, string];
const q = (s: string) => s.replace(/'/g, "''");
const instance = await DuckDBInstance.create(':memory:');
const conn = await instance.connect();
await conn.run("SET TimeZone = 'UTC'");
await conn.run(`COPY (WITH e AS (${DEDUPE[dedupe]!(q(file))}) ${SHAPES[shape]!}) TO '${q(out)}' (FORMAT CSV, HEADER)`);
