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
