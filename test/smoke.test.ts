import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Workdir, line } from './helpers.js';

test('ingest then query: the main job on a tiny file', () => {
  const w = new Workdir('smoke');
  w.write('e.ndjson', [line({ id: 'a' }), line({ id: 'b', data: { tokens: 5 } }), line({ id: 'a' })]);
  const ing = w.run(['ingest', 'e.ndjson', '--json']);
  assert.equal(ing.code, 0, ing.describe());
  const summary = JSON.parse(ing.stdout);
  assert.deepEqual([summary.read, summary.inserted, summary.duplicates, summary.rejected], [3, 2, 1, 0]);
  w.write('meter.yaml', 'meters:\n  - slug: tokens\n    eventType: prompt\n    aggregation: SUM\n    valueProperty: $.tokens\n');
  const q = w.run(['query', '--format', 'csv']);
  assert.equal(q.code, 0, q.describe());
  assert.equal(q.stdout, 'window_start,window_end,subject,value\n2026-11-01T10:00:00Z,2026-11-01T10:00:00Z,acme,15\n');
  w.remove();
});

test('sums stay exact past 2^63 and past double precision (numbers read from their literal text)', () => {
  const w = new Workdir('bigsum');
  const ev = (id: string, n: string) =>
    `{"specversion":"1.0","id":"${id}","source":"s","type":"prompt","subject":"acme","time":"2026-11-01T10:00:00Z","data":{"n":${n}}}`;
  w.write('e.ndjson', [
    ev('a', '9223372036854775808'),
    ev('b', '1'),
    ev('c', '0.12345678901234567890'),
    ev('d', '"0.1"'),
    ev('e', '1e400'),
  ]);
  assert.equal(w.run(['ingest', 'e.ndjson', '-q']).code, 0);
  w.write('meter.yaml', 'meters:\n  - slug: n\n    eventType: prompt\n    aggregation: SUM\n    valueProperty: $.n\n');
  const q = w.run(['query', '--format', 'csv']);
  assert.equal(q.code, 0, q.describe());
  // 1e400 is a number like any other, kept to the last digit.
  assert.equal(q.stdout.split('\n')[1]!.split(',').at(-1), `1${'0'.repeat(400 - 19)}9223372036854775809.2234567890123456789`);
  w.remove();
});
