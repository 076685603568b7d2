/** Sparklines from exact decimal text: levels, zero, gaps, negatives, values past a double, and downsampling. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sparkline } from '../src/core/sparkline.js';

test('eight levels from 0 to the largest value', () => {
  assert.equal(sparkline(['0', '1', '2', '3', '4', '5', '6', '7']), '▁▂▃▄▅▆▇█');
  assert.equal(sparkline(['10', '5', '0']), '█▅▁');
  assert.equal(sparkline(['0.1', '0.2']), '▅█');
});

test('steady, empty, all-zero and missing values', () => {
  assert.equal(sparkline([]), '');
  assert.equal(sparkline(['5', '5', '5']), '███');
  assert.equal(sparkline(['0', '0']), '▁▁');
  assert.equal(sparkline([null, '1', null]), ' █ ');
  assert.equal(sparkline([null]), ' ');
});

test('negative values (credits) lower the floor', () => {
  assert.equal(sparkline(['-1', '0', '1']), '▁▅█');
  assert.equal(sparkline(['-4', '-2']), '▁▅');
});

test('values past any double and past the largest double', () => {
  assert.equal(sparkline(['98765432109876543210.123456', '0']), '█▁');
  const huge = '1' + '0'.repeat(400);
  assert.equal(sparkline([huge, '0', huge]), '█▁█');
  assert.equal(sparkline(['-' + huge, huge]), '▁█');
});

test('more values than the width: buckets of their mean, one character each', () => {
  const year = Array.from({ length: 365 }, (_, i) => String(i < 180 ? 1 : 8));
  const s = sparkline(year, 40);
  assert.equal([...s].length, 40);
  assert.match(s, /^▂+.?█+$/);
  assert.equal(sparkline(['1', '2', '3'], 10), sparkline(['1', '2', '3']));
  // A bucket with no values is a gap; one with some shows their mean.
  assert.equal(sparkline([null, null, '4', null], 2), ' █');
  assert.equal(sparkline(['8', null, '0', '0'], 2), '█▁');
});
