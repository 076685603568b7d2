/** Exact decimal sums for billing, and which meter values count as numbers. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Decimal, numericValue } from '../src/core/decimal.js';

const D = (text: string): Decimal => {
  const d = Decimal.parse(text);
  assert.ok(d !== null, `Decimal.parse(${JSON.stringify(text)}) should parse`);
  return d;
};

const sum = (...xs: Array<string | number>): string =>
  xs.reduce<Decimal>((acc, x) => acc.add(typeof x === 'number' ? Decimal.from(x) : D(x)), Decimal.ZERO).toString();

describe('Decimal.parse and toString', () => {
  const table: Array<[string, string]> = [
    ['0', '0'],
    ['-0', '0'],
    ['12', '12'],
    ['+12', '12'],
    ['-12.50', '-12.5'],
    ['0.5', '0.5'],
    ['.5', '0.5'],
    ['5.', '5'],
    ['007', '7'],
    ['1e3', '1000'],
    ['1E3', '1000'],
    ['1.5e-3', '0.0015'],
    ['-2.5E+2', '-250'],
    ['12e-5', '0.00012'],
    ['123456789012345678901234567890', '123456789012345678901234567890'],
    ['0.000000000000000000001', '0.000000000000000000001'],
    ['100.000', '100'],
  ];
  for (const [text, want] of table) {
    test(`${JSON.stringify(text)} -> ${want}`, () => assert.equal(D(text).toString(), want));
  }

  test('rejects what is not a finite decimal number', () => {
    for (const text of [
      '',
      '.',
      '-',
      '+',
      'e5',
      '1e',
      '1.2.3',
      'NaN',
      'Inf',
      'Infinity',
      '-Infinity',
      ' 21',
      '21 ',
      '0x10',
      '1,5',
      '1_000',
      'abc',
      '1e999999',
    ]) {
      assert.equal(Decimal.parse(text), null, JSON.stringify(text));
    }
  });
});

describe('Decimal arithmetic', () => {
  test('0.1 + 0.2 prints 0.3 (not 0.30000000000000004)', () => {
    assert.equal(sum(0.1, 0.2), '0.3');
    assert.equal(sum('0.1', '0.2'), '0.3');
  });

  test('ten times 0.1 is exactly 1', () => {
    assert.equal(sum(...Array<number>(10).fill(0.1)), '1');
  });

  test('sums beyond 2^53 stay exact', () => {
    // 2^53 = 9007199254740992; as floats 2^53 + 1 is 2^53 again.
    assert.equal(9007199254740992 + 1, 9007199254740992);
    assert.equal(sum(9007199254740992, 1), '9007199254740993');
    assert.equal(sum(4_000_000_000_000_000, 4_000_000_000_000_000, 4_000_000_000_000_000, 1), '12000000000000001');
    assert.equal(
      Decimal.from(2n ** 64n)
        .add(Decimal.from(1))
        .toString(),
      '18446744073709551617',
    );
    assert.equal(sum('99999999999999999999.99', '0.01'), '100000000000000000000');
    assert.equal(sum(9007199254740992, 0.5), '9007199254740992.5');
  });

  test('negative values', () => {
    assert.equal(sum(-4, 1.5), '-2.5');
    assert.equal(sum('-0.1', '-0.2'), '-0.3');
    assert.equal(sum(-0.3, 0.1, 0.2), '0');
    assert.equal(sum(5, -5.25), '-0.25');
    assert.equal(sum(-0.001), '-0.001');
  });

  test('mixed scales and exponents', () => {
    assert.equal(sum('1e2', '0.25', 3), '103.25');
    assert.equal(sum(1e21, 1), '1000000000000000000001');
    assert.equal(sum(1e-7, 1e-7), '0.0000002');
    assert.equal(sum(1.005, 2.115), '3.12');
  });

  test('Decimal.from takes the shortest text of a float and rejects non-finite numbers', () => {
    assert.equal(Decimal.from(0.1).toString(), '0.1');
    assert.equal(Decimal.from(123.456).toString(), '123.456');
    assert.equal(Decimal.from(-7).toString(), '-7');
    assert.equal(Decimal.from(2.5e-8).toString(), '0.000000025');
    assert.throws(() => Decimal.from(Number.NaN), RangeError);
    assert.throws(() => Decimal.from(Number.POSITIVE_INFINITY), RangeError);
  });

  test('divide rounds half away from zero to the given digits', () => {
    assert.equal(D('0.3').divide(2).toString(), '0.15');
    assert.equal(D('10').divide(4).toString(), '2.5');
    assert.equal(D('10').divide(3).toString(), '3.333333333333');
    assert.equal(D('20').divide(3).toString(), '6.666666666667');
    assert.equal(D('-20').divide(3).toString(), '-6.666666666667');
    assert.equal(D('2').divide(3, 0).toString(), '1');
    assert.equal(D('-2.5').divide(1, 0).toString(), '-3');
    assert.equal(D('1').divide(8, 2).toString(), '0.13');
    // More decimals than digits: the cut digits still round (0.0000000000005 is 5e-13).
    assert.equal(D('0.0000000000005').divide(1).toString(), '0.000000000001');
    assert.equal(D('-0.0000000000005').divide(1).toString(), '-0.000000000001');
    assert.equal(D('0.0000000000014').divide(1).toString(), '0.000000000001');
    assert.equal(D('1.49').divide(1, 0).toString(), '1');
    assert.equal(D('12000000000000001').divide(3n).toString(), '4000000000000000.333333333333');
    assert.equal(D('0').divide(7).toString(), '0');
    assert.throws(() => D('1').divide(0), RangeError);
    assert.throws(() => D('1').divide(-2), RangeError);
  });

  test('compare and isZero', () => {
    assert.equal(D('0.3').compare(D('0.30')), 0);
    assert.equal(D('-1').compare(D('0.5')), -1);
    assert.equal(D('1e3').compare(D('999.999')), 1);
    assert.equal(D('0.000').isZero(), true);
    assert.equal(D('0.001').isZero(), false);
  });
});

describe('numericValue: which meter values count', () => {
  const counts: Array<[unknown, number]> = [
    [21, 21],
    [0.5, 0.5],
    [-4, -4],
    [0, 0],
    ['21', 21],
    ['0.5', 0.5],
    ['-3.25', -3.25],
    ['+7', 7],
    ['1e3', 1000],
    ['.5', 0.5],
    ['5.', 5],
  ];
  for (const [v, want] of counts) {
    test(`${JSON.stringify(v)} counts as ${want}`, () => assert.equal(numericValue(v), want));
  }

  const rejected: Array<[string, unknown]> = [
    ['"NaN"', 'NaN'],
    ['"Inf"', 'Inf'],
    ['"Infinity"', 'Infinity'],
    ['"-Infinity"', '-Infinity'],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['" 21" (padded)', ' 21'],
    ['"21 " (padded)', '21 '],
    ['"" (empty)', ''],
    ['"0x10"', '0x10'],
    ['"1,5"', '1,5'],
    ['"abc"', 'abc'],
    ['"1e999" (overflows)', '1e999'],
    ['true', true],
    ['false', false],
    ['null', null],
    ['undefined', undefined],
    ['an object', { value: 1 }],
    ['an array', [1]],
    ['a bigint', 5n],
  ];
  for (const [name, v] of rejected) {
    test(`${name} does not count`, () => assert.equal(numericValue(v), null));
  }
});

describe('Decimal arithmetic for money: mul, sub, quotient, round, divideExact, toFixedMin', () => {
  test('mul and sub are exact', () => {
    assert.equal(D('1234567').mul(D('0.0000025')).toString(), '3.0864175');
    assert.equal(D('0.1').mul(D('0.2')).toString(), '0.02');
    assert.equal(D('-1.5').mul(D('2')).toString(), '-3');
    assert.equal(D('10').sub(D('4.6')).toString(), '5.4');
    assert.equal(D('4.6').sub(D('10')).toString(), '-5.4');
  });

  test('round half away from zero', () => {
    const table: Array<[string, number, string]> = [
      ['0.005', 2, '0.01'],
      ['0.00455', 2, '0'],
      ['0.00499999', 2, '0'],
      ['-0.005', 2, '-0.01'],
      ['2.5', 0, '3'],
      ['-2.5', 0, '-3'],
      ['3.0864175', 2, '3.09'],
      ['1.0005', 3, '1.001'],
      ['1.2345', 12, '1.2345'],
      ['15.432', 2, '15.43'],
    ];
    for (const [x, digits, want] of table) assert.equal(D(x).round(digits).toString(), want, `${x} to ${digits}`);
  });

  test('ceil and floor', () => {
    assert.equal(D('2.05').round(0, 'ceil').toString(), '3');
    assert.equal(D('2').round(0, 'ceil').toString(), '2');
    assert.equal(D('-2.05').round(0, 'ceil').toString(), '-2');
    assert.equal(D('2.95').round(0, 'floor').toString(), '2');
    assert.equal(D('-2.05').round(0, 'floor').toString(), '-3');
  });

  test('quotient rounds the exact quotient', () => {
    assert.equal(D('2150').quotient(D('1000'), 0, 'ceil').toString(), '3');
    assert.equal(D('2000').quotient(D('1000'), 0, 'ceil').toString(), '2');
    assert.equal(D('10').quotient(D('3'), 2).toString(), '3.33');
    assert.equal(D('20').quotient(D('3'), 2).toString(), '6.67');
    assert.equal(D('1').quotient(D('-8'), 2).toString(), '-0.13');
    assert.equal(D('1.5').quotient(D('0.5'), 0).toString(), '3');
    assert.throws(() => D('1').quotient(D('0'), 2), RangeError);
  });

  test('divideExact: exact for 2^a*5^b divisors, null otherwise', () => {
    assert.equal(D('2.50').mul(D('600000')).divideExact(D('1000000'))!.toString(), '1.5');
    assert.equal(D('1').divideExact(D('1024'))!.toString(), '0.0009765625');
    assert.equal(D('3').divideExact(D('0.5'))!.toString(), '6');
    assert.equal(D('9').divideExact(D('3'))!.toString(), '3');
    assert.equal(D('1').divideExact(D('3')), null);
    assert.equal(D('1').divideExact(D('60')), null);
    assert.equal(D('1').divideExact(D('0')), null);
  });

  test('toFixedMin pads to the minor digits and never cuts', () => {
    assert.equal(D('4.6').toFixedMin(2), '4.60');
    assert.equal(D('0').toFixedMin(2), '0.00');
    assert.equal(D('1200').toFixedMin(0), '1200');
    assert.equal(D('-5.4').toFixedMin(3), '-5.400');
    assert.equal(D('0.0000025').toFixedMin(2), '0.0000025');
  });
});
