/**
 * End to end: a small log ingested, then the real bin/meter invoicing November 2026 in Europe/Budapest, with
 * events exactly on the period's edges (an event at the start counts, one at the end does not). Checks stdout,
 * stderr and the exit code for table, CSV and JSON, identical bytes on a second run and on ClickHouse, and that
 * the quantities are what `meter query` gives.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { CH_HTTP, useClickHouse } from './clickhouse-server.js';
import { line, workdirs, type Workdir } from './helpers.js';
import { CALLS, meterConfig, TOKENS } from './fixtures.js';

const workdir = workdirs();

const METERS = meterConfig(TOKENS, CALLS);

const PRICES = `currency: USD
prices:
  - meter: tokens
    match: { model: gpt-4o }
    description: GPT-4o tokens
    price: { type: unit, amount: "2.50", per: 1000 }
  - meter: tokens
    match: { model: gpt-4.1 }
    price:
      type: tiered
      mode: graduated
      per: 1000
      tiers:
        - { upToAmount: "1000", unitPrice: { amount: "1.00" } }
        - { unitPrice: { amount: "0.50" }, flatPrice: { amount: "0.25" } }
  - meter: calls
    price: { type: package, amount: "0.10", quantityPerPackage: "2" }
`;

const ev = (id: string, subject: string, time: string, model: string, tokens: number) =>
  line({ id, subject, time, data: { model, tokens } });

// November 2026 in Europe/Budapest (CET, +01:00): [2026-10-31T23:00:00Z, 2026-11-30T23:00:00Z).
const EVENTS = [
  ev('before', 'acme', '2026-10-31T22:59:59.999Z', 'gpt-4o', 100000),
  ev('start', 'acme', '2026-10-31T23:00:00Z', 'gpt-4o', 1000),
  ev('last', 'acme', '2026-11-30T22:59:59.999Z', 'gpt-4.1', 1500),
  ev('end', 'acme', '2026-11-30T23:00:00Z', 'gpt-4o', 100000),
  ev('new-model', 'acme', '2026-11-15T12:00:00+01:00', 'o3-mini', 7),
  ev('g1', 'globex', '2026-11-10T10:00:00Z', 'gpt-4o', 2),
];

const P = '2026-11-01T00:00:00+01:00,2026-12-01T00:00:00+01:00';
const CSV =
  [
    'customer,period_start,period_end,meter,group,line_type,tier,quantity,unit_amount,per,amount_exact,amount,currency',
    `acme,${P},tokens,model=gpt-4o,usage,,1000,2.50,1000,2.50,2.50,USD`,
    `acme,${P},tokens,model=gpt-4.1,usage,1,1000,1.00,1000,1.00,1.00,USD`,
    `acme,${P},tokens,model=gpt-4.1,usage,2,500,0.50,1000,0.25,0.25,USD`,
    `acme,${P},tokens,model=gpt-4.1,flat,2,,0.25,,0.25,0.25,USD`,
    `acme,${P},calls,,usage,,3,0.10,2,0.20,0.20,USD`,
    `acme,${P},tokens,model=o3-mini,unpriced,,7,,,,,USD`,
    `globex,${P},tokens,model=gpt-4o,usage,,2,2.50,1000,0.005,0.01,USD`,
    `globex,${P},calls,,usage,,1,0.10,2,0.10,0.10,USD`,
  ].join('\n') + '\n';

const WARNING = 'meter: warning: 1 usage row of priced meters match no price: printed as unpriced lines, not billed; add prices for them\n';

function setup(name: string, db = 'meter.db'): Workdir {
  const w = workdir(name);
  w.write('meter.yaml', METERS);
  w.write('prices.yaml', PRICES);
  w.write('events.ndjson', EVENTS);
  const r = w.run(['ingest', '--db', db, 'events.ndjson', '--quiet']);
  assert.equal(r.code, 0, r.describe());
  return w;
}

const invoiceArgs = (format: string, db = 'meter.db') => [
  'invoice',
  '--db',
  db,
  '--prices',
  'prices.yaml',
  '--period',
  '2026-11',
  '--tz',
  'Europe/Budapest',
  '--format',
  format,
];

describe('meter invoice end to end (SQLite)', () => {
  let w: Workdir;
  before(() => (w = setup('invoice')));

  test('CSV: the period edges, every line type, unpriced usage with a warning and exit 3', () => {
    const r = w.run(invoiceArgs('csv'));
    assert.equal(r.stdout, CSV, r.describe());
    assert.equal(r.stderr, WARNING, r.describe());
    assert.equal(r.code, 3, r.describe());
  });

  test('the same store and price file give identical bytes, in every format', () => {
    for (const format of ['csv', 'json', 'table']) {
      const a = w.run(invoiceArgs(format)),
        b = w.run(invoiceArgs(format));
      assert.equal(a.stdout, b.stdout, a.describe());
      assert.ok(a.stdout.length > 100, a.describe());
    }
  });

  test('JSON: the issue shape, amounts as exact decimal strings', () => {
    const r = w.run(invoiceArgs('json'));
    assert.equal(r.code, 3, r.describe());
    const doc = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(doc), ['currency', 'period', 'invoices']);
    assert.deepEqual(doc.period, { from: '2026-11-01T00:00:00+01:00', to: '2026-12-01T00:00:00+01:00', timeZone: 'Europe/Budapest' });
    assert.deepEqual(
      doc.invoices.map((i: { customer: string; total: string }) => [i.customer, i.total]),
      [
        ['acme', '4.20'],
        ['globex', '0.11'],
      ],
    );
    assert.deepEqual(doc.invoices[0].lines[0], {
      meter: 'tokens',
      description: 'GPT-4o tokens',
      group: { model: 'gpt-4o' },
      lineType: 'usage',
      tier: null,
      quantity: '1000',
      unitAmount: '2.50',
      per: '1000',
      amountExact: '2.50',
      amount: '2.50',
    });
    assert.deepEqual(doc.invoices[0].lines[5], {
      meter: 'tokens',
      description: null,
      group: { model: 'o3-mini' },
      lineType: 'unpriced',
      tier: null,
      quantity: '7',
      unitAmount: null,
      per: null,
      amountExact: null,
      amount: null,
    });
  });

  test('a sum of 0 no price matches is no unpriced line; a ; or \\ in a group value is escaped, so groups never read alike', () => {
    const z = workdir('invoice-zero');
    z.write('meter.yaml', METERS);
    z.write('prices.yaml', PRICES);
    z.write('events.ndjson', [
      ev('free', 'acme', '2026-11-16T12:00:00Z', 'free-model', 0),
      ev('semi', 'acme', '2026-11-16T12:00:00Z', 'a;b=c\\', 4),
      ev('plain', 'acme', '2026-11-16T12:00:00Z', 'a', 5),
    ]);
    assert.equal(z.run(['ingest', 'events.ndjson', '--quiet']).code, 0);
    const r = z.run(invoiceArgs('csv'));
    assert.equal(r.code, 3, r.describe());
    assert.equal(
      r.stderr,
      'meter: warning: 2 usage rows of priced meters match no price: printed as unpriced lines, not billed; add prices for them\n',
    );
    assert.deepEqual(r.stdout.trimEnd().split('\n').slice(1), [
      `acme,${P},calls,,usage,,3,0.10,2,0.20,0.20,USD`,
      `acme,${P},tokens,model=a,unpriced,,5,,,,,USD`,
      `acme,${P},tokens,model=a\\;b=c\\\\,unpriced,,4,,,,,USD`,
    ]);
    // A customer named with -s who has nothing to invoice is said to have none.
    const named = z.run([...invoiceArgs('csv'), '-s', 'acme', '-s', 'nobody', '-s', 'x\u202ey']);
    assert.equal(named.code, 3, named.describe());
    assert.match(named.stderr, /^meter: no invoice for "nobody", "x\\u202ey": no usage of a priced meter in the period\n/);
  });

  test('a meter of the config that no price names is not invoiced, and a note on stderr names it (exit 0)', () => {
    const z = workdir('invoice-unnamed');
    z.write('meter.yaml', METERS);
    // Prices for tokens only: calls, with usage, is on no invoice.
    z.write('prices.yaml', PRICES.slice(0, PRICES.indexOf('  - meter: calls')));
    z.write('events.ndjson', EVENTS);
    assert.equal(z.run(['ingest', 'events.ndjson', '--quiet']).code, 0);
    const r = z.run([...invoiceArgs('csv'), '-s', 'globex']);
    assert.equal(r.code, 0, r.describe());
    assert.equal(r.stderr, 'meter: note: no price names meter calls: its usage is on no invoice\n');
    assert.deepEqual(r.stdout.trimEnd().split('\n').slice(1), [`globex,${P},tokens,model=gpt-4o,usage,,2,2.50,1000,0.005,0.01,USD`]);
  });

  test('table: one block per customer, lines then the total', () => {
    const r = w.run([...invoiceArgs('table'), '-s', 'globex']);
    assert.equal(r.code, 0, r.describe());
    assert.equal(r.stderr, '', r.describe());
    assert.equal(
      r.stdout,
      [
        'globex · 2026-11-01T00:00:00+01:00 to 2026-12-01T00:00:00+01:00 (Europe/Budapest)',
        '┌────────┬──────────────┬───────────────┬───────┬──────┬──────────┬─────────────┬──────┬──────────┐',
        '│ meter  │ group        │ description   │ line  │ tier │ quantity │ unit_amount │  per │   amount │',
        '│ tokens │ model=gpt-4o │ GPT-4o tokens │ usage │      │        2 │        2.50 │ 1000 │     0.01 │',
        '│ calls  │              │               │ usage │      │        1 │        0.10 │    2 │     0.10 │',
        '│ total  │              │               │       │      │          │             │      │ 0.11 USD │',
        '└────────┴──────────────┴───────────────┴───────┴──────┴──────────┴─────────────┴──────┴──────────┘',
        '',
        '1 invoice · USD',
        '',
      ].join('\n'),
    );
  });

  test('quantities are what meter query gives for the period', () => {
    const q = w.run([
      'query',
      '-m',
      'tokens',
      '-g',
      'model',
      '--tz',
      'Europe/Budapest',
      '--from',
      '2026-11-01',
      '--to',
      '2026-12-01',
      '--format',
      'csv',
    ]);
    assert.equal(q.code, 0, q.describe());
    assert.deepEqual(
      q.stdout
        .trimEnd()
        .split('\n')
        .slice(1)
        .map((l) => l.split(',').slice(2).join(',')),
      ['acme,gpt-4.1,1500', 'acme,gpt-4o,1000', 'acme,o3-mini,7', 'globex,gpt-4o,2'],
    );
  });

  test('-o writes the file; --from/--to work like --period', () => {
    const r = w.run([
      'invoice',
      '--prices',
      'prices.yaml',
      '--from',
      '2026-11-01',
      '--to',
      '2026-12-01',
      '--tz',
      'Europe/Budapest',
      '--format',
      'csv',
      '-o',
      'inv.csv',
    ]);
    assert.equal(r.code, 3, r.describe());
    assert.equal(r.stdout, '', r.describe());
    assert.equal(w.read('inv.csv'), CSV);
  });

  test('a usage row matched by two prices: exit 2 naming both, nothing on stdout', () => {
    w.write('overlap.yaml', PRICES + '  - { meter: tokens, price: { type: unit, amount: "1" } }\n');
    const r = w.run(['invoice', '--prices', 'overlap.yaml', '--period', '2026-11', '--tz', 'Europe/Budapest']);
    assert.equal(r.code, 2, r.describe());
    assert.equal(r.stdout, '', r.describe());
    assert.equal(
      r.stderr,
      'meter: invalid price file overlap.yaml:\n' +
        '  usage of "acme" on tokens model=gpt-4.1 is matched by price #2 (tokens model=gpt-4.1) and price #4 (tokens): narrow their match so each usage row has one price\n' +
        '  usage of "acme" on tokens model=gpt-4o is matched by price #1 (tokens model=gpt-4o) and price #4 (tokens): narrow their match so each usage row has one price\n',
    );
    // A run that fails before it has output leaves the -o file of an earlier run as it was.
    w.write('last.csv', 'the invoices of last month\n');
    for (const args of [
      ['--prices', 'overlap.yaml', '--period', '2026-11'],
      ['--prices', 'prices.yaml', '--period', '2026-11', '--tz', 'europe/budapest'],
    ]) {
      const again = w.run(['invoice', ...args, '--format', 'csv', '-o', 'last.csv']);
      assert.equal(again.code, 2, again.describe());
      assert.equal(w.read('last.csv'), 'the invoices of last month\n');
    }
  });

  test('an invalid price file: exit 2 before the store is read, with every problem', () => {
    w.write('bad.yaml', 'currency: EURO\nprices:\n  - { meter: tokens, price: { type: unit, amount: 0.1 } }\n');
    const r = w.run(['invoice', '--db', 'missing/dir/x.db', '--prices', 'bad.yaml', '--period', '2026-11']);
    assert.equal(r.code, 2, r.describe());
    assert.equal(
      r.stderr,
      'meter: invalid price file bad.yaml:\n' +
        '  line 1: currency: "EURO" is not an ISO 4217 currency code (USD, EUR, JPY, KWD...)\n' +
        '  line 3: price #1 (tokens) price.amount: write the amount as a string ("0.1"): YAML reads a number as a binary float\n',
    );
  });

  test('usage errors: no period, a bad month, a missing price file', () => {
    for (const args of [
      ['--prices', 'prices.yaml'],
      ['--prices', 'prices.yaml', '--period', '2026-13'],
      ['--prices', 'nope.yaml', '--period', '2026-11'],
      ['--period', '2026-11'],
    ]) {
      const r = w.run(['invoice', ...args]);
      assert.equal(r.code, 2, r.describe());
      assert.equal(r.stdout, '', r.describe());
    }
    // A price file that never ends, or is not UTF-8, is refused, never read without end or with U+FFFD.
    const endless = w.run(['invoice', '--prices', '/dev/zero', '--period', '2026-11']);
    assert.equal(endless.code, 2, endless.describe());
    assert.match(endless.stderr, /^meter: \/dev\/zero: a price file of more than 16 MiB is not read\n$/);
    fs.writeFileSync(w.path('latin1.yaml'), Buffer.from([...Buffer.from('currency: USD\n# caf'), 0xe9, 0x0a]));
    const latin1 = w.run(['invoice', '--prices', 'latin1.yaml', '--period', '2026-11']);
    assert.equal(latin1.code, 2, latin1.describe());
    assert.match(latin1.stderr, /latin1\.yaml: price file is not UTF-8 text/);
    // The first month of year 0000 east of UTC starts before any instant RFC 3339 can write: no usage, no error.
    const first = w.run(['invoice', '--prices', 'prices.yaml', '--period', '0000-01', '--tz', 'Europe/Budapest']);
    assert.equal(first.code, 0, first.describe());
    assert.match(first.stdout + first.stderr, /no usage of a priced meter from 0000-01-01T00:00:00\+01:16/);
  });

  test('--help has examples', () => {
    const r = w.run(['invoice', '--help']);
    assert.equal(r.code, 0, r.describe());
    assert.match(
      r.stdout,
      /Examples:\n {2}meter invoice --config examples\/invoice-meters.yaml --prices examples\/prices.yaml --period 2026-10/,
    );
  });
});

describe('meter invoice with hostile subjects (found by adversarial testing)', () => {
  const hostile = (id: string, subject: string) => ev(id, subject, '2026-11-02T00:00:00Z', 'gpt-4o', 1000);

  test("the table's customer heading shows control and format characters as escapes", () => {
    const w = workdir('invoice-hostile');
    w.write('meter.yaml', METERS);
    w.write('prices.yaml', PRICES);
    // A newline, an escape sequence that would clear the terminal, and a right-to-left override.
    w.write('events.ndjson', [hostile('h1', 'evil\u001b[2J\nglobex · forged\u202e')]);
    assert.equal(w.run(['ingest', 'events.ndjson', '--quiet']).code, 0);
    const r = w.run(['invoice', '--prices', 'prices.yaml', '--period', '2026-11']);
    assert.equal(r.code, 0, r.describe());
    assert.equal(
      r.stdout.split('\n')[0],
      'evil\\u001b[2J\\u000aglobex · forged\\u202e · 2026-11-01T00:00:00Z to 2026-12-01T00:00:00Z (UTC)',
    );
    assert.doesNotMatch(r.stdout, /[\u001b\u202e]/);
  });

  test('a price-file error quoting event data shows its control and format characters as escapes', () => {
    const w = workdir('invoice-hostile-error');
    w.write('meter.yaml', METERS);
    w.write('prices.yaml', [
      'currency: USD',
      'prices:',
      '  - { meter: tokens, price: { type: unit, amount: "1" } }',
      '  - { meter: tokens, price: { type: unit, amount: "2" } }',
    ]);
    w.write('events.ndjson', [ev('e1', 'acme\u202e', '2026-11-02T00:00:00Z', 'gpt-4o\u001b[2J\n  forged line', 1)]);
    assert.equal(w.run(['ingest', 'events.ndjson', '--quiet']).code, 0);
    const r = w.run(['invoice', '--prices', 'prices.yaml', '--period', '2026-11']);
    assert.equal(r.code, 2, r.describe());
    assert.equal(
      r.stderr,
      'meter: invalid price file prices.yaml:\n' +
        '  usage of "acme\\u202e" on tokens model=gpt-4o\\u001b[2J\\u000a  forged line is matched by price #1 (tokens) and price #2 (tokens): narrow their match so each usage row has one price\n',
    );
  });

  test('customers are in the subject order of meter query (code points), also past U+FFFF', () => {
    const w = workdir('invoice-order');
    w.write('meter.yaml', METERS);
    w.write('prices.yaml', PRICES);
    // UTF-16 puts the emoji's surrogates (U+D83D) before U+FF01; UTF-8 and the stores put U+FF01 first.
    w.write('events.ndjson', [hostile('o1', '\u{1F600}emoji'), hostile('o2', '\uFF01full'), hostile('o3', 'b')]);
    assert.equal(w.run(['ingest', 'events.ndjson', '--quiet']).code, 0);
    const customers = (args: string[], column: number) =>
      w
        .run(args)
        .stdout.trimEnd()
        .split('\n')
        .slice(1)
        .map((l) => l.split(',')[column]);
    const order = customers(['query', '-m', 'tokens', '--from', '2026-11-01', '--to', '2026-12-01', '--format', 'csv'], 2);
    assert.deepEqual(order, ['b', '\uFF01full', '\u{1F600}emoji']);
    // Two lines per customer (tokens and calls), in blocks.
    const invoiced = customers(['invoice', '--prices', 'prices.yaml', '--period', '2026-11', '--format', 'csv'], 0);
    assert.deepEqual([...new Set(invoiced)], order);
    assert.deepEqual(
      invoiced,
      [...order, ...order].sort((a, b) => order.indexOf(a) - order.indexOf(b)),
    );
  });
});

describe('meter invoice on ClickHouse gives the same bytes', () => {
  const database = `meter_test_invoice_${randomBytes(4).toString('hex')}`;
  after(async () => {
    await fetch(`${CH_HTTP}/`, { method: 'POST', body: `DROP DATABASE IF EXISTS ${database}` }).catch(() => {});
  });
  // Registered after the hook above, so that a server the tests started stops after the database is dropped.
  useClickHouse();
  test('CSV and JSON as on SQLite', () => {
    const url = `clickhouse://127.0.0.1:${new URL(CH_HTTP).port}/${database}`;
    const w = setup('invoice-ch', url);
    const r = w.run(invoiceArgs('csv', url));
    assert.equal(r.stdout, CSV, r.describe());
    assert.equal(r.stderr, WARNING, r.describe());
    assert.equal(r.code, 3, r.describe());
    const sqlite = setup('invoice-ch-sqlite');
    assert.equal(w.run(invoiceArgs('json', url)).stdout, sqlite.run(invoiceArgs('json')).stdout);
  });
});
