/**
 * Row order: `--fill` lays out groups in the stores' order (subject, then group values, by UTF-8 bytes), so a
 * filled result lists its groups as the plain one does. Seeded; the seed is printed on failure.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { prng } from '../bench/generate.js';
import { compareUtf8 } from '../src/core/query.js';

const SEED = Number(process.env.METER_SEED ?? Math.floor(Math.random() * 2 ** 31));

test('compareUtf8 orders as UTF-8 bytes do, for random strings with quotes, astral and private-use characters', () => {
  const rand = prng(SEED);
  const chars = ['a', 'b', '"', '\\', '1', '{', 'é', '\ue000', '\uffff', '😀', '\u{10ffff}', '\u0000', ' '];
  const word = () => Array.from({ length: Math.floor(rand() * 5) }, () => chars[Math.floor(rand() * chars.length)]).join('');
  for (let i = 0; i < 20_000; i++) {
    const x = word(),
      y = word();
    const bytes = Math.sign(Buffer.compare(Buffer.from(x), Buffer.from(y)));
    assert.equal(Math.sign(compareUtf8(x, y)), bytes, `${JSON.stringify(x)} vs ${JSON.stringify(y)} (METER_SEED=${SEED})`);
  }
});
