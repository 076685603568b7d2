/**
 * DuckDB, the benchmark's comparison, is installed by `npm run bench` on first use rather than by `npm install`:
 * it is about half of what an install would download, and only the benchmark needs it.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

/** The package and the version the benchmark's figures were measured with. */
export const DUCKDB_PACKAGE = { name: '@duckdb/node-api', version: '1.5.6-r.1' } as const;

/** Installs DuckDB into `root`'s node_modules (without touching package.json) unless it is there already. */
export function ensureDuckDb(root: string): void {
  try {
    createRequire(`${root}/package.json`).resolve(DUCKDB_PACKAGE.name);
    return;
  } catch {
    // not installed yet
  }
  const spec = `${DUCKDB_PACKAGE.name}@${DUCKDB_PACKAGE.version}`;
  process.stderr.write(`installing ${spec} for the DuckDB comparison (npm install --no-save) ...\n`);
  const r = spawnSync('npm', ['install', '--no-save', spec], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0)
    throw new Error(`npm install --no-save ${spec} failed (exit ${r.status ?? r.signal}); install it by hand and run again`);
}
