#!/usr/bin/env node
// The differential test run longer, for use before a release: `npm run fuzz -- --cases N [--seed S] [--queries Q]`.
// It runs dist/test/differential.test.js with METER_DIFF_CASES / METER_SEED / METER_DIFF_QUERIES set, so a
// failure is reproduced by the same command with the seed it prints.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opts = { cases: '200', seed: undefined, queries: undefined, events: undefined };
for (let i = 0; i < args.length; i++) {
  const m = /^--(cases|seed|queries|events)(?:=(.*))?$/.exec(args[i]);
  if (m === null) {
    console.error(`fuzz: unknown argument ${args[i]}\nusage: npm run fuzz -- --cases N [--seed S] [--queries Q] [--events E]`);
    process.exit(2);
  }
  const value = m[2] ?? args[++i];
  if (value === undefined || !/^\d+$/.test(value)) {
    console.error(`fuzz: --${m[1]} needs a whole number`);
    process.exit(2);
  }
  opts[m[1]] = value;
}
const seed = opts.seed ?? String(Math.floor(Math.random() * 2 ** 32));
const env = { ...process.env, METER_DIFF_CASES: opts.cases, METER_SEED: seed };
if (opts.queries) env.METER_DIFF_QUERIES = opts.queries;
if (opts.events) env.METER_DIFF_EVENTS = opts.events;
console.error(`fuzz: ${opts.cases} cases, seed ${seed}`);
const r = spawnSync(process.execPath, ['--test', path.join(root, 'dist', 'test', 'differential.test.js')], { stdio: 'inherit', env });
if (r.status !== 0) console.error(`fuzz: failures; reproduce with npm run fuzz -- --cases ${opts.cases} --seed ${seed}`);
process.exit(r.status ?? 1);
