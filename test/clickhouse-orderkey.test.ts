/**
 * The ClickHouse store's exact order key of a number (the string MIN and MAX compare byte by byte): a property test
 * over seeded random decimals of 1-60 digits, both signs, exponents -400..400, and equal values spelled
 * differently. Key order must be Decimal.compare order, and keys equal exactly when the values are.
 *
 * Seed: METER_SEED (a number) or random; every failure message prints it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Decimal } from '../src/core/decimal.js';
import { canonicalNumber } from '../src/store/clickhouse/flatten.js';
import { orderKey, orderKeyOfCanonical } from '../src/store/clickhouse/order-key.js';
import { prng } from '../bench/generate.js';

const SEED = process.env.METER_SEED !== undefined ? Number(process.env.METER_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0;

/** Byte order of two keys (ClickHouse compares String values as bytes; keys are ASCII). */
function byteCompare(a: string, b: string): number {
  const x = Buffer.from(a, 'latin1'),
    y = Buffer.from(b, 'latin1');
  return Math.sign(Buffer.compare(x, y));
}

/** A random decimal text in exponent form: sign, 1-60 significant-ish digits (zeros likely), exponent -400..400. */
function randomDecimal(rand: () => number): string {
  const n = 1 + Math.floor(rand() * 60);
  let digits = '';
  // Digits skewed toward 0 and 9 so that prefixes, carries and runs of zeros are common.
  for (let i = 0; i < n; i++) {
    const r = rand();
    digits += r < 0.25 ? '0' : r < 0.5 ? '9' : String(Math.floor(rand() * 10));
  }
  const exp = Math.floor(rand() * 801) - 400;
  const sign = rand() < 0.5 ? '-' : '';
  return `${sign}${digits}e${exp}`;
}

/** Other spellings of the same value: a plain form with padding zeros, a shifted exponent, a leading plus. */
function respell(text: string, rand: () => number): string[] {
  const d = Decimal.parse(text)!;
  const plain = d.toString();
  const neg = plain.startsWith('-');
  const body = neg ? plain.slice(1) : plain;
  const sign = neg ? '-' : rand() < 0.5 ? '+' : '';
  const withDot = body.includes('.') ? body : body + '.';
  const shift = 1 + Math.floor(rand() * 5);
  const m = /^(-?)(\d+)e(-?\d+)$/.exec(text)!;
  return [
    `${sign}00${withDot}000`,
    `${m[1]}${m[2]}${'0'.repeat(shift)}e${Number(m[3]) - shift}`,
    `${m[1]}0.${m[2]}e${Number(m[3]) + m[2].length}`,
  ];
}

describe('ClickHouse order key of a number', () => {
  test(`key order is the exact decimal order, equal keys exactly for equal values (seed ${SEED})`, () => {
    const rand = prng(SEED);
    const values: Array<{ text: string; d: Decimal; key: string }> = [];
    for (let i = 0; i < 1500; i++) {
      let text = randomDecimal(rand);
      // Near neighbours: the same digits with one more digit, or the next value at the last place.
      if (i > 0 && rand() < 0.2) text = values[i - 1]!.text.replace(/e/, rand() < 0.5 ? '1e' : '0e');
      const d = Decimal.parse(text)!;
      values.push({ text, d, key: orderKey(d) });
      for (const other of respell(text, rand)) {
        const od = Decimal.parse(other);
        assert.ok(od !== null, `seed ${SEED}: ${other} parses`);
        assert.equal(od.compare(d), 0, `seed ${SEED}: ${other} equals ${text}`);
        assert.equal(orderKey(od), values[i]!.key, `seed ${SEED}: ${other} and ${text} have one key`);
        assert.equal(orderKeyOfCanonical(canonicalNumber(other)!), values[i]!.key, `seed ${SEED}: via canonicalNumber(${other})`);
      }
    }
    values.push({ text: '0', d: Decimal.parse('0')!, key: orderKey(Decimal.parse('-0.000e5')!) });
    for (let i = 0; i < values.length; i++) {
      for (let j = 0; j < values.length; j += 1 + Math.floor(rand() * 3)) {
        const a = values[i]!,
          b = values[j]!;
        assert.equal(
          byteCompare(a.key, b.key),
          a.d.compare(b.d),
          `seed ${SEED}: ${a.text} vs ${b.text}: keys ${a.key.slice(0, 30)}... and ${b.key.slice(0, 30)}...`,
        );
      }
    }
    // Sorting by key sorts by value.
    const sorted = [...values].sort((a, b) => byteCompare(a.key, b.key));
    for (let i = 0; i + 1 < sorted.length; i++) {
      assert.ok(sorted[i]!.d.compare(sorted[i + 1]!.d) <= 0, `seed ${SEED}: ${sorted[i]!.text} <= ${sorted[i + 1]!.text}`);
    }
  });

  test('values equal as doubles are told apart; -0 is 0; a prefix of digits is the smaller magnitude', () => {
    const k = (t: string) => orderKeyOfCanonical(canonicalNumber(t)!);
    assert.ok(k('9223372036854775807') < k('9223372036854775808'));
    assert.ok(k('-9223372036854775808') < k('-9223372036854775807'));
    assert.ok(k('0.1') < k('0.1000000000000000055'));
    assert.ok(k('-0.1000000000000000055') < k('-0.1'));
    assert.ok(k('-12') < k('-1.2') && k('-1.2') < k('-0.12') && k('-0.12') < k('0') && k('0') < k('0.12') && k('0.12') < k('1.2'));
    assert.equal(k('-0'), k('0'));
    assert.equal(k('1.50'), k('1.5'));
    assert.equal(k('1e3'), k('1000'));
  });
});
