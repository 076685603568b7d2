/**
 * Sparkline columns in `meter query` and `meter subjects` tables: drawn with --sparklines (or on a terminal), from
 * the same query per window; never in CSV or JSON, and not beside a table that has a row per window.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { sparkline } from '../src/core/sparkline.js';
import { TOKENS_AND_COUNT_METERS } from './fixtures.js';
import { csvRows, line, workdirs, type Workdir } from './helpers.js';

const workdir = workdirs();

/** Table rows as cells (border lines dropped). */
function cells(table: string): string[][] {
  return table
    .split('\n')
    .filter((l) => l.startsWith('│'))
    .map((l) =>
      l
        .split('│')
        .slice(1, -1)
        .map((c) => c.trim()),
    );
}

describe('sparkline columns', () => {
  let w: Workdir;
  before(() => {
    w = workdir('sparklines');
    w.write('meter.yaml', TOKENS_AND_COUNT_METERS);
    const lines: string[] = [];
    let n = 0;
    for (const [subject, perDay] of [
      ['acme', [1, 2, 3, 4, 5, 6, 7, 8]],
      ['globex', [8, 0, 0, 1, 0, 0, 0, 8]],
    ] as const) {
      perDay.forEach((k, d) => {
        for (let i = 0; i < k; i++) {
          const time = new Date(Date.UTC(2026, 10, 1 + d, 9, i)).toISOString();
          lines.push(line({ id: `e${++n}`, subject, time, data: { tokens: 10 * (i + 1) + 0.5, model: 'gpt-4o' } }));
        }
      });
    }
    w.write('events.ndjson', lines);
    const r = w.run(['ingest', 'events.ndjson']);
    assert.equal(r.code, 0, r.describe());
  });

  test('meter query --sparklines: each row has the sparkline of its values per day over the range', () => {
    const r = w.run(['query', '-m', 'tokens', '--from', '2026-11-01', '--to', '2026-11-09', '--sparklines']);
    assert.equal(r.code, 0, r.describe());
    const rows = cells(r.stdout);
    assert.deepEqual(rows[0], ['from', 'to', 'subject', 'value', 'per day']);
    for (const subject of ['acme', 'globex']) {
      const perDay = w.run([
        'query',
        '-m',
        'tokens',
        '--from',
        '2026-11-01',
        '--to',
        '2026-11-09',
        '-w',
        'day',
        '--fill',
        '-s',
        subject,
        '--format',
        'csv',
      ]);
      const values = csvRows(perDay.stdout)
        .slice(1)
        .map((c) => c.at(-1)!);
      assert.equal(values.length, 8);
      const row = rows.find((c) => c[2] === subject)!;
      assert.equal(row[4], sparkline(values), subject);
    }
    assert.equal(rows.find((c) => c[2] === 'globex')![4], '█▁▁▁▁▁▁█');
  });

  test('meter subjects --sparklines: events per day of each subject over the stored range', () => {
    const r = w.run(['subjects', '--sparklines']);
    assert.equal(r.code, 0, r.describe());
    const rows = cells(r.stdout);
    assert.deepEqual(rows[0], ['subject', 'events', 'first', 'last', 'per day']);
    assert.deepEqual(
      rows.slice(1).map((c) => [c[0], c[4]]),
      [
        ['acme', '▂▃▄▅▆▇██'],
        ['globex', '█▁▁▂▁▁▁█'],
      ],
    );
  });

  test('not when piped unless asked, never in CSV or JSON, not beside windows', () => {
    const piped = w.run(['query', '-m', 'tokens']);
    assert.equal(piped.code, 0, piped.describe());
    assert.deepEqual(cells(piped.stdout)[0], ['from', 'to', 'subject', 'value']);
    assert.doesNotMatch(w.run(['subjects']).stdout, /[▁█]/);
    assert.doesNotMatch(w.run(['subjects', '--format', 'json']).stdout, /[▁█]/);
    assert.doesNotMatch(w.run(['query', '-m', 'tokens', '--no-sparklines']).stdout, /[▁█]/);
    for (const args of [
      ['--format', 'csv'],
      ['--format', 'json'],
      ['-w', 'day'],
    ]) {
      const r = w.run(['query', '-m', 'tokens', '--sparklines', ...args]);
      assert.equal(r.code, 2, r.describe());
      assert.match(r.stderr, /--sparklines/);
      assert.equal(r.stdout, '');
    }
  });
});
