/**
 * The report's data shaping, without a store: the window a range gets, shares, and seeded generated meters whose
 * top N and "others" must add up to the exact totals (checked against a BigInt model), ranked, with the right peaks.
 * Seed: METER_SEED or random; every failure message prints it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { prng } from '../bench/generate.js';
import { chooseWindow, shapeMeter, sharePercent, type ShapeCell, type ShapeTotal } from '../src/core/report-shape.js';
import { localToUtc } from '../src/core/window.js';
import { windowLabels } from '../src/output/report-doc.js';

const SEED = process.env.METER_SEED !== undefined ? Number(process.env.METER_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
const why = (s: string) => `${s} (METER_SEED=${SEED})`;

const H = 3_600_000,
  D = 24 * H;
const T0 = Date.UTC(2026, 10, 1);

test('window: hours up to two days (and a DST hour), days up to 92 days (and an hour), months beyond', () => {
  assert.equal(chooseWindow(T0, T0 + 1), 'HOUR');
  assert.equal(chooseWindow(T0, T0 + 2 * D), 'HOUR');
  assert.equal(chooseWindow(T0, T0 + 2 * D + H), 'HOUR');
  assert.equal(chooseWindow(T0, T0 + 2 * D + H + 1), 'DAY');
  assert.equal(chooseWindow(T0, T0 + 31 * D), 'DAY');
  assert.equal(chooseWindow(T0, T0 + 92 * D + H), 'DAY');
  assert.equal(chooseWindow(T0, T0 + 92 * D + H + 1), 'MONTH');
  assert.equal(chooseWindow(T0, T0 + 366 * D), 'MONTH');
  // Two local days in Budapest over the autumn change are 49 hours: still hourly. A local quarter in autumn too.
  const z = 'Europe/Budapest';
  assert.equal(chooseWindow(localToUtc(z, Date.UTC(2026, 9, 24)), localToUtc(z, Date.UTC(2026, 9, 26))), 'HOUR');
  assert.equal(chooseWindow(localToUtc(z, Date.UTC(2026, 9, 1)), localToUtc(z, Date.UTC(2027, 0, 1))), 'DAY');
});

test('share: percent with one decimal, half away from zero, "<0.1" for a tiny positive part', () => {
  assert.equal(sharePercent('1', '3'), '33.3');
  assert.equal(sharePercent('2', '3'), '66.7');
  assert.equal(sharePercent('1', '8'), '12.5');
  assert.equal(sharePercent('1', '1600'), '0.1'); // 0.0625 -> 0.1
  assert.equal(sharePercent('1', '2001'), '<0.1');
  assert.equal(sharePercent('0', '5'), '0.0');
  assert.equal(sharePercent('5', '5'), '100.0');
  assert.equal(sharePercent('0.1', '0.3'), '33.3');
  assert.equal(sharePercent('12345678901234567890.5', '24691357802469135781'), '50.0');
  assert.equal(sharePercent('1', '0'), null);
  assert.equal(sharePercent(null, '5'), null);
});

/** An exact decimal as a BigInt at scale 6 (the generator's values have at most 6 decimals). */
function scaled(text: string): bigint {
  const [int, frac = ''] = text.replace('-', '').split('.');
  const v = BigInt(int! + frac.padEnd(6, '0'));
  return text.startsWith('-') ? -v : v;
}

function randomValue(rnd: () => number): string {
  const r = rnd();
  if (r < 0.05) return '0';
  if (r < 0.1) return '98765432109876543210.123456'; // past any double's precision
  if (r < 0.4) return String(Math.floor(rnd() * 1000));
  return `${Math.floor(rnd() * 50)}.${
    String(Math.floor(rnd() * 1e6))
      .padStart(6, '0')
      .replace(/0+$/, '') || '0'
  }`;
}

test('generated meters: top N + others add up exactly per window and in total; ranks, shares and peaks', () => {
  const rnd = prng(SEED);
  for (let c = 0; c < 200; c++) {
    const entities = 1 + Math.floor(rnd() * 40),
      windows = 1 + Math.floor(rnd() * 30),
      top = 1 + Math.floor(rnd() * 10);
    const cells: ShapeCell[] = [];
    const totals: ShapeTotal[] = [];
    const model = new Map<string, Array<bigint | null>>();
    for (let e = 0; e < entities; e++) {
      const key = `k${e}`,
        label = `customer-${String(e).padStart(3, '0')}`;
      const vals: Array<bigint | null> = new Array(windows).fill(null);
      let sum = 0n,
        any = false;
      for (let w = 0; w < windows; w++) {
        if (rnd() < 0.3 && !(w === windows - 1 && !any)) continue; // a window without events (each entity has one)
        const v = randomValue(rnd);
        cells.push({ key, label, window: w, value: v });
        vals[w] = scaled(v);
        sum += scaled(v);
        any = true;
      }
      model.set(key, vals);
      totals.push({ key, label, value: fromScaled(sum) });
    }
    const s = shapeMeter({ additive: true, windows, cells: shuffle(cells, rnd), totals: shuffle(totals, rnd), top, sparkWidth: 12 });
    const grand = [...model.values()].reduce((a, v) => a + v.reduce<bigint>((x, y) => x + (y ?? 0n), 0n), 0n);
    const ctx = `case ${c}: ${entities} entities, ${windows} windows, top ${top}`;
    assert.equal(s.total, fromScaled(grand), why(ctx));
    assert.equal(scaled(s.series.reduce((a, x) => fromScaled(scaled(a) + scaled(x.total!)), '0')), grand, why(`${ctx}: series totals`));
    for (let w = 0; w < windows; w++) {
      const want = [...model.values()].reduce((a, v) => a + (v[w] ?? 0n), 0n);
      const got = s.series.reduce((a, x) => a + scaled(x.values[w]!), 0n);
      assert.equal(got, want, why(`${ctx}: window ${w}, top N + others`));
      assert.equal(scaled(s.windowTotals![w]!), want, why(`${ctx}: window ${w} total`));
    }
    const own = entities <= top + 1 ? entities : top;
    assert.equal(s.series.length, own + (entities > own ? 1 : 0), why(ctx));
    if (entities > own) assert.equal(s.series.at(-1)!.label, `others (${entities - own})`, why(ctx));
    assert.equal(s.rows.length, entities, why(ctx));
    for (let i = 0; i < s.rows.length; i++) {
      const r = s.rows[i]!;
      if (i > 0) {
        const prev = scaled(s.rows[i - 1]!.total!),
          cur = scaled(r.total!);
        assert.ok(prev > cur || (prev === cur && s.rows[i - 1]!.label < r.label), why(`${ctx}: rank ${i}`));
      }
      if (i < own) assert.equal(s.series[i]!.label, r.label, why(`${ctx}: series ${i} is rank ${i}`));
      const vals = model.get(r.key)!;
      let best = -1;
      vals.forEach((v, w) => v !== null && v > 0n && (best < 0 || v > vals[best]!) && (best = w));
      assert.deepEqual(r.peak, best < 0 ? null : { window: best, value: fromScaled(vals[best]!) }, why(`${ctx}: peak of ${r.label}`));
      assert.equal(r.share, referenceShare(scaled(r.total!), grand), why(`${ctx}: share of ${r.label}`));
      assert.ok([...r.spark].length === Math.min(windows, 12), why(`${ctx}: spark ${r.spark}`));
    }
  }
});

test('a meter whose values do not add up: the top N by value, no "others", no shares or window totals', () => {
  const cells: ShapeCell[] = [
    { key: 'a', label: 'a', window: 0, value: '5' },
    { key: 'a', label: 'a', window: 1, value: '9' },
    { key: 'b', label: 'b', window: 1, value: '7' },
    { key: 'c', label: 'c', window: 0, value: null },
  ];
  const totals: ShapeTotal[] = [
    { key: 'a', label: 'a', value: '9' },
    { key: 'b', label: 'b', value: '7' },
    { key: 'c', label: 'c', value: null },
  ];
  const s = shapeMeter({ additive: false, windows: 2, cells, totals, top: 1, sparkWidth: 10 });
  assert.equal(s.total, null);
  assert.equal(s.windowTotals, null);
  assert.deepEqual(
    s.series.map((x) => [x.label, x.values]),
    [['a', ['5', '9']]],
  );
  assert.deepEqual(
    s.rows.map((r) => [r.label, r.total, r.share, r.peak]),
    [
      ['a', '9', null, { window: 1, value: '9' }],
      ['b', '7', null, { window: 1, value: '7' }],
      ['c', null, null, null],
    ],
  );
  assert.equal(s.rows[1]!.spark, ' █');
});

test('one entity more than the top N is drawn by name instead of as "others (1)"', () => {
  const totals: ShapeTotal[] = ['x', 'y', 'z'].map((k, i) => ({ key: k, label: k, value: String(3 - i) }));
  const cells: ShapeCell[] = totals.map((t) => ({ key: t.key, label: t.label, window: 0, value: t.value }));
  assert.deepEqual(
    shapeMeter({ additive: true, windows: 1, cells, totals, top: 2, sparkWidth: 5 }).series.map((x) => x.label),
    ['x', 'y', 'z'],
  );
  assert.deepEqual(
    shapeMeter({ additive: true, windows: 1, cells, totals, top: 1, sparkWidth: 5 }).series.map((x) => [x.label, x.total]),
    [
      ['x', '3'],
      ['others (2)', '3'],
    ],
  );
});

function fromScaled(v: bigint): string {
  const neg = v < 0n,
    digits = (neg ? -v : v).toString().padStart(7, '0');
  const text = `${digits.slice(0, -6)}.${digits.slice(-6)}`.replace(/\.?0+$/, '');
  return (neg ? '-' : '') + (text === '' ? '0' : text);
}

/** part / whole in percent, one decimal, half away from zero (positive values), "<0.1" when it rounds to 0. */
function referenceShare(part: bigint, whole: bigint): string | null {
  if (whole <= 0n) return null;
  const q = (part * 2000n + whole) / (2n * whole); // round(part * 1000 / whole)
  if (q === 0n && part > 0n) return '<0.1';
  return `${q / 10n}.${q % 10n}`;
}

function shuffle<T>(xs: T[], rnd: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

test('window labels: the hour a fall-back night repeats is told apart by its offset; other labels are unchanged', () => {
  const starts = ['2026-10-25T01:00:00+02:00', '2026-10-25T02:00:00+02:00', '2026-10-25T02:00:00+01:00', '2026-10-25T03:00:00+01:00'];
  assert.deepEqual(windowLabels('HOUR', starts), [
    '2026-10-25 01:00',
    '2026-10-25 02:00 +02:00',
    '2026-10-25 02:00 +01:00',
    '2026-10-25 03:00',
  ]);
  assert.deepEqual(windowLabels('DAY', ['2026-10-25T00:00:00+02:00', '2026-10-26T00:00:00+01:00']), ['2026-10-25', '2026-10-26']);
  assert.deepEqual(windowLabels('HOUR', ['2026-01-01T00:00:00Z']), ['2026-01-01 00:00']);
});
