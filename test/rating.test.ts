/**
 * Rating arithmetic: the worked examples of ../shared/docs/openai-and-pricing.md part 2 (Stripe's, Lago's and
 * OpenMeter's, where OpenMeter's semantics agree), tier bounds, zero usage, rounding and commitments, exact values.
 * A property test (seeded; the seed is printed on failure) checks graduated amounts against an independent
 * BigInt computation.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Decimal } from '../src/core/decimal.js';
import { commitments, minorDigits, rateUsage, type PriceModel, type RatedLine, type Tier } from '../src/core/rating.js';
import { prng as rng } from '../bench/generate.js';

const D = (text: string): Decimal => {
  const d = Decimal.parse(text);
  assert.ok(d !== null, text);
  return d;
};

const unit = (amount: string, per = '1'): PriceModel => ({ type: 'unit', amount: D(amount), per: D(per) });
const tier = (upTo: string | null, unitAmount: string | null, flatAmount: string | null = null): Tier => ({
  upTo: upTo === null ? null : D(upTo),
  unitAmount: unitAmount === null ? null : D(unitAmount),
  flatAmount: flatAmount === null ? null : D(flatAmount),
});
const tiered = (mode: 'graduated' | 'volume', tiers: Tier[], per = '1'): PriceModel => ({ type: 'tiered', mode, tiers, per: D(per) });
const pkg = (amount: string, size: string): PriceModel => ({ type: 'package', amount: D(amount), quantityPerPackage: D(size) });

/** Lines as `type[tier] quantity -> amount (exact)` strings, for exact comparison. */
function show(lines: RatedLine[]): string[] {
  return lines.map((l) => `${l.lineType}${l.tier === null ? '' : `[${l.tier}]`} ${l.quantity ?? '-'} -> ${l.amount} (${l.amountExact})`);
}
const total = (lines: RatedLine[]): string => lines.reduce((s, l) => s.add(l.amount), Decimal.ZERO).toString();
const rate = (p: PriceModel, q: string, digits = 2) => rateUsage(p, D(q), digits);

describe('worked examples of the shared document', () => {
  // Stripe: tiers 1-5 at $7, 6-10 at $6.50, 11+ at $6 (integer quantities: the same as (0,5], (5,10], (10,inf)).
  const stripeTiers = [tier('5', '7'), tier('10', '6.5'), tier(null, '6')];
  test('Stripe graduated: qty 6 -> 41.50, qty 20 -> 127.50', () => {
    assert.deepEqual(show(rate(tiered('graduated', stripeTiers), '6')), ['usage[1] 5 -> 35 (35)', 'usage[2] 1 -> 6.5 (6.5)']);
    assert.equal(total(rate(tiered('graduated', stripeTiers), '6')), '41.5');
    assert.deepEqual(show(rate(tiered('graduated', stripeTiers), '20')), [
      'usage[1] 5 -> 35 (35)',
      'usage[2] 5 -> 32.5 (32.5)',
      'usage[3] 10 -> 60 (60)',
    ]);
    assert.equal(total(rate(tiered('graduated', stripeTiers), '20')), '127.5');
  });
  test('Stripe volume: qty 6 -> 39, qty 20 -> 120', () => {
    assert.deepEqual(show(rate(tiered('volume', stripeTiers), '6')), ['usage[2] 6 -> 39 (39)']);
    assert.deepEqual(show(rate(tiered('volume', stripeTiers), '20')), ['usage[3] 20 -> 120 (120)']);
  });
  test('Stripe transform_quantity as a package: $10 per 60 minutes, 150 minutes -> 3 packages -> 30', () => {
    assert.deepEqual(show(rate(pkg('10', '60'), '150')), ['usage 150 -> 30 (30)']);
  });
  test('Stripe line rounding: 30 x 0.0005 = 0.015 -> 0.02; 70 x 0.000065 = 0.00455 -> 0.00', () => {
    assert.deepEqual(show(rate(unit('0.0005'), '30')), ['usage 30 -> 0.02 (0.015)']);
    assert.deepEqual(show(rate(unit('0.000065'), '70')), ['usage 70 -> 0 (0.00455)']);
  });
  test('Lago standard: 1,234 x 0.01 = 12.34', () => {
    assert.deepEqual(show(rate(unit('0.01'), '1234')), ['usage 1234 -> 12.34 (12.34)']);
  });
  test('Lago graduated: 0-100 @1, 101-200 @0.50, 201+ @0.10, usage 250 -> 155', () => {
    const lines = rate(tiered('graduated', [tier('100', '1'), tier('200', '0.5'), tier(null, '0.1')]), '250');
    assert.deepEqual(show(lines), ['usage[1] 100 -> 100 (100)', 'usage[2] 100 -> 50 (50)', 'usage[3] 50 -> 5 (5)']);
    assert.equal(total(lines), '155');
  });
  test('Lago volume: 0-100 @1, 101+ @0.50 + 10 flat, usage 150 -> 85', () => {
    const lines = rate(tiered('volume', [tier('100', '1'), tier(null, '0.5', '10')]), '150');
    assert.deepEqual(show(lines), ['usage[2] 150 -> 75 (75)', 'flat[2] - -> 10 (10)']);
    assert.equal(total(lines), '85');
  });
  test('OpenMeter unit: 1,234,567 x 0.0000025 = 3.0864175 -> 3.09', () => {
    assert.deepEqual(show(rate(unit('0.0000025'), '1234567')), ['usage 1234567 -> 3.09 (3.0864175)']);
    // The same price quoted per million: 2.50 per 1,000,000.
    assert.deepEqual(show(rate(unit('2.50', '1000000'), '1234567')), ['usage 1234567 -> 3.09 (3.0864175)']);
  });
  test('OpenMeter graduated: <=1M @0.0000025, inf @0.000002 + 1 flat, 1.5M -> 2.50 + 1.00 + 1.00 = 4.50', () => {
    const lines = rate(tiered('graduated', [tier('1000000', '0.0000025'), tier(null, '0.000002', '1')]), '1500000');
    assert.deepEqual(show(lines), ['usage[1] 1000000 -> 2.5 (2.5)', 'usage[2] 500000 -> 1 (1)', 'flat[2] - -> 1 (1)']);
    assert.equal(total(lines), '4.5');
  });
  test('OpenMeter volume: <=1M @0.0000025, inf @0.000002, 1.5M -> 3.00', () => {
    assert.deepEqual(show(rate(tiered('volume', [tier('1000000', '0.0000025'), tier(null, '0.000002')]), '1500000')), [
      'usage[2] 1500000 -> 3 (3)',
    ]);
  });
  test('OpenMeter and Lago package: size 1,000 at $5, 2,150 -> 3 packages -> 15', () => {
    assert.deepEqual(show(rate(pkg('5', '1000'), '2150')), ['usage 2150 -> 15 (15)']);
  });
  test('OpenAI: 600k uncached input @2.50, 400k cached @0.25, 200k output @15.00 per 1M on gpt-5.4 -> 4.60', () => {
    const lines = [
      ...rate(unit('2.50', '1000000'), '600000'),
      ...rate(unit('0.25', '1000000'), '400000'),
      ...rate(unit('15.00', '1000000'), '200000'),
    ];
    assert.deepEqual(
      lines.map((l) => l.amount.toFixedMin(2)),
      ['1.50', '0.10', '3.00'],
    );
    assert.equal(total(lines), '4.6');
  });
});

describe('tier bounds are (previous upToAmount, upToAmount]', () => {
  const tiers = [tier('100', '1'), tier('200', '0.5', '7'), tier(null, '0.1')];
  test('graduated: exactly at a bound stays in the tier, one unit above reaches the next (and its flat price)', () => {
    assert.deepEqual(show(rate(tiered('graduated', tiers), '100')), ['usage[1] 100 -> 100 (100)']);
    assert.deepEqual(show(rate(tiered('graduated', tiers), '101')), [
      'usage[1] 100 -> 100 (100)',
      'usage[2] 1 -> 0.5 (0.5)',
      'flat[2] - -> 7 (7)',
    ]);
    assert.deepEqual(show(rate(tiered('graduated', tiers), '100.001')), [
      'usage[1] 100 -> 100 (100)',
      'usage[2] 0.001 -> 0 (0.0005)',
      'flat[2] - -> 7 (7)',
    ]);
  });
  test('volume: exactly at a bound is priced at that tier, one unit above at the next', () => {
    assert.deepEqual(show(rate(tiered('volume', tiers), '200')), ['usage[2] 200 -> 100 (100)', 'flat[2] - -> 7 (7)']);
    assert.deepEqual(show(rate(tiered('volume', tiers), '201')), ['usage[3] 201 -> 20.1 (20.1)']);
  });
  test('a volume total falls when usage crosses a tier: 100 -> 100.00, 101 -> 50.50', () => {
    const t = tiered('volume', [tier('100', '1'), tier(null, '0.5')]);
    assert.equal(total(rate(t, '100')), '100');
    assert.equal(total(rate(t, '101')), '50.5');
  });
});

describe('zero usage (OpenMeter): no usage lines; the first tier flat price is still billed', () => {
  test('unit and package: no line at 0 or below', () => {
    assert.deepEqual(rate(unit('2'), '0'), []);
    assert.deepEqual(rate(unit('2'), '-5'), []);
    assert.deepEqual(rate(pkg('5', '1000'), '0'), []);
  });
  test('graduated: the first tier flat price at 0, no other tier', () => {
    const t = tiered('graduated', [tier('100', '1', '5'), tier(null, '0.5', '7')]);
    assert.deepEqual(show(rate(t, '0')), ['flat[1] - -> 5 (5)']);
    assert.deepEqual(show(rate(tiered('graduated', [tier('100', '1'), tier(null, '0.5', '7')]), '0')), []);
  });
  test('volume: the first tier flat price at 0, without a unit line', () => {
    assert.deepEqual(show(rate(tiered('volume', [tier('100', '1', '5'), tier(null, '0.5')]), '0')), ['flat[1] - -> 5 (5)']);
  });
  test('a zero flat price is no line; a zero unit price is a 0.00 line', () => {
    assert.deepEqual(show(rate(tiered('graduated', [tier('10', '0'), tier(null, '1', '0')]), '12')), [
      'usage[1] 10 -> 0 (0)',
      'usage[2] 2 -> 2 (2)',
    ]);
  });
});

describe('rounding: once per line, half away from zero, to the currency minor digits', () => {
  test('sub-cent lines: 0.005 -> 0.01, 0.00455 -> 0.00, 0.00499 -> 0.00', () => {
    assert.equal(rate(unit('0.005'), '1')[0]!.amount.toFixedMin(2), '0.01');
    assert.equal(rate(unit('0.00455'), '1')[0]!.amount.toFixedMin(2), '0.00');
    assert.equal(rate(unit('0.00499'), '1')[0]!.amount.toFixedMin(2), '0.00');
  });
  test('minor digits: USD 2, EUR 2, JPY 0, KRW 0, KWD 3, BHD 3, OMR 3, JOD 3, TND 3; unknown -> null', () => {
    assert.deepEqual(
      ['USD', 'EUR', 'JPY', 'KRW', 'KWD', 'BHD', 'OMR', 'JOD', 'TND', 'CLF', 'GBP'].map(minorDigits),
      [2, 2, 0, 0, 3, 3, 3, 3, 3, 4, 2],
    );
    assert.equal(minorDigits('XYZ'), null);
    assert.equal(minorDigits('usd'), null);
    assert.equal(minorDigits('constructor'), null);
  });
  test('JPY: 3 x 0.5 = 1.5 -> 2 yen, 1,234 x 0.5 -> 617', () => {
    assert.equal(rate(unit('0.5'), '3', 0)[0]!.amount.toFixedMin(0), '2');
    assert.equal(rate(unit('0.5'), '1234', 0)[0]!.amount.toFixedMin(0), '617');
  });
  test('KWD: 1.2345 -> 1.235 and 0.0004 -> 0.000', () => {
    assert.equal(rate(unit('1.2345'), '1', 3)[0]!.amount.toFixedMin(3), '1.235');
    assert.equal(rate(unit('0.0004'), '1', 3)[0]!.amount.toFixedMin(3), '0.000');
  });
  test('graduated: each tier line is rounded on its own', () => {
    // 0.004 + 0.004 exact is 0.008 (0.01), but two lines round to 0.00 each.
    const lines = rate(tiered('graduated', [tier('1', '0.004'), tier(null, '0.004')]), '2');
    assert.deepEqual(show(lines), ['usage[1] 1 -> 0 (0.004)', 'usage[2] 1 -> 0 (0.004)']);
  });
});

describe('package remainders round the number of packages up', () => {
  const p = pkg('5', '1000');
  for (const [q, amount] of [
    ['1', '5'],
    ['999', '5'],
    ['1000', '5'],
    ['1001', '10'],
    ['2000', '10'],
    ['2000.5', '15'],
    ['0.001', '5'],
  ]) {
    test(`${q} units -> ${amount}`, () => assert.equal(rate(p, q!)[0]!.amount.toString(), amount));
  }
});

describe('commitments', () => {
  test('minimum true-up: 3.09 under a 10.00 minimum adds 6.91', () => {
    const lines = rate(unit('0.0000025'), '1234567');
    assert.deepEqual(show(commitments(lines, D('10'), null, 2)), ['minimum - -> 6.91 (6.91)']);
  });
  test('minimum at zero usage: the whole minimum', () => {
    assert.deepEqual(show(commitments([], D('10'), null, 2)), ['minimum - -> 10 (10)']);
  });
  test('maximum discount: 127.50 over a 100 maximum gives -27.50', () => {
    const lines = rate(tiered('graduated', [tier('5', '7'), tier('10', '6.5'), tier(null, '6')]), '20');
    assert.deepEqual(show(commitments(lines, null, D('100'), 2)), ['maximum - -> -27.5 (-27.5)']);
  });
  test('between minimum and maximum, and exactly at either: no line', () => {
    const lines = rate(unit('1'), '50');
    assert.deepEqual(commitments(lines, D('10'), D('100'), 2), []);
    assert.deepEqual(commitments(lines, D('50'), D('50'), 2), []);
  });
});

/** BigInt x / 10^scale as a Decimal. */
const dec = (x: bigint, scale: number): Decimal => D(x.toString()).divideExact(D((10n ** BigInt(scale)).toString()))!;

describe('property: graduated amounts equal the per-tier amounts computed independently', () => {
  const seed = Number(process.env.METER_TEST_SEED ?? Date.now() % 1_000_000);
  test(`500 random tier tables and quantities (seed ${seed}; rerun with METER_TEST_SEED=${seed})`, () => {
    const random = rng(seed);
    const int = (n: number) => Math.floor(random() * n);
    for (let round = 0; round < 500; round++) {
      // Quantities and bounds in thousandths of a unit, unit prices in millionths of money per 1000 units.
      const n = 1 + int(5);
      const bounds: bigint[] = [];
      let b = 0n;
      for (let i = 0; i < n - 1; i++) bounds.push((b += BigInt(1 + int(5000))));
      const units = Array.from({ length: n }, () => BigInt(int(3_000_000)));
      const flats = Array.from({ length: n }, () => (random() < 0.3 ? BigInt(int(100_000)) : 0n)); // in cents x 1000
      const q = random() < 0.1 ? (bounds[int(bounds.length)] ?? 0n) + BigInt(int(2)) : BigInt(int(Number(b) + 5000));
      const tiers = units.map((u, i) =>
        tier(i < n - 1 ? dec(bounds[i]!, 3).toString() : null, dec(u, 6).toString(), dec(flats[i]!, 5).toString()),
      );
      const lines = rateUsage(tiered('graduated', tiers, '1000'), dec(q, 3), 2);
      // Independently: units of tier i = clamp(q - lo, 0, hi - lo), in 1/1000; amount = units * price / 1000.
      // Exact amount x 10^12 = (units/10^3) * (u/10^6) / 1000 * 10^12 = units * u.
      const want: string[] = [];
      let lo = 0n;
      for (let i = 0; i < n; i++) {
        const hi = i < n - 1 ? bounds[i]! : null;
        const inTier = q <= lo ? 0n : (hi === null || q < hi ? q : hi) - lo;
        if (q > lo)
          want.push(`usage[${i + 1}] ${dec(inTier, 3)} -> ${roundCents(inTier * units[i]!, 12)} (${dec(inTier * units[i]!, 12)})`);
        if ((q > lo || i === 0) && flats[i]! > 0n) want.push(`flat[${i + 1}] - -> ${roundCents(flats[i]!, 5)} (${dec(flats[i]!, 5)})`);
        if (hi !== null) lo = hi;
      }
      assert.deepEqual(
        show(lines),
        want,
        `seed ${seed} round ${round}: q=${dec(q, 3)} tiers=${JSON.stringify(tiers.map((t) => [t.upTo?.toString(), t.unitAmount?.toString(), t.flatAmount?.toString()]))}`,
      );
    }
  });
});

/** x / 10^scale (x >= 0) rounded half up to cents, by integer arithmetic, as decimal text. */
function roundCents(x: bigint, scale: number): string {
  const unit = 10n ** BigInt(scale - 2);
  const cents = (x + unit / 2n) / unit;
  return dec(cents, 2).toString();
}
