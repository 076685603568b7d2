/**
 * Differential test: seeded random event sets are ingested into a fresh SQLite store and a fresh ClickHouse
 * database through the real bin/meter, queried with random queries on both, and every answer is compared with
 * the reference model of test/reference.ts (plain arithmetic over the raw events, no SQL). All three must agree
 * to the last digit and in row order.
 *
 * METER_SEED fixes the run (printed in every failure), METER_DIFF_CASES the number of cases (default 12),
 * METER_DIFF_QUERIES the queries per case (default 14). `npm run fuzz -- --cases N` runs it longer.
 *
 * The ClickHouse server is found as test/backends.e2e.test.ts finds it (127.0.0.1:METER_CH_HTTP_PORT, default
 * 18123) and started through scripts/clickhouse.sh when none answers; when that fails the test fails and says
 * how to start one.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BIN, ROOT, Workdir } from './helpers.js';
import { genCase, genQuery, metersYaml, queryArgs, Rng, runSeed, shellLine } from './gen.js';
import {
  firstDifference,
  groupText,
  atPath,
  ingest,
  parseNdjsonRows,
  runQuery,
  type Query,
  type RefRow,
  type Row,
  type StoredEvent,
} from './reference.js';
import { CH_HTTP, CH_PORT, useClickHouse } from './clickhouse-server.js';

const SEED = runSeed();
const CASES = Number(process.env.METER_DIFF_CASES ?? 12);
const QUERIES = Number(process.env.METER_DIFF_QUERIES ?? 14);
const EVENTS = Number(process.env.METER_DIFF_EVENTS ?? 60);
const RUN_ID = randomBytes(4).toString('hex');
const databases: string[] = [];

const REPRO = `reproduce with METER_SEED=${SEED} METER_DIFF_CASES=${CASES} METER_DIFF_QUERIES=${QUERIES} node --test dist/test/differential.test.js`;

before(async () => {
  console.log(`differential: seed ${SEED}, ${CASES} cases x ${QUERIES} queries, ${EVENTS} events each (${REPRO})`);
});

after(async () => {
  for (const d of databases) {
    await fetch(`${CH_HTTP}/`, { method: 'POST', body: `DROP DATABASE IF EXISTS \`${d}\`` }).catch(() => {});
  }
});
// Registered after the hooks above, so that a server the tests started stops after the databases are dropped.
useClickHouse();

interface Proc {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], cwd: string): Promise<Proc> {
  return new Promise((resolve) => {
    const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: '1' };
    delete env.METER_DB;
    delete env.METER_CONFIG;
    const child = spawn(cmd, args, { cwd, env });
    let stdout = '',
      stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Runs many `meter query` command lines in one process: each through the same main() that bin/meter calls, with
 * its output in its own file. A process start costs about 150 ms; a query on a small store a few.
 */
const BATCH_DRIVER = `
const [cli, jobsFile] = process.argv.slice(1);
const fs = await import('node:fs');
const { main } = await import(cli);
process.stdout.setMaxListeners(0);
const jobs = JSON.parse(fs.readFileSync(jobsFile, 'utf8'));
const results = [];
const write = process.stderr.write.bind(process.stderr);
for (const job of jobs) {
  let err = '';
  process.stderr.write = (s) => { err += String(s); return true; };
  let code;
  try { code = await main([process.execPath, 'meter', ...job.args]); } catch (e) { code = -1; err += String(e && e.stack || e); }
  process.stderr.write = write;
  results.push({ code, stderr: err, stdout: fs.existsSync(job.out) ? fs.readFileSync(job.out, 'utf8') : '' });
}
fs.writeFileSync(jobsFile + '.out', JSON.stringify(results));
`;

async function runQueries(w: Workdir, backend: string, db: string, argLists: string[][]): Promise<Proc[]> {
  const jobs = argLists.map((a, i) => {
    const out = w.path(`${backend}-q${i}.ndjson`);
    return { args: [...a, '--db', db, '--config', w.path('meter.yaml'), '-o', out], out };
  });
  const jobsFile = w.path(`${backend}-jobs.json`);
  fs.writeFileSync(jobsFile, JSON.stringify(jobs));
  const cli = path.join(ROOT, 'dist', 'src', 'cli.js');
  const r = await run(process.execPath, ['--input-type=module', '-e', BATCH_DRIVER, cli, jobsFile], w.dir);
  assert.equal(r.code, 0, `the ${backend} query batch failed: ${r.stderr}`);
  return JSON.parse(fs.readFileSync(jobsFile + '.out', 'utf8')) as Proc[];
}

/** The group texts present in a case, per group-by key, for filters that match something. */
function groupValues(events: StoredEvent[]): Map<string, string[]> {
  const paths: Record<string, string> = { tier: '$.tier', region: '$.meta.region', item: '$.item', meta: '$.meta' };
  const out = new Map<string, string[]>();
  for (const [k, p] of Object.entries(paths)) out.set(k, [...new Set(events.map((e) => groupText(atPath(e.data, p))))]);
  return out;
}

const show = (r: Row | RefRow | undefined) => (r === undefined ? '(no row)' : JSON.stringify(r));

describe(`differential: SQLite, ClickHouse and the reference model agree (seed ${SEED})`, () => {
  for (let k = 0; k < CASES; k++) {
    const caseSeed = new Rng(SEED).fork(k).seed;
    test(`case ${k} (case seed ${caseSeed})`, async () => {
      const c = genCase(caseSeed, EVENTS);
      const w = new Workdir(`diff-${k}`);
      try {
        const where = `seed ${SEED}, case ${k} (case seed ${caseSeed}, zone ${c.zone}); ${REPRO}`;
        w.write('events.ndjson', c.lines);
        w.write('meter.yaml', metersYaml());
        const ref = ingest(c.lines);
        const chDb = `meter_diff_${RUN_ID}_${k}`;
        databases.push(chDb);
        const backends = [
          { name: 'sqlite', db: w.path('meter.db') },
          { name: 'clickhouse', db: `clickhouse://127.0.0.1:${CH_PORT}/${chDb}` },
        ];
        const ingests = await Promise.all(
          backends.map((b) => run(process.execPath, [BIN, 'ingest', 'events.ndjson', '--json', '--db', b.db], w.dir)),
        );
        const problems: string[] = [];
        backends.forEach((b, i) => {
          const r = ingests[i]!;
          if (r.code !== 0) {
            problems.push(
              `${b.name}: meter ingest events.ndjson exited ${r.code} (expected 0: every line is a valid event)\n  stderr: ${r.stderr.slice(0, 1500)}`,
            );
            return;
          }
          const s = JSON.parse(r.stdout) as Record<string, number>;
          const got = { read: s.read, inserted: s.inserted, duplicates: s.duplicates, conflicts: s.conflicts };
          if (JSON.stringify(got) !== JSON.stringify(ref.counts) || s.rejected !== 0) {
            problems.push(
              `${b.name}: ingest summary ${JSON.stringify({ ...got, rejected: s.rejected })}, reference ${JSON.stringify({ ...ref.counts, rejected: 0 })}`,
            );
          }
        });
        const qrng = new Rng(caseSeed).fork(1_000_003);
        const values = groupValues(ref.events);
        const queries: Query[] = Array.from({ length: QUERIES }, () => genQuery(qrng, c, values));
        const argLists = queries.map(queryArgs);
        const outs = await Promise.all(backends.map((b) => runQueries(w, b.name, b.db, argLists)));
        queries.forEach((q, i) => {
          const expected = runQuery(ref.events, q);
          const cmd = shellLine([...argLists[i]!, '--config', 'meter.yaml', '--db', 'DB']);
          backends.forEach((b, bi) => {
            const r = outs[bi]![i]!;
            if (r.code !== 0) {
              problems.push(`${b.name}: query ${i} exited ${r.code}: ${cmd}\n  stderr: ${r.stderr.slice(0, 800)}`);
              return;
            }
            const actual = parseNdjsonRows(r.stdout);
            const d = firstDifference(actual, expected);
            if (d !== null) {
              problems.push(
                `${b.name}: query ${i} differs from the reference at row ${d.index} (${actual.length} rows, reference ${expected.length}): ${cmd}\n` +
                  `  ${b.name}:  ${show(d.actual)}\n  reference: ${show(d.expected)}`,
              );
            }
          });
        });
        if (problems.length > 0) {
          const sample = c.lines.length <= 80 ? c.lines.join('\n') : c.lines.slice(0, 80).join('\n') + '\n...';
          assert.fail(`${where}\n${problems.length} problem(s):\n${problems.slice(0, 12).join('\n')}\nevents.ndjson:\n${sample}`);
        }
      } finally {
        w.remove();
        await fetch(`${CH_HTTP}/`, { method: 'POST', body: `DROP DATABASE IF EXISTS \`${`meter_diff_${RUN_ID}_${k}`}\`` }).catch(() => {});
      }
    });
  }
});
