/**
 * The pure parts of the HTTP adapter, one line per case: content types, problem splitting, CSV values, Accept
 * negotiation helpers, query parameters into QueryOptions, stable ids and portal token signatures.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parseMeterConfig } from '../src/core/meter.js';
import { PortalKeyError, PortalSigner, sameSecret } from '../src/http/auth.js';
import { newUlid, stableUlid } from '../src/http/ids.js';
import { bodyShape, MAX_LISTED_PROBLEMS, parseIngestBody } from '../src/http/ingest-body.js';
import { checkMeterIdOrSlug, meterQueryFromBody, meterQueryFromSearch, toQueryOptions } from '../src/http/params.js';
import { HttpProblem, problemBody, problemOf as problemOfError } from '../src/http/problem.js';
import { describeSqliteError } from '../src/store/sqlite/errors.js';
import { sixDecimals } from '../src/http/render.js';

const problemOf = (fn: () => unknown): HttpProblem => {
  try {
    fn();
  } catch (e) {
    if (e instanceof HttpProblem) return e;
    throw e;
  }
  assert.fail('no problem thrown');
};

test('content types: three shapes, a utf-8 charset accepted, anything else refused with the raw header', () => {
  assert.equal(bodyShape('application/cloudevents+json'), 'one');
  assert.equal(bodyShape('application/cloudevents-batch+json'), 'batch');
  assert.equal(bodyShape('application/json'), 'either');
  assert.equal(bodyShape('Application/JSON; charset=UTF-8'), 'either');
  assert.equal(
    problemOf(() => bodyShape('application/json; charset=utf-16')).detail,
    'invalid content type: application/json; charset=utf-16',
  );
  assert.equal(problemOf(() => bodyShape(undefined)).detail, 'invalid content type: ');
  assert.equal(problemOf(() => bodyShape('application/x-ndjson')).detail, 'invalid content type: application/x-ndjson');
  // Asked again (the answers are kept): the same answers.
  assert.equal(bodyShape('Application/JSON; charset=UTF-8'), 'either');
  assert.equal(problemOf(() => bodyShape('application/x-ndjson')).status, 400);
  assert.equal(problemOf(() => bodyShape(undefined)).status, 400);
});

test('ingest bodies: the validator of meter ingest, every digit kept, every problem listed with its index', () => {
  const ev =
    '{"specversion":"1.0","id":"1","source":"s","type":"t","subject":"a","time":"2026-11-01T00:00:00.123Z","data":{"v":12345678901234567891}}';
  const [e] = parseIngestBody(ev, 'application/cloudevents+json', 0, false);
  assert.equal(e!.data, '{"v":12345678901234567891}');
  assert.equal(e!.timeMs, Date.UTC(2026, 10, 1, 0, 0, 0, 123));
  const noTime = parseIngestBody('{"specversion":"1.0","id":"1","source":"s","type":"t","subject":"a"}', 'application/json', 42, false);
  assert.equal(noTime[0]!.timeMs, 42);
  const p = problemOf(() => parseIngestBody(`[${ev},{"id":""}]`, 'application/json', 0, false));
  assert.equal(p.status, 400);
  const issues = (p.extensions!.validationErrors as Array<{ index: number; field: string }>).map((i) => `${i.index}:${i.field}`);
  assert.deepEqual(issues, ['1:specversion', '1:id', '1:source', '1:type', '1:subject']);
  assert.equal(problemOf(() => parseIngestBody('[]', 'application/json', 0, false)).detail, 'invalid event: no events found');
  // At most MAX_LISTED_PROBLEMS problems are listed; the detail still counts every invalid event and problem.
  const each = (problemOf(() => parseIngestBody('{}', 'application/json', 0, false)).extensions!.validationErrors as unknown[]).length;
  const many = problemOf(() => parseIngestBody(`[${Array(600).fill('{}').join(',')}]`, 'application/json', 0, false));
  assert.equal(
    many.detail,
    `invalid event: 600 of 600 event(s) are invalid; nothing was stored; the first ${MAX_LISTED_PROBLEMS} of ${600 * each} problems are listed`,
  );
  assert.equal((many.extensions!.validationErrors as unknown[]).length, MAX_LISTED_PROBLEMS);
  const few = problemOf(() =>
    parseIngestBody(
      `[${Array(MAX_LISTED_PROBLEMS / each)
        .fill('{}')
        .join(',')}]`,
      'application/json',
      0,
      false,
    ),
  );
  assert.equal((few.extensions!.validationErrors as unknown[]).length, MAX_LISTED_PROBLEMS);
  assert.ok(!few.detail.includes('listed'), few.detail);
  assert.deepEqual(parseIngestBody('[]', 'application/cloudevents-batch+json', 0, false), []);
});

test('problem bodies: OpenMeter fields, blank detail for 500, extensions only when there are some', () => {
  assert.equal(
    problemBody(new HttpProblem(404, 'meter not found: x')),
    '{"type":"about:blank","title":"Not Found","status":404,"detail":"meter not found: x"}',
  );
  assert.equal(
    problemBody(new HttpProblem(500, '/secret/path.db: disk I/O error')),
    '{"type":"about:blank","title":"Internal Server Error","status":500,"detail":""}',
  );
  assert.match(problemBody(new HttpProblem(400, 'x', { validationErrors: [] })), /"extensions":\{"validationErrors":\[\]\}/);
});

test('CSV values: Go %f for short decimals, every digit of longer ones', () => {
  assert.deepEqual(['12', '0.5', '-3.25', '0.1234567', '12345678901234567890.3'].map(sixDecimals), [
    '12.000000',
    '0.500000',
    '-3.250000',
    '0.1234567',
    '12345678901234567890.300000',
  ]);
});

test('meter id or slug: slugs and ULIDs up to 64 characters, anything else 400', () => {
  for (const ok of ['tokens_total', 'a', 'a1_b2', stableUlid('meter', 'x')]) assert.equal(checkMeterIdOrSlug(ok), ok);
  for (const bad of ['Tokens', 'a__b', '_a', 'a-b', '', 'a'.repeat(65), '8ZZZZZZZZZZZZZZZZZZZZZZZZZ'])
    assert.equal(problemOf(() => checkMeterIdOrSlug(bad)).status, 400, bad);
});

test('stable ids: the same ULID for the same name, ULID-shaped, different per kind; new ULIDs sort by time', () => {
  assert.equal(stableUlid('meter', 'tokens_total'), stableUlid('meter', 'tokens_total'));
  assert.notEqual(stableUlid('meter', 'x'), stableUlid('subject', 'x'));
  assert.match(stableUlid('subject', 'acme'), /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/);
  assert.ok(newUlid(1_000) < newUlid(2_000));
});

const METERS = parseMeterConfig(
  'meters:\n  - {slug: m, eventType: p, aggregation: SUM, valueProperty: $.v, groupBy: {model: $.model, tier: $.tier}}\n',
  'x.yaml',
);

test('query parameters: OpenMeter names into QueryOptions; subject filters group by subject', () => {
  const q = (s: string) => toQueryOptions(METERS[0]!, METERS, meterQueryFromSearch(new URLSearchParams(s)));
  const o = q('windowSize=HOUR&windowTimeZone=Asia/Kathmandu&subject=a&subject=b&groupBy=model&filterGroupBy[tier]=1');
  assert.deepEqual(
    [o.window, o.tz, o.subjects, o.groupBy, o.filters, o.allSubjects],
    ['HOUR', 'Asia/Kathmandu', ['a', 'b'], ['model'], ['tier=1'], false],
  );
  assert.equal(q('groupBy=subject').allSubjects, false);
  assert.equal(q('').allSubjects, true);
  assert.deepEqual(q('subject=c1,c2').subjects, ['c1,c2'], 'comma-joined values are one literal value, as in OpenMeter');
  assert.deepEqual(q('advancedMeterGroupByFilters=' + encodeURIComponent('{"model":{"$eq":"gpt-4o"}}')).filters, ['model=gpt-4o']);
  assert.equal(problemOf(() => q('advancedMeterGroupByFilters=' + encodeURIComponent('{"model":{"$ne":"x"}}'))).status, 400);
  assert.equal(problemOf(() => q('filterGroupBy[model]=a&filterGroupBy[model]=b')).status, 400);
  assert.deepEqual(q('advancedMeterGroupByFilters=' + encodeURIComponent('{"model":{"$in":["a","b"]}}')).filters, ['model=a', 'model=b']);
  assert.equal(problemOf(() => q('advancedMeterGroupByFilters=' + encodeURIComponent('{"model":{"$in":[]}}'))).status, 400);
  assert.equal(problemOf(() => q('filterCustomerId=01H')).status, 400);
  assert.equal(problemOf(() => q('groupBy=customer_id')).detail, 'invalid group by: customer_id');
  const post = toQueryOptions(
    METERS[0]!,
    METERS,
    meterQueryFromBody({ from: '2026-11-01T00:00:00Z', subject: ['a'], filterGroupBy: { model: ['x', 'y'] } }),
  );
  assert.deepEqual([post.from, post.subjects, post.filters], ['2026-11-01T00:00:00Z', ['a'], ['model=x', 'model=y']]);
  assert.equal(problemOf(() => toQueryOptions(METERS[0]!, METERS, meterQueryFromBody({ filterGroupBy: { model: [] } }))).status, 400);
  // A POST's parameters are in its body, and its errors say so; a GET's are in the query.
  const postProblem = (body: unknown) => problemOf(() => toQueryOptions(METERS[0]!, METERS, meterQueryFromBody(body))).detail;
  assert.equal(postProblem({ from: 'yesterday' }), 'request body has an error: from: "yesterday" is not an RFC 3339 time');
  assert.equal(
    postProblem({ windowSize: 'WEEK' }),
    'request body has an error: windowSize: value is not one of the allowed values ["MINUTE","HOUR","DAY","MONTH"]',
  );
  assert.equal(problemOf(() => q('to=yesterday')).detail, 'parameter "to" in query has an error: "yesterday" is not an RFC 3339 time');
  assert.equal(problemOf(() => meterQueryFromBody({ subject: Array.from({ length: 101 }, () => 'a') })).status, 400);
  assert.equal(problemOf(() => meterQueryFromBody([])).status, 400);
  // The two filters exclude each other (OpenMeter: 400), on GET and POST alike.
  const both = 'filterGroupBy and advancedMeterGroupByFilters cannot be combined: send one of them';
  const adv = encodeURIComponent('{"model":{"$eq":"b"}}');
  assert.equal(problemOf(() => q(`filterGroupBy[model]=a&advancedMeterGroupByFilters=${adv}`)).detail, both);
  assert.equal(problemOf(() => q(`advancedMeterGroupByFilters=${adv}&filterGroupBy[tier]=1`)).detail, both);
  const body = { filterGroupBy: { model: ['a'] }, advancedMeterGroupByFilters: { model: { $eq: 'b' } } };
  assert.equal(problemOf(() => meterQueryFromBody(body)).detail, both);
});

test('portal tokens: verified with the key, refused when forged, expired or signed by another key', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meter-portal-'));
  try {
    const file = path.join(dir, 'k');
    const a = PortalSigner.fromFile(file);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    const claims = { id: 'x', subject: 'acme', createdAt: 0, expiresAt: 10_000 };
    const token = a.sign(claims);
    assert.deepEqual(PortalSigner.fromFile(file).verify(token, 5_000), claims, 'the same key after a restart');
    assert.equal(a.verify(token, 10_000), null, 'expired');
    const [body, mac] = token.slice('om_portal_'.length).split('.');
    const forged = `om_portal_${Buffer.from(JSON.stringify({ ...claims, subject: 'globex' })).toString('base64url')}.${mac}`;
    assert.equal(a.verify(forged, 0), null);
    assert.equal(a.verify(`om_portal_${body}.${mac}x`, 0), null);
    // The last of 43 characters carries 4 bits of the MAC and 2 unused ones: a token has one spelling only.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(mac!.at(-1)!);
    for (let low = 0; low < 4; low++) {
      const respelled = `${mac!.slice(0, -1)}${alphabet[(last & ~3) | low]}`;
      if (respelled !== mac) assert.equal(a.verify(`om_portal_${body}.${respelled}`, 0), null, respelled);
    }
    assert.equal(PortalSigner.fromFile(path.join(dir, 'other')).verify(token, 0), null);
    assert.equal(sameSecret('abc', 'abc'), true);
    assert.equal(sameSecret('abc', 'abcd'), false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('portal key files: an empty, short or non-base64url key is refused and left as it is; 32 bytes in either base64 alphabet are a key', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meter-portal-'));
  try {
    const cases: Array<[string, RegExp]> = [
      ['', /holds 0 bytes of key, fewer than the 32/],
      ['\n', /holds 0 bytes of key/],
      ['hello\n', /holds 3 bytes of key/],
      [randomBytes(31).toString('base64url'), /holds 31 bytes of key/],
      ['not a key, just text of more than forty-three characters', /does not hold a key as base64url text/],
    ];
    for (const [text, problem] of cases) {
      const file = path.join(dir, 'weak');
      fs.writeFileSync(file, text);
      assert.throws(
        () => PortalSigner.fromFile(file),
        (e: unknown) => e instanceof PortalKeyError && e.file === file && problem.test(e.problem),
        JSON.stringify(text),
      );
      assert.equal(fs.readFileSync(file, 'utf8'), text, 'a file meter did not create is never overwritten');
    }
    const openssl = path.join(dir, 'openssl');
    fs.writeFileSync(openssl, randomBytes(32).toString('base64') + '\n');
    const token = PortalSigner.fromFile(openssl).sign({ id: 'x', subject: 'acme', createdAt: 0 });
    assert.equal(PortalSigner.fromFile(openssl).verify(token, 0)?.subject, 'acme');
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')),
      [],
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('portal key file deleted or replaced: tokens signed with the old key fail at once, new ones are signed with a key written to the file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meter-portal-'));
  try {
    const file = path.join(dir, 'k');
    const signer = PortalSigner.fromFile(file);
    const claims = { id: 'x', subject: 'acme', createdAt: 0 };
    const before = signer.sign(claims);
    assert.deepEqual(signer.verify(before, 0), claims);
    fs.rmSync(file);
    assert.equal(signer.verify(before, 0), null, 'deleting the file revokes the tokens of the running signer');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600, 'a new key file');
    const after = signer.sign(claims);
    assert.deepEqual(signer.verify(after, 0), claims);
    assert.deepEqual(PortalSigner.fromFile(file).verify(after, 0), claims, 'a token issued after the deletion survives a restart');
    // Replaced by another key (a rotation, or a key restored from a backup): that key signs and verifies.
    const other = path.join(dir, 'other');
    const old = PortalSigner.fromFile(other).sign(claims);
    fs.renameSync(other, file);
    assert.equal(signer.verify(after, 0), null);
    assert.deepEqual(signer.verify(old, 0), claims);
    // Replaced by a file without a usable key: nothing is signed or accepted until it is fixed or deleted.
    fs.writeFileSync(path.join(dir, 'empty'), '');
    fs.renameSync(path.join(dir, 'empty'), file);
    assert.throws(() => signer.verify(old, 0), PortalKeyError);
    assert.throws(() => signer.sign(claims), PortalKeyError);
    assert.equal(fs.readFileSync(file, 'utf8'), '');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a store another process held past the busy timeout answers 503 with Retry-After (nothing written, retry), saying nothing of its path', () => {
  const busy = problemOfError(
    describeSqliteError('/srv/usage.db', Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' })),
  );
  assert.equal(busy.status, 503);
  assert.equal(busy.detail, 'the store is busy: another process held its write lock too long; retry later');
  assert.deepEqual(busy.headers, { 'Retry-After': '1' });
  // Any other store failure stays a 500 that tells the client nothing.
  const full = problemOfError(describeSqliteError('/srv/usage.db', Object.assign(new Error('disk full'), { code: 'SQLITE_FULL' })));
  assert.equal(full.status, 500);
  assert.equal(full.detail, '');
});
