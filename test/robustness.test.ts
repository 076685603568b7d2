/**
 * Robustness of the CLI around its input and output, each defect class as generated cases from a seeded PRNG
 * (set METER_TEST_SEED to replay; the seed is in every failure message): gzip with trailing bytes, large tables,
 * clear messages for odd input and flags. Each case runs the real bin/meter.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import zlib from 'node:zlib';
import Database from 'better-sqlite3';
import { line, workdirs, type RunResult } from './helpers.js';

const SEED = Number(process.env.METER_TEST_SEED ?? Date.now() % 2 ** 31);
const workdir = workdirs();

/** mulberry32: small, seedable, good enough to pick cases. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function why(label: string, r?: RunResult): string {
  return `seed ${SEED} (METER_TEST_SEED=${SEED} to replay): ${label}${r ? '\n' + r.describe() : ''}`;
}

/** N distinct valid event lines with ids `${prefix}${i}`. */
function eventLines(n: number, prefix: string, rand: () => number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const tokens = Math.floor(rand() * 1e6);
    out.push(line({ id: `${prefix}${i}`, subject: `c${i % 13}`, time: new Date(Date.parse('2026-10-01T00:00:00Z') + i * 1000).toISOString(), data: { tokens, pad: 'x'.repeat(Math.floor(rand() * 40)) } }));
  }
  return out;
}

function storedIds(file: string): string[] {
  if (!fs.existsSync(file)) return [];
  const db = new Database(file, { readonly: true });
  try {
    // Sorted by input position (prefix, then number): a chunk is stored in subject order, not input order.
    const ids = db.prepare('SELECT id FROM events').pluck().all() as string[];
    return ids.sort((x, y) => x[0]!.localeCompare(y[0]!) || Number(x.slice(1)) - Number(y.slice(1)));
  } finally {
    db.close();
  }
}

function rejectsOf(file: string): Array<{ file: string; line: number; error: string }> {
  const text = fs.readFileSync(file, 'utf8').trim();
  return text === '' ? [] : text.split('\n').map((l) => JSON.parse(l));
}

describe('gzip with bytes after a complete member: like gzip -dc', () => {
  const KINDS = ['newline', 'zeros', 'whitespace', 'garbage', 'member', 'truncated member'] as const;
  for (const n of [1, 10, 1000, 20_000]) {
    test(`${n} events followed by each kind of trailing bytes, from a file and from stdin`, () => {
      const rand = prng(SEED + n);
      const w = workdir(`gz-${n}`);
      const lines = eventLines(n, 'a', rand);
      const body = zlib.gzipSync(lines.join('\n') + (rand() < 0.5 ? '\n' : ''), { level: 1 + Math.floor(rand() * 9) });
      for (const kind of KINDS) {
        const second = eventLines(1 + Math.floor(rand() * 2000), 'b', rand);
        let tail: Buffer;
        if (kind === 'newline') tail = Buffer.from('\n');
        else if (kind === 'zeros') tail = Buffer.alloc(1 + Math.floor(rand() * 4096));
        else if (kind === 'whitespace') tail = Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 20) }, () => ' \t\r\n'[Math.floor(rand() * 4)]).join(''));
        else if (kind === 'garbage') {
          // Random bytes that are neither padding nor a gzip header.
          tail = Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 3000) }, () => Math.floor(rand() * 256)));
          tail[0] = 0x21 + Math.floor(rand() * 0x5e);
        } else {
          // Its text starts on a new line: the first member's text may end without one.
          const gz = zlib.gzipSync('\n' + second.join('\n') + '\n');
          tail = kind === 'member' ? gz : gz.subarray(0, 10 + Math.floor(rand() * (gz.length - 18)));
        }
        const input = Buffer.concat([body, tail]);
        w.write('in.ndjson.gz', input);
        for (const via of ['file', 'stdin'] as const) {
          const db = `${kind.replace(' ', '-')}-${via}.db`;
          const args = ['ingest', ...(via === 'file' ? ['in.ndjson.gz'] : ['-']), '--db', db, '--rejects', 'rejects.ndjson', '--quiet'];
          const r = via === 'file' ? w.run(args) : w.run(args, { input }); // stdin through a pipe
          const label = `${n} events + ${kind} (${tail.length} bytes) via ${via}`;
          const ids = storedIds(w.path(db));
          const rejects = rejectsOf(w.path('rejects.ndjson'));
          const firstIds = lines.map((_, i) => `a${i}`);
          // Every event of the complete member is stored, in order, whatever follows it.
          assert.deepEqual(ids.slice(0, n), firstIds, why(`${label}: events of the complete member`, r));
          const name = via === 'file' ? 'in.ndjson.gz' : '-';
          if (kind === 'newline' || kind === 'zeros' || kind === 'whitespace') {
            assert.equal(r.code, 0, why(label, r));
            assert.equal(ids.length, n, why(label, r));
            assert.deepEqual(rejects, [], why(label, r));
          } else if (kind === 'member') {
            assert.equal(r.code, 0, why(label, r));
            assert.deepEqual(ids, [...firstIds, ...second.map((_, i) => `b${i}`)], why(label, r));
            assert.deepEqual(rejects, [], why(label, r));
          } else if (kind === 'garbage') {
            assert.equal(r.code, 3, why(label, r));
            assert.equal(ids.length, n, why(label, r));
            assert.equal(rejects.length, 1, why(`${label}: ${JSON.stringify(rejects)}`, r));
            assert.equal(rejects[0]!.file, name);
            assert.match(rejects[0]!.error, /trailing garbage after gzip data ignored/, why(label, r));
          } else {
            // A truncated second member: what it decodes to before the cut is a prefix of its events.
            assert.equal(r.code, 3, why(label, r));
            assert.deepEqual(ids.slice(n), second.slice(0, ids.length - n).map((_, i) => `b${i}`), why(label, r));
            assert.equal(rejects.length, 1, why(`${label}: ${JSON.stringify(rejects)}`, r));
            assert.equal(rejects[0]!.file, name);
            assert.match(rejects[0]!.error, /gzip data is corrupt or truncated/, why(label, r));
          }
        }
      }
    });
  }
});
