/**
 * The price file's validation (every problem listed, each naming the price and field) and the invoice use case
 * over a small in-memory Store: overlapping prices, unpriced usage, non-additive meters, and a seeded property
 * test (the seed is printed on failure): invoice totals equal the sum of their lines, and rendering twice gives
 * identical bytes.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { Decimal } from '../src/core/decimal.js';
import { buildInvoices, invoicePeriod, PriceMatcher, type InvoiceResult } from '../src/core/invoice.js';
import { validateMeters, type Meter } from '../src/core/meter.js';
import { parsePriceFile, type Price } from '../src/core/price.js';
import { ConfigError, UsageError } from '../src/errors.js';
import { renderInvoiceCsv, renderInvoiceJson, renderInvoiceTable } from '../src/output/invoice.js';
import { Sink } from '../src/output/sink.js';
import type { AggregateRow, MeterQuery, Store } from '../src/store/store.js';
import { prng as rng } from '../bench/generate.js';
import { Rng, runSeed } from './gen.js';

const METERS: Meter[] = validateMeters(
  [
    {
      slug: 'input_tokens',
      eventType: 'prompt',
      aggregation: 'SUM',
      valueProperty: '$.input',
      groupBy: { model: '$.model', tier: '$.tier' },
    },
    { slug: 'seats', eventType: 'seat', aggregation: 'MAX', valueProperty: '$.seats', groupBy: { plan: '$.plan' } },
    { slug: 'calls', eventType: 'prompt', aggregation: 'COUNT' },
  ],
  'meters.yaml',
);

function problems(yaml: string): string[] {
  try {
    parsePriceFile(yaml, 'prices.yaml', METERS);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    assert.match(e.message, /^invalid price file prices\.yaml:/);
    return e.problems;
  }
  assert.fail('expected a ConfigError');
}

describe('price file validation', () => {
  test('a valid file with every price type', () => {
    const f = parsePriceFile(
      `currency: KWD
prices:
  - meter: input_tokens
    match: { model: gpt-4o }
    description: GPT-4o input
    price: { type: unit, amount: "2.50", per: 1000000 }
  - meter: input_tokens
    match: { model: gpt-4.1 }
    price:
      type: tiered
      mode: graduated
      per: "1000"
      tiers:
        - { upToAmount: "100000000", unitPrice: { amount: "10.00" } }
        - { unitPrice: { amount: "8.00" }, flatPrice: { amount: "0" } }
  - meter: calls
    price: { type: package, amount: "5", quantityPerPackage: "1000" }
  - meter: calls
    price: { type: flat, amount: "49" }
    minimumAmount: "10.125"
    maximumAmount: "1000"
`,
      'prices.yaml',
      METERS,
    );
    assert.equal(f.currency, 'KWD');
    assert.equal(f.digits, 3);
    assert.deepEqual(
      f.prices.map((p) => [p.label, p.model.type]),
      [
        ['price #1 (input_tokens model=gpt-4o)', 'unit'],
        ['price #2 (input_tokens model=gpt-4.1)', 'tiered'],
        ['price #3 (calls)', 'package'],
        ['price #4 (calls)', 'flat'],
      ],
    );
    assert.equal(f.prices[3]!.minimum?.toString(), '10.125');
  });

  test('every problem at once, each naming its line, the price and the field', () => {
    assert.deepEqual(
      problems(`currency: XYZ
extra: 1
prices:
  - meter: input_tokens
    match: { model: 4, colour: red }
    price: { type: unit, amount: 2.5, per: 60 }
  - meter: nope
    price: { type: percent, amount: "1" }
  - meter: calls
    minimumAmmount: "1"
    price: { type: package, amount: "-1", quantityPerPackage: "0" }
  - meter: calls
    price:
      type: tiered
      mode: stairs
      tiers:
        - { upToAmount: "100", unitPrice: { amount: "1" } }
        - { upToAmount: "50", unitPrice: { amount: "1" } }
        - { upToAmount: "500" }
`),
      [
        'line 2: extra: unknown key (a price file has currency: and prices:)',
        'line 1: currency: "XYZ" is not an ISO 4217 currency code (USD, EUR, JPY, KWD...)',
        'line 5: price #1 (input_tokens model=4 colour=red) match.model: must be a string (write "4"): group values are compared as text',
        'line 5: price #1 (input_tokens model=4 colour=red) match.colour: meter input_tokens has groupBy keys model, tier',
        'line 6: price #1 (input_tokens model=4 colour=red) price.per: 60: amounts per 60 units would be endless decimals; use a number whose only prime factors are 2 and 5 (10, 1000, 1000000)',
        'line 6: price #1 (input_tokens model=4 colour=red) price.amount: write the amount as a string ("2.5"): YAML reads a number as a binary float',
        'line 7: price #2 (nope) meter: "nope" is not a meter of the config (input_tokens, seats, calls)',
        'line 8: price #2 (nope) price.type: "percent" is not one of unit, tiered, package, flat',
        'line 10: price #3 (calls) minimumAmmount: unknown field (use meter, match, description, price, minimumAmount, maximumAmount)',
        'line 11: price #3 (calls) price.amount: "-1" is not a decimal amount such as "2.50" (digits, optional fraction, not negative)',
        'line 11: price #3 (calls) price.quantityPerPackage: must be above 0',
        'line 15: price #4 (calls) price.mode: "stairs" is not graduated or volume',
        "line 18: price #4 (calls) price.tiers[2].upToAmount: 50 is not above the previous tier's 100",
        'line 19: price #4 (calls) price.tiers[3].upToAmount: the last tier must be open-ended (no upToAmount), so every quantity has a tier',
        'line 19: price #4 (calls) price.tiers[3]: needs a unitPrice, a flatPrice or both',
      ],
    );
  });

  test('commitments have at most the currency minor digits; minimum not above maximum', () => {
    assert.deepEqual(
      problems(`currency: JPY
prices:
  - meter: calls
    price: { type: unit, amount: "0.5" }
    minimumAmount: "10.5"
    maximumAmount: "5"
`),
      [
        "line 5: price #1 (calls) minimumAmount: has more decimals than the currency's 0",
        'line 5: price #1 (calls) minimumAmount: 10.5 is above maximumAmount 5',
      ],
    );
  });

  test('an unknown field of a unitPrice or flatPrice is an error, not ignored (found by adversarial testing)', () => {
    // Ignored, `per` inside unitPrice billed 1 per token instead of 1 per 1,000.
    assert.deepEqual(
      problems(`currency: USD
prices:
  - meter: calls
    price:
      type: tiered
      mode: graduated
      tiers:
        - { upToAmount: "10", unitPrice: { amount: "1", per: 1000 } }
        - { flatPrice: { amount: "2", currency: EUR } }
`),
      [
        'line 8: price #1 (calls) price.tiers[1].unitPrice.per: unknown field (a unitPrice has only amount; per belongs to the price)',
        'line 9: price #1 (calls) price.tiers[2].flatPrice.currency: unknown field (a flatPrice has only amount)',
      ],
    );
  });

  test('an amount or a per written as a YAML number: the string to write has the digits as written', () => {
    const one = (price: string) => problems(`currency: USD\nprices:\n  - {meter: calls, price: ${price}}\n`);
    const amount = (s: string) =>
      `line 3: price #1 (calls) price.amount: write the amount as a string ("${s}"): YAML reads a number as a binary float`;
    // The double has other digits (12345678901234567000, 0.12345678901234568), or an exponent form (1e-7).
    assert.deepEqual(one('{type: unit, amount: 12345678901234567890}'), [amount('12345678901234567890')]);
    assert.deepEqual(one('{type: unit, amount: 0.1234567890123456789}'), [amount('0.1234567890123456789')]);
    assert.deepEqual(one('{type: unit, amount: 0.0000001}'), [amount('0.0000001')]);
    assert.deepEqual(one('{type: unit, amount: 1e-7}'), [amount('0.0000001')]);
    // What is no amount at all is named so, not turned into a string that is refused in turn.
    for (const [written, shown] of [
      ['.inf', '.inf'],
      ['.nan', '.nan'],
      ['-2.5', '-2.5'],
    ])
      assert.deepEqual(one(`{type: unit, amount: ${written}}`), [
        `line 3: price #1 (calls) price.amount: ${shown} is not a decimal amount such as "2.50"`,
      ]);
    assert.deepEqual(one('{type: unit, amount: "1", per: 1e200}'), [
      'line 3: price #1 (calls) price.per: a per of 201 digits is not read (at most 100)',
    ]);
    // An unknown field left empty is named once, as unknown.
    assert.deepEqual(one('{type: unit, amount: "1", foo: }'), [
      'line 3: price #1 (calls) price.foo: not a field of a unit price (type, amount, per)',
    ]);
    assert.deepEqual(one('{type: unit, amount: "1", per: 1e20}'), [
      'line 3: price #1 (calls) price.per: write a per past 2^53 as a string ("100000000000000000000"): YAML reads a number as a binary float',
    ]);
    assert.deepEqual(one('{type: unit, amount: "1", per: 1152921504606846976}'), [
      'line 3: price #1 (calls) price.per: write a per past 2^53 as a string ("1152921504606846976"): YAML reads a number as a binary float',
    ]);
    assert.equal(
      parsePriceFile(
        'currency: USD\nprices:\n  - {meter: calls, price: {type: unit, amount: "1", per: "1152921504606846976"}}\n',
        'p.yaml',
        METERS,
      ).prices.length,
      1,
    );
  });

  test('a field written without a value (YAML null) is refused, never read as absent; a value of the wrong kind is named', () => {
    // An empty per billed per unit (1,000,000 times the price), an empty minimumAmount dropped the commitment.
    assert.deepEqual(
      problems(`currency: USD
prices:
  - meter: calls
    price:
      type: tiered
      mode: graduated
      per:
      tiers:
        - { upToAmount: "10", unitPrice: { amount: "1" }, flatPrice: }
        - { unitPrice: }
    minimumAmount:
    maximumAmount:
  - meter:
    price:
  - { meter: 5, price: "1" }
  - { meter: calls, price: [unit] }
`),
      [
        'line 10: price #1 (calls) price.tiers[2]: needs a unitPrice, a flatPrice or both',
        'line 7: price #1 (calls) price.per: empty: give a value, or remove the line',
        'line 9: price #1 (calls) price.tiers[1].flatPrice: empty: give a value, or remove the line',
        'line 10: price #1 (calls) price.tiers[2].unitPrice: empty: give a value, or remove the line',
        'line 11: price #1 (calls) minimumAmount: empty: give a value, or remove the line',
        'line 12: price #1 (calls) maximumAmount: empty: give a value, or remove the line',
        'line 13: price #2 (?) meter: empty: give a value, or remove the line',
        'line 14: price #2 (?) price: empty: give a value, or remove the line',
        'line 15: price #3 (?) meter: must be the slug of a meter of the config, not a number',
        'line 15: price #3 (?) price: must be a mapping with type: unit, tiered, package or flat, not text',
        'line 16: price #4 (calls) price: must be a mapping with type: unit, tiered, package or flat, not a list',
      ],
    );
  });

  test('not YAML, not a mapping, no prices', () => {
    assert.match(problems('a: [')[0]!, /^not valid YAML: .* at line \d+, column \d+$/);
    assert.deepEqual(problems('currency: USD\n---\ncurrency: JPY\n'), [
      'not valid YAML: a second YAML document starts at line 2; a file holds one',
    ]);
    assert.deepEqual(problems('- 1'), ['must be a mapping with currency: and prices:']);
    assert.deepEqual(problems('currency: USD'), ['prices: must be a non-empty list']);
  });

  test('a currency that is a number, a null match, amounts too long to be prices: each named', () => {
    assert.deepEqual(
      problems(`currency: 978
prices:
  - meter: input_tokens
    match: { model: }
    price: { type: unit, amount: "${'1'.repeat(101)}", per: "1${'0'.repeat(100)}" }
`),
      [
        'line 1: currency: must be an ISO 4217 code such as USD, EUR, JPY, not a number',
        'line 4: price #1 (input_tokens model=null) match.model: must be a string: write "" for the usage whose group value is missing or null',
        'line 5: price #1 (input_tokens model=null) price.per: a per of 101 characters is not read (at most 100)',
        'line 5: price #1 (input_tokens model=null) price.amount: an amount of 101 characters is not read (at most 100)',
      ],
    );
  });
});

describe('invoicePeriod', () => {
  test('a month in Europe/Budapest, December rolling over, --from/--to', () => {
    const iso = (p: { fromMs: number; toMs: number }) => [new Date(p.fromMs).toISOString(), new Date(p.toMs).toISOString()];
    assert.deepEqual(iso(invoicePeriod({ period: '2026-11' }, 'Europe/Budapest')), [
      '2026-10-31T23:00:00.000Z',
      '2026-11-30T23:00:00.000Z',
    ]);
    assert.deepEqual(iso(invoicePeriod({ period: '2026-12' }, 'UTC')), ['2026-12-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z']);
    assert.deepEqual(iso(invoicePeriod({ from: '2026-11-01', to: '2026-11-16T12:00:00Z' }, 'UTC')), [
      '2026-11-01T00:00:00.000Z',
      '2026-11-16T12:00:00.000Z',
    ]);
  });
  test('usage errors', () => {
    for (const o of [
      { period: '2026-13' },
      { period: '2026-1' },
      { period: '2026-11', from: '2026-11-01' },
      {},
      { from: '2026-11-01' },
      { from: '2026-11-02', to: '2026-11-01' },
    ]) {
      assert.throws(() => invoicePeriod(o, 'UTC'), UsageError, JSON.stringify(o));
    }
  });
});

interface FakeEvent {
  subject: string;
  type: string;
  timeMs: number;
  data: Record<string, string | number>;
}

/** A Store with only `aggregate`, for SUM, COUNT and MAX over a list of events (group values as text). */
function fakeStore(events: FakeEvent[]): Store {
  return {
    location: 'memory',
    needsFingerprints: false,
    async *aggregate(q: MeterQuery): AsyncGenerator<AggregateRow> {
      const rows = new Map<string, AggregateRow & { acc: Decimal | null }>();
      for (const e of events) {
        if (e.type !== q.meter.eventType || (q.fromMs !== undefined && e.timeMs < q.fromMs) || (q.toMs !== undefined && e.timeMs >= q.toMs))
          continue;
        if (q.subjects.length && !q.subjects.includes(e.subject)) continue;
        const text = (d: { key: string }) => String(e.data[q.meter.groupBy.find((g) => g.key === d.key)!.path.slice(2)] ?? '');
        if (!q.filters.every((f) => f.values.includes(text(f.dimension)))) continue;
        const groups = q.groupBy.map(text);
        const key = JSON.stringify([e.subject, groups]);
        const v =
          q.meter.valueProperty === undefined ? Decimal.parse('1')! : Decimal.parse(String(e.data[q.meter.valueProperty.slice(2)]))!;
        const row = rows.get(key) ?? {
          windowStart: null,
          subject: e.subject,
          groups,
          value: null,
          acc: null,
          firstMs: e.timeMs,
          lastMs: e.timeMs,
        };
        row.acc = row.acc === null ? v : q.meter.aggregation === 'MAX' ? (v.compare(row.acc) > 0 ? v : row.acc) : row.acc.add(v);
        rows.set(key, row);
      }
      for (const key of [...rows.keys()].sort()) {
        const { acc, ...row } = rows.get(key)!;
        yield { ...row, value: acc!.toString() };
      }
    },
  } as unknown as Store;
}

const T = Date.parse('2026-11-10T00:00:00Z');
const ev = (subject: string, type: string, data: Record<string, string | number>, timeMs = T): FakeEvent => ({
  subject,
  type,
  timeMs,
  data,
});

async function rendered(result: InvoiceResult, format: 'csv' | 'json' | 'table'): Promise<string> {
  let out = '';
  const sink = new Sink(new Writable({ write: (chunk, _enc, done) => ((out += chunk.toString()), done()) }));
  if (format === 'csv') await renderInvoiceCsv(result, sink);
  else if (format === 'json') await renderInvoiceJson(result, sink);
  else await renderInvoiceTable(result, sink, false);
  await sink.close();
  return out;
}

const invoice = (store: Store, yaml: string, subjects: string[] = []) =>
  buildInvoices(store, { meters: METERS, prices: parsePriceFile(yaml, 'prices.yaml', METERS), period: '2026-11', tz: 'UTC', subjects });

describe('buildInvoices', () => {
  test('a row matched by two prices is a price-file error naming both', async () => {
    const store = fakeStore([ev('acme', 'prompt', { input: 5, model: 'gpt-4o', tier: 'flex' })]);
    await assert.rejects(
      invoice(
        store,
        `currency: USD
prices:
  - { meter: input_tokens, match: { model: gpt-4o }, price: { type: unit, amount: "1" } }
  - { meter: input_tokens, match: { tier: flex }, price: { type: unit, amount: "2" } }
`,
      ),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.deepEqual(e.problems, [
          'usage of "acme" on input_tokens model=gpt-4o tier=flex is matched by price #1 (input_tokens model=gpt-4o) and price #2 (input_tokens tier=flex): narrow their match so each usage row has one price',
        ]);
        return true;
      },
    );
  });

  test('usage no price matches is an unpriced line with its quantity, counted, not in the total', async () => {
    const store = fakeStore([
      ev('acme', 'prompt', { input: 1000000, model: 'gpt-4o', tier: 'default' }),
      ev('acme', 'prompt', { input: 500000, model: 'gpt-4o', tier: 'flex' }),
      ev('acme', 'prompt', { input: 7, model: 'o9-preview', tier: 'default' }),
    ]);
    const r = await invoice(
      store,
      `currency: USD
prices:
  - { meter: input_tokens, match: { model: gpt-4o }, price: { type: unit, amount: "2.50", per: 1000000 } }
`,
    );
    assert.equal(r.unpriced, 1);
    assert.equal(
      await rendered(r, 'csv'),
      'customer,period_start,period_end,meter,group,line_type,tier,quantity,unit_amount,per,amount_exact,amount,currency\n' +
        'acme,2026-11-01T00:00:00Z,2026-12-01T00:00:00Z,input_tokens,model=gpt-4o,usage,,1500000,2.50,1000000,3.75,3.75,USD\n' +
        'acme,2026-11-01T00:00:00Z,2026-12-01T00:00:00Z,input_tokens,model=o9-preview;tier=default,unpriced,,7,,,,,USD\n',
    );
    assert.equal(r.invoices[0]!.total, '3.75');
  });

  test('a MAX meter is priced on the maximum over the period, not the sum of its groups; flat prices cover usage', async () => {
    const store = fakeStore([
      ev('acme', 'seat', { seats: 10, plan: 'team' }),
      ev('acme', 'seat', { seats: 12, plan: 'team' }, T + 1000),
      ev('acme', 'seat', { seats: 3, plan: 'pro' }),
      ev('globex', 'prompt', { input: 1, model: 'x', tier: '' }),
    ]);
    const r = await invoice(
      store,
      `currency: EUR
prices:
  - { meter: seats, price: { type: unit, amount: "4" }, minimumAmount: "50" }
  - { meter: calls, price: { type: flat, amount: "49.999" } }
`,
    );
    assert.equal(r.unpriced, 0);
    assert.deepEqual(JSON.parse(await rendered(r, 'json')), {
      currency: 'EUR',
      period: { from: '2026-11-01T00:00:00Z', to: '2026-12-01T00:00:00Z', timeZone: 'UTC' },
      invoices: [
        {
          customer: 'acme',
          lines: [
            {
              meter: 'seats',
              description: null,
              group: {},
              lineType: 'usage',
              tier: null,
              quantity: '12',
              unitAmount: '4.00',
              per: '1',
              amountExact: '48.00',
              amount: '48.00',
            },
            {
              meter: 'seats',
              description: null,
              group: {},
              lineType: 'minimum',
              tier: null,
              quantity: null,
              unitAmount: '50.00',
              per: null,
              amountExact: '2.00',
              amount: '2.00',
            },
          ],
          total: '50.00',
        },
        {
          customer: 'globex',
          lines: [
            {
              meter: 'calls',
              description: null,
              group: {},
              lineType: 'flat',
              tier: null,
              quantity: '1',
              unitAmount: '49.999',
              per: null,
              amountExact: '49.999',
              amount: '50.00',
            },
          ],
          total: '50.00',
        },
      ],
    });
  });
});

describe('property: totals are the sum of the lines; the same store and prices give the same bytes', () => {
  const seed = Number(process.env.METER_TEST_SEED ?? Date.now() % 1_000_000);
  test(`30 random stores and price files (seed ${seed}; rerun with METER_TEST_SEED=${seed})`, async () => {
    const random = rng(seed);
    const int = (n: number) => Math.floor(random() * n);
    const models = ['a', 'b', 'c', 'd'];
    for (let round = 0; round < 30; round++) {
      const events: FakeEvent[] = [];
      for (let i = 0; i < 200; i++) {
        events.push(
          ev(
            `c${int(8)}`,
            'prompt',
            { input: `${int(100000)}.${int(1000)}`, model: models[int(4)]!, tier: int(2) ? 'default' : 'flex' },
            T + int(1e9),
          ),
        );
      }
      const amount = () => `"${int(20)}.${String(int(100000)).padStart(5, '0')}"`;
      const priceOf = (): string => {
        switch (int(3)) {
          case 0:
            return `{ type: unit, amount: ${amount()}, per: 1000 }`;
          case 1:
            return `{ type: package, amount: ${amount()}, quantityPerPackage: "${1 + int(50000)}" }`;
          default: {
            const b1 = 1 + int(100000);
            return `{ type: tiered, mode: ${int(2) ? 'graduated' : 'volume'}, per: 1000, tiers: [{ upToAmount: "${b1}", unitPrice: { amount: ${amount()} }, flatPrice: { amount: ${amount()} } }, { upToAmount: "${b1 + 1 + int(100000)}", unitPrice: { amount: ${amount()} } }, { unitPrice: { amount: ${amount()} }, flatPrice: { amount: ${amount()} } }] }`;
          }
        }
      };
      const yaml =
        `currency: ${['USD', 'JPY', 'KWD'][int(3)]}\nprices:\n` +
        models
          .slice(0, 3)
          .map(
            (m) =>
              `  - { meter: input_tokens, match: { model: ${m} }, price: ${priceOf()}${int(3) === 0 ? ', minimumAmount: "100"' : ''}${int(3) === 0 ? ', maximumAmount: "300"' : ''} }\n`,
          )
          .join('');
      const store = fakeStore(events);
      const r = await invoice(store, yaml);
      const where = `seed ${seed} round ${round}:\n${yaml}`;
      assert.ok(r.unpriced > 0, where); // model d has no price
      for (const inv of r.invoices) {
        const sum = inv.lines.reduce((s, l) => (l.amount === null ? s : s.add(Decimal.parse(l.amount)!)), Decimal.ZERO);
        assert.equal(Decimal.parse(inv.total)!.compare(sum), 0, where);
        for (const l of inv.lines) {
          if (l.amount === null) continue;
          assert.equal(Decimal.parse(l.amount)!.compare(Decimal.parse(l.amountExact!)!.round(r.digits)), 0, where);
          assert.equal(l.amount.split('.')[1]?.length ?? 0, r.digits, where);
        }
      }
      const again = await invoice(store, yaml);
      for (const format of ['csv', 'json', 'table'] as const) assert.equal(await rendered(again, format), await rendered(r, format), where);
    }
  });
});

describe('PriceMatcher', () => {
  test('finds the prices of a row as testing every price does, in the price file order (seeded)', () => {
    const seed = runSeed();
    const r = new Rng(seed);
    const keys = ['model', 'region', 'tier'];
    const values = ['', 'a', 'b', 'c"', '["a"]'];
    for (let round = 0; round < 200; round++) {
      const prices = Array.from({ length: r.int(0, 30) }, (_, i) => {
        // A subset of the keys, in any order, each with a value.
        const match = keys.filter(() => r.chance(0.5)).map((k): [string, string] => [k, r.pick(values)]);
        if (r.chance(0.5)) match.reverse();
        return { index: i + 1, match } as unknown as Price;
      });
      const matcher = new PriceMatcher(prices, keys);
      for (let k = 0; k < 20; k++) {
        const groups = keys.map(() => r.pick(values));
        const expected = prices.filter((p) => p.match.every(([key, v]) => groups[keys.indexOf(key)] === v));
        assert.deepEqual(matcher.of(groups), expected, `seed ${seed}, round ${round}, groups ${JSON.stringify(groups)}`);
      }
    }
  });
});
