/**
 * End to end: events ingested, then the real bin/meter writing reports, each opened from disk in headless Chromium.
 * Every chart must have drawn (a canvas with its bars' colour in it), with no console error and no request for
 * anything but the file; the numbers in the tables and the tooltip must be meter query's (and meter invoice's) for
 * the same range, digit for digit. Screenshots are kept as artifacts: the test prints where.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { reportShell } from '../src/output/report-html.js';
import { Browser, type OpenedPage } from './browser.js';
import { startServe, stopAll } from './serve-helpers.js';
import { CH_HTTP, useClickHouse } from './clickhouse-server.js';
import { workdirs, type Workdir } from './helpers.js';
import { CALLS, meterConfig, promptMeter, TOKENS } from './fixtures.js';

const workdir = workdirs();

const ARTIFACTS = process.env.METER_ARTIFACTS ?? path.join(os.tmpdir(), 'meter-artifacts');

const METERS = meterConfig({ ...TOKENS, description: 'Tokens used (prompt and completion)' }, CALLS, promptMeter('biggest', 'MAX'));

const PRICES = `currency: USD
prices:
  - meter: tokens
    match: { model: gpt-4o }
    price: { type: unit, amount: "2.50", per: 1000000 }
  - meter: tokens
    match: { model: o3-mini }
    price: { type: unit, amount: "1.10", per: 1000000 }
`;

const TZ = 'Europe/Budapest';
const FROM = '2026-11-01',
  TO = '2026-11-06'; // local midnights: 2026-10-31T23:00Z and 2026-11-05T23:00Z
/** The zone and range every command of these tests reads. */
const RANGE = ['--tz', TZ, '--from', FROM, '--to', TO];
const HUGE = '98765432109876543210.5';
/** A subject that would run as markup, end the data's script element or load an image if the page let it. */
const HOSTILE = '</script><img src=x onerror="document.title=1">\u2028<!--&amp;';
/** A subject as the page shows it: a line separator (as any control or format character) as an escape. */
const shown = (subject: string) => subject.replace(/\u2028/g, '\\u2028');

/** 12 customers over 5 days, decimals among the integers, one value past any double, events on both range edges. */
function events(): string[] {
  const lines: string[] = [];
  let n = 0;
  const add = (subject: string, time: string, tokens: string, model: string) =>
    lines.push(
      `{"specversion":"1.0","id":"e${++n}","source":"test","type":"prompt","subject":"${subject}","time":"${time}","data":{"tokens":${tokens},"model":"${model}"}}`,
    );
  for (let c = 1; c <= 12; c++) {
    const subject = `customer-${String(c).padStart(2, '0')}`;
    for (let d = 0; d < 5; d++) {
      for (let k = 0; k < c + d; k++) {
        const t = new Date(Date.UTC(2026, 9, 31, 23) + d * 86_400_000 + k * 1_337_000 + c * 60_000).toISOString();
        add(subject, t, k % 3 === 0 ? `${100 * c + k}.25` : String(1000 * c + 17 * k), k % 2 ? 'gpt-4o' : 'o3-mini');
      }
    }
  }
  add('customer-07', '2026-11-03T12:00:00Z', HUGE, 'gpt-4o');
  lines.push(
    JSON.stringify({
      specversion: '1.0',
      id: 'hostile',
      source: 'test',
      type: 'prompt',
      subject: HOSTILE,
      time: '2026-11-02T10:00:00Z',
      data: { tokens: 3, model: '<b>' },
    }),
  );
  add('customer-03', '2026-10-31T23:00:00Z', '1', 'gpt-4o'); // exactly --from: counts
  add('customer-03', '2026-11-05T23:00:00Z', '1000000', 'gpt-4o'); // exactly --to: does not
  return lines;
}

interface QueryRow {
  value: string | null;
  windowStart: string;
  subject: string | null;
  groupBy: string;
}

/** `meter query --format json` rows, with values as their exact text (JSON.parse would round them). */
function query(w: Workdir, args: string[]): QueryRow[] {
  const r = w.run(['query', ...RANGE, '--format', 'json', ...args]);
  assert.equal(r.code, 0, r.describe());
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{"value"'))
    .map((l) => {
      const m =
        /^\{"value":(null|-?[\d.]+),"windowStart":"([^"]*)","windowEnd":"[^"]*","subject":(null|"(?:[^"\\]|\\.)*"),"groupBy":(\{[^}]*\})\}/.exec(
          l,
        );
      assert.ok(m, l);
      return {
        value: m[1] === 'null' ? null : m[1]!,
        windowStart: m[2]!,
        subject: m[3] === 'null' ? null : JSON.parse(m[3]!),
        groupBy: m[4]!,
      };
    });
}

/** Checks what every report page must be, and keeps a screenshot. */
async function checkPage(t: TestContext, opened: OpenedPage, name: string, dir: Workdir): Promise<void> {
  const { page, requests, errors } = opened;
  const charts = await page.$$eval('section.meter', (secs) =>
    secs.map((s) => {
      const c = s.querySelector('.chart canvas') as HTMLCanvasElement | null;
      if (c === null)
        return { meter: s.getAttribute('data-meter'), canvas: false, w: 0, h: 0, colored: 0, empty: s.querySelector('.empty') !== null };
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let colored = 0; // pixels of the first series' colour (#4e79a7)
      for (let i = 0; i < d.length; i += 4)
        if (Math.abs(d[i]! - 0x4e) < 4 && Math.abs(d[i + 1]! - 0x79) < 4 && Math.abs(d[i + 2]! - 0xa7) < 4) colored++;
      return { meter: s.getAttribute('data-meter'), canvas: true, w: c.width, h: c.height, colored, empty: false };
    }),
  );
  assert.ok(charts.length > 0, `${name}: no meter sections`);
  for (const c of charts) {
    if (c.empty) continue;
    assert.ok(c.canvas && c.w > 0 && c.h > 0, `${name}: meter ${c.meter} has no chart canvas`);
    assert.ok(c.colored > 50, `${name}: meter ${c.meter}'s chart drew nothing (${c.colored} pixels of its first series)`);
  }
  assert.deepEqual(errors, [], `${name}: console errors`);
  assert.deepEqual(requests, [], `${name}: network requests`);
  const shot = dir.path(`${name}.png`);
  await page.screenshot({ path: shot, fullPage: true });
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  fs.copyFileSync(shot, path.join(ARTIFACTS, `report-${name}.png`));
  t.diagnostic(`screenshot: ${path.join(ARTIFACTS, `report-${name}.png`)}`);
}

/** The rows of a meter's subjects table: label -> exact total. */
async function tableTotals(page: OpenedPage['page'], meter: string): Promise<Map<string, string>> {
  const rows = await page.$$eval(`section.meter[data-meter="${meter}"] table.rows:not(.windows) tbody tr`, (trs) =>
    trs.map(
      (tr) => [tr.querySelector('td.who')!.textContent!, tr.querySelectorAll('td')[2]!.getAttribute('data-value')!] as [string, string],
    ),
  );
  return new Map(rows);
}

describe('meter report in Chromium', () => {
  let w: Workdir;
  let browser: Browser;
  before(async () => {
    w = workdir('report-e2e');
    w.write('meter.yaml', METERS);
    w.write('prices.yaml', PRICES);
    w.write('events.ndjson', events());
    const r = w.run(['ingest', 'events.ndjson']);
    assert.equal(r.code, 0, r.describe());
    browser = await Browser.launch();
  });
  after(async () => {
    await browser?.close();
  });

  test('the whole range: every chart drawn, tables and tooltip equal meter query', async (t) => {
    const r = w.run(['report', ...RANGE, '--top', '5', '-o', 'report.html']);
    assert.equal(r.code, 0, r.describe());
    assert.equal(r.stdout, '');
    const html = w.read('report.html');
    assert.doesNotMatch(html, /<(script|link|img)[^>]+(src|href)=/i, 'nothing is loaded from elsewhere');
    // A file fetches nothing: its policy allows no connection (the served page's allows its own origin).
    assert.match(html, /content="default-src 'none';[^"]*connect-src 'none'"/);
    const opened = await browser.open(w.path('report.html'));
    const { page } = opened;
    await checkPage(t, opened, 'all', w);
    const text = await page.textContent('header');
    assert.match(text!, /2026-11-01T00:00:00\+01:00 to 2026-11-06T00:00:00\+01:00/);
    assert.match(text!, /Time zone Europe\/Budapest\. From is inclusive, to is exclusive/);

    for (const meter of ['tokens', 'calls', 'biggest']) {
      const want = new Map(query(w, ['-m', meter]).map((q) => [shown(q.subject!), q.value!]));
      assert.deepEqual(await tableTotals(page, meter), want, `meter ${meter}: table totals against meter query`);
      const [all] = query(w, ['-m', meter, '--all-subjects']);
      assert.equal(
        await page.getAttribute(`section.meter[data-meter="${meter}"] .kpis .v`, 'data-value'),
        all!.value,
        `meter ${meter}: total`,
      );
    }
    assert.match(
      (await page.textContent('section.meter[data-meter="tokens"] table.rows'))!,
      /customer-0798,765,432,109,876,\d{3},\d{3}\.\d+100\.0%/,
    );
    // Top 5 and the 7 others in the legend; the share of the huge customer.
    assert.deepEqual(await page.$$eval('section.meter[data-meter="calls"] .legend .lab', (ls) => ls.map((l) => l.textContent)), [
      'customer-12',
      'customer-11',
      'customer-10',
      'customer-09',
      'customer-08',
      'others (8)',
    ]);
    // The hostile subject is text in its row, nothing more (no request, no error: checked above).
    assert.equal((await tableTotals(page, 'calls')).get(shown(HOSTILE)), '1');
    assert.equal(await page.title(), 'Usage report');

    // The tooltip of the window under the cursor shows that window's exact total.
    const box = (await page.$('section.meter[data-meter="tokens"] .u-over'))!;
    const bb = (await box.boundingBox())!;
    await page.mouse.move(bb.x + bb.width * 0.5, bb.y + bb.height * 0.5);
    const tip = await page.$eval('section.meter[data-meter="tokens"] .tip', (e) => ({
      hidden: (e as HTMLElement).hidden,
      span: e.querySelector('.tip-span')!.textContent,
      total: e.querySelector('.tip-total td.n')!.getAttribute('data-value'),
    }));
    assert.equal(tip.hidden, false);
    const perDay = query(w, ['-m', 'tokens', '--all-subjects', '-w', 'day']);
    const hovered = perDay.find((q) => tip.span!.startsWith(q.windowStart));
    assert.ok(hovered, `tooltip ${tip.span}`);
    assert.equal(tip.total, hovered.value);
    await page.close();
  });

  test("one customer's statement with invoice: per-day values and amounts equal meter query and meter invoice", async (t) => {
    const r = w.run([
      'report',
      ...RANGE,
      '-s',
      'customer-03',
      '-g',
      'model',
      '--prices',
      'prices.yaml',
      '-m',
      'tokens',
      '-o',
      'statement.html',
    ]);
    assert.equal(r.code, 0, r.describe());
    const opened = await browser.open(w.path('statement.html'));
    const { page } = opened;
    await checkPage(t, opened, 'statement', w);
    assert.equal(await page.textContent('h1'), 'Usage statement: customer-03');
    const days = await page.$$eval('table.windows tbody tr:not(.sum)', (trs) =>
      trs.map((tr) => tr.querySelector('td:last-child')!.getAttribute('data-value')),
    );
    const want = query(w, ['-m', 'tokens', '-s', 'customer-03', '--all-subjects', '-w', 'day', '--fill']).map((q) => q.value);
    assert.deepEqual(days, want);
    const byModel = query(w, ['-m', 'tokens', '-s', 'customer-03', '-g', 'model', '--all-subjects']);
    assert.deepEqual(await tableTotals(page, 'tokens'), new Map(byModel.map((q) => [JSON.parse(q.groupBy).model as string, q.value!])));
    const inv = w.run(['invoice', ...RANGE, '-s', 'customer-03', '--prices', 'prices.yaml', '--format', 'json']);
    assert.equal(inv.code, 0, inv.describe());
    const total = (JSON.parse(inv.stdout) as { invoices: Array<{ total: string }> }).invoices[0]!.total;
    assert.equal(await page.getAttribute('section.invoices tr.sum td.n', 'data-value'), total);
    await page.close();
  });

  test('a subject named with -s that has no usage in the range gets a note on stderr; exit 0', () => {
    const note = 'meter: note: no rows for subject "customer-3x" (matched exactly; `meter subjects` lists them)\n';
    const r = w.run(['report', ...RANGE, '-s', 'customer-03', '-s', 'customer-3x', '-m', 'tokens', '-o', 'typo.html']);
    assert.equal(r.code, 0, r.describe());
    assert.equal(r.stderr, note);
    // Split by a key, rows carry no subject: a name is said only when the report has no row at all.
    assert.equal(
      w.run(['report', ...RANGE, '-s', 'customer-03', '-s', 'customer-3x', '-g', 'model', '-m', 'tokens', '-o', 'g.html']).stderr,
      '',
    );
    assert.equal(w.run(['report', ...RANGE, '-s', 'customer-3x', '-g', 'model', '-m', 'tokens', '-o', 'g.html']).stderr, note);
  });

  test('split by a group-by key over many windows, and months over a long range', async (t) => {
    const r = w.run(['report', '--tz', TZ, '--from', '2026-11-01', '--to', '2026-11-02', '-g', 'model', '-o', 'models.html']);
    assert.equal(r.code, 0, r.describe());
    const opened = await browser.open(w.path('models.html'));
    await checkPage(t, opened, 'models', w);
    const labels = await opened.page.$$eval('section.meter[data-meter="tokens"] .legend .lab', (ls) => ls.map((l) => l.textContent));
    assert.deepEqual([...labels].sort(), ['gpt-4o', 'o3-mini']);
    assert.equal((await opened.page.$$('section.meter[data-meter="tokens"] .u-over')).length, 1);
    const perHour = await opened.page.evaluate(() => JSON.parse(document.getElementById('report-data')!.textContent!).window);
    assert.equal(perHour, 'hour');
    await opened.page.close();
    const long = w.run(['report', '--from', '2026-01-01', '--to', '2027-01-01', '-m', 'calls', '-o', 'year.html']);
    assert.equal(long.code, 0, long.describe());
    const year = await browser.open(w.path('year.html'));
    await checkPage(t, year, 'year', w);
    assert.equal(await year.page.evaluate(() => JSON.parse(document.getElementById('report-data')!.textContent!).windows.t.length), 12);
    await year.page.close();
  });
});

describe('meter report in Chromium: credits that add up to 0, and customers that would look alike', () => {
  test('a meter whose total is 0 still shows its values; bidi and zero-width characters show as escapes', async () => {
    const v = workdir('report-spoof');
    v.write(
      'meter.yaml',
      'meters:\n  - {slug: credits, eventType: credit, aggregation: SUM, valueProperty: $.amount, description: "per \\u202eeerf"}\n',
    );
    const ev = (id: string, subject: string, amount: number) =>
      JSON.stringify({ specversion: '1.0', id, source: 's', type: 'credit', subject, time: '2026-10-05T10:00:00Z', data: { amount } });
    // The text "acme\u200b" (a backslash, then u200b) is a customer of its own, shown apart from acme<U+200B>.
    // A name starting with a quote is quoted as JSON (once: its backslashes are not doubled again), as is one that
    // reads like the page's own "others (N)" series.
    v.write('e.ndjson', [
      ev('1', 'acme', 5),
      ev('2', 'acme\u200b', -5),
      ev('3', '\u202eemcA\u202c', 0),
      ev('4', 'acme\\u200b', 7),
      ev('5', '"ACME" Ltd', 2),
      ev('6', 'others (2)', 3),
    ]);
    assert.equal(v.run(['ingest', 'e.ndjson']).code, 0);
    const r = v.run(['report', '--period', '2026-10', '-o', 'r.html']);
    assert.equal(r.code, 0, r.describe());
    const browser = await Browser.launch();
    try {
      const opened = await browser.open(v.path('r.html'));
      assert.deepEqual(opened.errors, [], 'console errors');
      assert.deepEqual(opened.requests, [], 'network requests');
      const totals = await tableTotals(opened.page, 'credits');
      assert.deepEqual([...totals].sort(), [
        ['"\\"ACME\\" Ltd"', '2'],
        ['"others (2)"', '3'],
        ['\\u202eemcA\\u202c', '0'],
        ['acme', '5'],
        ['acme\\\\u200b', '7'],
        ['acme\\u200b', '-5'],
      ]);
      // A meter's description is shown as the CLI shows text: a right-to-left override as its escape.
      assert.match((await opened.page.textContent('section.meter[data-meter="credits"]'))!, /per \\u202eeerf/);
      assert.equal(await opened.page.$$eval('section.meter[data-meter="credits"] .empty', (e) => e.length), 0);
      await opened.page.close();
    } finally {
      await browser.close();
    }
  });
});

describe('the report page fed by a JSON URL (for meter serve)', () => {
  test('draws the same tables from the fetched document, and requests nothing else', async (t) => {
    const w = workdir('report-shell');
    w.write('meter.yaml', METERS);
    w.write('events.ndjson', events());
    assert.equal(w.run(['ingest', 'events.ndjson']).code, 0);
    const r = w.run(['report', ...RANGE, '-o', 'report.html']);
    assert.equal(r.code, 0, r.describe());
    // The document the inline page carries is the one a server would answer with.
    const json = /<script type="application\/json" id="report-data">([^<]*)<\/script>/.exec(w.read('report.html'))![1]!;
    const server = http.createServer((req, res) => {
      if (req.url === '/') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(reportShell('/report.json'));
      else if (req.url === '/report.json') res.writeHead(200, { 'content-type': 'application/json' }).end(json);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const browser = await Browser.launch();
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const opened = await browser.open(`${base}/`, [`${base}/report.json`]);
      await opened.page.waitForSelector('section.meter[data-meter="calls"] table.rows');
      await checkPage(t, opened, 'served', w);
      assert.equal(await opened.page.title(), 'Usage report');
      const want = new Map(query(w, ['-m', 'tokens']).map((q) => [shown(q.subject!), q.value!]));
      assert.deepEqual(await tableTotals(opened.page, 'tokens'), want);
    } finally {
      await browser.close();
      server.close();
    }
  });
});

describe("meter serve: the report page at / and a customer's page at /portal", () => {
  after(stopAll);
  test("with a token: the pages need none, their data does; / equals meter query, /portal shows only the token's customer", async (t) => {
    const w = workdir('report-serve');
    w.write('meter.yaml', METERS);
    w.write('events.ndjson', events());
    assert.equal(w.run(['ingest', 'events.ndjson']).code, 0);
    // A + in the token (base64 has them) reaches the server as written from the page's fragment.
    const served = await startServe(w, ['--token', 'admin+secret']);
    const range = `?tz=${encodeURIComponent(TZ)}&from=${FROM}&to=${TO}`;
    const admin = { authorization: 'Bearer admin+secret' };
    // The page holds no data, so it needs no token; the data does.
    const page = await fetch(`${served.url}/`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal((await fetch(`${served.url}/api/v1/report${range}`)).status, 401);
    const doc = await fetch(`${served.url}/api/v1/report${range}&top=3`, { headers: admin });
    assert.equal(doc.status, 200);
    // The document is the one meter report writes into its file for the same options.
    const file = w.run(['report', ...RANGE, '--top', '3', '-o', 'report.html']);
    assert.equal(file.code, 0, file.describe());
    const inline = /<script type="application\/json" id="report-data">([^<]*)<\/script>/.exec(w.read('report.html'))![1]!;
    const strip = (d: Record<string, unknown>) => ({ ...d, generator: null });
    assert.deepEqual(strip((await doc.json()) as Record<string, unknown>), strip(JSON.parse(inline) as Record<string, unknown>));
    const bad = await fetch(`${served.url}/api/v1/report?tz=Mars/Olympus`, { headers: admin });
    assert.equal(bad.status, 400);
    assert.equal(bad.headers.get('content-type'), 'application/problem+json');
    // A customer's token: whatever subject the URL asks for, the page is that customer's.
    const created = await fetch(`${served.url}/api/v1/portal/tokens`, {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ subject: 'customer-07', allowedMeterSlugs: ['tokens', 'calls'] }),
    });
    assert.equal(created.status, 200);
    const { token } = (await created.json()) as { token: string };
    const mine = await fetch(`${served.url}/api/v1/portal/report${range}&subject=customer-01`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(mine.status, 200);
    // A browser page of another origin may read it, as its preflight says.
    assert.equal(mine.headers.get('access-control-allow-origin'), '*');
    const portal = (await mine.json()) as { subject: string; meters: Array<{ slug: string }> };
    assert.equal(portal.subject, 'customer-07');
    assert.deepEqual(
      portal.meters.map((m) => m.slug),
      ['tokens', 'calls'],
    );
    assert.equal(
      (await fetch(`${served.url}/api/v1/portal/report${range}&meter=biggest`, { headers: { authorization: `Bearer ${token}` } })).status,
      403,
    );
    assert.equal(
      (await fetch(`${served.url}/api/v1/portal/report${range}`, { headers: admin })).status,
      401,
      'the admin token is no portal token',
    );
    // In Chromium, each page draws from its data with the token from the fragment, requesting nothing else (a
    // request's URL has no fragment).
    const browser = await Browser.launch();
    try {
      const all = await browser.open(`${served.url}/${range}#token=admin+secret`, [
        `${served.url}/${range}`,
        `${served.url}/api/v1/report${range}`,
      ]);
      await all.page.waitForSelector('section.meter[data-meter="calls"] table.rows');
      await checkPage(t, all, 'served-admin', w);
      const want = new Map(query(w, ['-m', 'tokens']).map((q) => [shown(q.subject!), q.value!]));
      assert.deepEqual(await tableTotals(all.page, 'tokens'), want);
      const own = await browser.open(`${served.url}/portal${range}#token=${token}`, [
        `${served.url}/portal${range}`,
        `${served.url}/api/v1/portal/report${range}`,
      ]);
      await own.page.waitForSelector('section.meter[data-meter="calls"]');
      await checkPage(t, own, 'served-portal', w);
      assert.match(await own.page.title(), /customer-07/);
    } finally {
      await browser.close();
      await served.stop();
    }
  });
});

describe('meter report on ClickHouse', () => {
  const database = `meter_test_report_${randomBytes(4).toString('hex')}`;
  after(async () => {
    await fetch(`${CH_HTTP}/`, { method: 'POST', body: `DROP DATABASE IF EXISTS ${database}` }).catch(() => {});
  });
  // Registered after the hook above, so that a server the tests started stops after the database is dropped.
  useClickHouse();
  test('the same bytes as on SQLite', () => {
    const url = `clickhouse://127.0.0.1:${new URL(CH_HTTP).port}/${database}`;
    const w = workdir('report-ch');
    w.write('meter.yaml', METERS);
    w.write('prices.yaml', PRICES);
    w.write('events.ndjson', events());
    for (const db of [url, 'meter.db']) assert.equal(w.run(['ingest', '--db', db, 'events.ndjson']).code, 0);
    const args = ['report', ...RANGE, '--prices', 'prices.yaml'];
    // Exit 3 on both: the hostile subject's model "<b>" has no price.
    const ch = w.run([...args, '--db', url, '-o', 'ch.html']);
    assert.equal(ch.code, 3, ch.describe());
    assert.match(ch.stderr, /1 usage row of priced meters match no price/);
    const sqlite = w.run([...args, '--db', 'meter.db', '-o', 'sqlite.html']);
    assert.equal(sqlite.code, 3, sqlite.describe());
    assert.equal(ch.stderr, sqlite.stderr);
    assert.equal(w.read('ch.html'), w.read('sqlite.html'));
  });
});
