/**
 * Unit tests of CloudEvent parsing and validation (src/core/event.ts) and strict RFC 3339 times (src/core/time.ts):
 * every rejection reason, time precision and offsets, fingerprints, and the missing-time rule.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  MAX_DATA_DEPTH,
  parseCloudEvent,
  validateCloudEvent,
  type EventParse,
  type EventRules,
  type UsageEvent,
} from '../src/core/event.js';
import { formatRfc3339, parseRfc3339 } from '../src/core/time.js';
import { event } from './helpers.js';

const NOW = Date.UTC(2026, 10, 28, 12, 0, 0, 0);
const RULES: EventRules = { requireTime: false, nowMs: NOW };

/** helpers' event, with this file's id and source. */
function base(over: Record<string, unknown> = {}): Record<string, unknown> {
  return event({ id: 'chatcmpl-1', source: 'api', ...over });
}

function parse(over: Record<string, unknown> = {}, rules: EventRules = RULES): EventParse {
  return parseCloudEvent(JSON.stringify(base(over)), rules);
}

function ok(over: Record<string, unknown> = {}, rules: EventRules = RULES): UsageEvent {
  const r = parse(over, rules);
  assert.ok(r.ok, `expected accepted, got: ${r.ok ? '' : r.error}`);
  return r.event;
}

function rejected(over: Record<string, unknown>, pattern: RegExp, rules: EventRules = RULES): string {
  const r = parse(over, rules);
  assert.equal(r.ok, false, `expected rejected: ${JSON.stringify(base(over))}`);
  const error = (r as { error: string }).error;
  assert.match(error, pattern);
  return error;
}

function timeMs(text: string): number {
  const t = parseRfc3339(text);
  assert.ok(t.ok, `${text} should parse: ${t.ok ? '' : t.reason}`);
  return t.ms;
}

function timeBad(text: string): string {
  const t = parseRfc3339(text);
  assert.equal(t.ok, false, `${text} should be rejected, got ${t.ok ? t.ms : ''}`);
  return (t as { reason: string }).reason;
}

describe('a valid event', () => {
  test('is parsed into the stored fields', () => {
    const e = ok();
    assert.deepEqual(
      { id: e.id, source: e.source, type: e.type, subject: e.subject, timeMs: e.timeMs, timeMissing: e.timeMissing, data: e.data },
      {
        id: 'chatcmpl-1',
        source: 'api',
        type: 'prompt',
        subject: 'acme',
        timeMs: Date.UTC(2026, 10, 1, 10),
        timeMissing: false,
        data: '{"tokens":10,"model":"gpt-4o"}',
      },
    );
    assert.deepEqual(e.dataValue, { tokens: 10, model: 'gpt-4o' });
  });

  test('numbers JSON.parse would round keep every digit of the text, flat or nested', () => {
    const text = (data: string) => JSON.stringify(base({ data: 0 })).replace('"data":0', `"data":${data}`);
    const cases: Array<[string, string]> = [
      ['{"tokens":9007199254740993,"model":"m"}', '{"tokens":9007199254740993,"model":"m"}'],
      ['{"usage":{"tokens":12345678901234567890}}', '{"usage":{"tokens":12345678901234567890}}'],
      ['{"cost":0.12345678901234567}', '{"cost":0.12345678901234567}'],
      ['{"tokens":999999999999999,"model":"m"}', '{"tokens":999999999999999,"model":"m"}'],
      // Plain numbers: the data is written out again (whitespace and number forms normalised).
      ['{ "tokens" : 1.0, "order": "12345678901234567" }', '{"tokens":1,"order":"12345678901234567"}'],
    ];
    for (const [data, stored] of cases) {
      const r = parseCloudEvent(text(data), RULES);
      assert.ok(r.ok, data);
      assert.equal(r.event.data, stored);
    }
  });

  test('data null or absent is stored as null', () => {
    for (const over of [{ data: null }, { data: undefined }]) {
      const e = ok(over);
      assert.equal(e.data, null);
      assert.equal(e.dataValue, null);
    }
  });

  test('an empty data object is kept', () => {
    assert.equal(ok({ data: {} }).data, '{}');
  });

  test('datacontenttype application/json (any case, with parameters) is accepted', () => {
    for (const ct of ['application/json', 'Application/JSON', 'application/json; charset=utf-8']) ok({ datacontenttype: ct });
  });

  test('extension attributes are allowed', () => {
    ok({ dataschema: 'https://example.com/s', myext: 'x' });
  });

  test('non-ASCII strings survive', () => {
    const e = ok({ subject: 'Zürich €😀', data: { note: 'ő' } });
    assert.equal(e.subject, 'Zürich €😀');
    assert.equal(e.data, '{"note":"ő"}');
  });
});

describe('rejections', () => {
  test('specversion missing', () => {
    rejected({ specversion: undefined }, /specversion.*missing/);
  });

  test('specversion wrong', () => {
    for (const v of ['0.3', '1', '1.0.0', 1, 1.0, null, '']) rejected({ specversion: v }, /specversion/);
  });

  for (const field of ['id', 'source', 'type', 'subject']) {
    test(`${field} missing`, () => {
      const e = rejected({ [field]: undefined }, new RegExp(`\\b${field}\\b.*missing`));
      assert.ok(!/specversion/.test(e), `only ${field} is wrong: ${e}`);
    });
    test(`${field} empty`, () => {
      rejected({ [field]: '' }, new RegExp(`\\b${field}\\b.*empty`));
    });
    test(`${field} not a string`, () => {
      for (const v of [42, true, null, { a: 1 }, ['x']]) rejected({ [field]: v }, new RegExp(`\\b${field}\\b.*string`));
    });
  }

  test('every problem of an event is reported at once', () => {
    const e = rejected({ id: '', subject: undefined, specversion: '2.0', data: 'x' }, /id/);
    for (const f of ['id', 'subject', 'specversion', 'data']) assert.match(e, new RegExp(`\\b${f}\\b`));
  });

  test('a time without an offset', () => {
    for (const t of ['2026-11-01T10:00:00', '2026-11-01T10:00:00.123', '2026-11-01 10:00:00']) rejected({ time: t }, /time.*offset/);
  });

  test('a time that is not RFC 3339 at all', () => {
    for (const t of ['yesterday', '2026-11-01', '2026-11-01T10:00Z', '1730455200', '2026-1-1T10:00:00Z', '']) {
      rejected({ time: t }, /\btime\b/);
    }
  });

  test('a time that is not a string', () => {
    rejected({ time: 1730455200000 }, /time.*string/);
    rejected({ time: { s: 1 } }, /time.*string/);
  });

  test('impossible dates and times', () => {
    for (const t of [
      '2026-02-30T00:00:00Z',
      '2026-10-25T24:00:00Z',
      '2026-13-45T99:00:00Z',
      '2027-02-29T00:00:00Z',
      '2026-04-31T00:00:00Z',
      '2026-00-10T00:00:00Z',
      '2026-01-00T00:00:00Z',
      '2026-01-01T10:60:00Z',
      '2026-11-01T10:00:60Z',
    ]) {
      rejected({ time: t }, /\btime\b/);
    }
  });

  test('an offset out of range', () => {
    rejected({ time: '2026-11-01T10:00:00+24:00' }, /time.*offset/);
    rejected({ time: '2026-11-01T10:00:00+05:60' }, /time.*offset/);
  });

  test('data a string, an array, a number or a boolean', () => {
    for (const d of ['{"tokens":1}', [1, 2], [], 5, 0, true]) rejected({ data: d }, /data.*object/);
  });

  test('datacontenttype other than application/json', () => {
    for (const ct of ['text/plain', 'application/xml', 'application/octet-stream', 'application/jsonx', 5, '']) {
      rejected({ datacontenttype: ct }, /datacontenttype/);
    }
  });

  test('data_base64', () => {
    rejected({ data: undefined, data_base64: 'eyJhIjoxfQ==' }, /data_base64/);
    rejected({ data_base64: '' }, /data_base64/);
  });

  test('data nested too deep', () => {
    let deep: Record<string, unknown> = { v: 1 };
    for (let i = 0; i < MAX_DATA_DEPTH + 10; i++) deep = { a: deep };
    rejected({ data: deep }, /data.*nested/);
    let deepArrays: unknown = 1;
    for (let i = 0; i < MAX_DATA_DEPTH + 10; i++) deepArrays = [deepArrays];
    rejected({ data: { x: deepArrays } }, /data.*nested/);
  });

  test('data nested up to the limit is accepted', () => {
    let d: Record<string, unknown> = { v: 1 };
    for (let i = 1; i < MAX_DATA_DEPTH; i++) d = { a: d };
    ok({ data: d });
  });

  test('hostile nesting (100k levels) is rejected without a stack overflow', () => {
    const text =
      '{"specversion":"1.0","id":"a","source":"s","type":"t","subject":"u","data":' + '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_001);
    let r: EventParse;
    try {
      r = parseCloudEvent(text, RULES);
    } catch (e) {
      assert.fail(`threw instead of rejecting: ${(e as Error).message}`);
    }
    assert.equal(r.ok, false);
  });

  test('invalid JSON', () => {
    for (const t of ['{', '{"id":', 'not json', '{"a":1}}', "{'id':'x'}", '']) {
      const r = parseCloudEvent(t, RULES);
      assert.equal(r.ok, false, t);
      assert.match((r as { error: string }).error, /invalid JSON/);
    }
  });

  test('an event that is not an object', () => {
    for (const t of ['[]', '[{"id":"a"}]', '"event"', '42', 'null', 'true']) {
      const r = parseCloudEvent(t, RULES);
      assert.equal(r.ok, false, t);
      assert.match((r as { error: string }).error, /object/);
    }
  });

  test('validateCloudEvent rejects non-objects too', () => {
    for (const v of [null, undefined, 1, 'x', [base()]]) assert.equal(validateCloudEvent(v, RULES).ok, false);
  });
});

describe('times', () => {
  test('Z, lowercase t/z and explicit zero offsets', () => {
    const want = Date.UTC(2026, 10, 1, 10, 0, 0);
    for (const t of ['2026-11-01T10:00:00Z', '2026-11-01t10:00:00z', '2026-11-01T10:00:00+00:00', '2026-11-01T10:00:00-00:00']) {
      assert.equal(timeMs(t), want, t);
    }
  });

  test('offsets +05:45 and -03:30', () => {
    assert.equal(timeMs('2026-11-01T10:00:00+05:45'), Date.UTC(2026, 10, 1, 4, 15));
    assert.equal(timeMs('2026-11-01T10:00:00-03:30'), Date.UTC(2026, 10, 1, 13, 30));
    assert.equal(timeMs('2026-01-01T01:00:00+05:45'), Date.UTC(2025, 11, 31, 19, 15));
    assert.equal(ok({ time: '2026-11-01T10:00:00.5-03:30' }).timeMs, Date.UTC(2026, 10, 1, 13, 30, 0, 500));
  });

  test('fractional digits of any length, truncated to milliseconds', () => {
    const s = Date.UTC(2026, 10, 1, 10, 0, 0);
    const cases: Array<[string, number]> = [
      ['.1', 100],
      ['.12', 120],
      ['.123', 123],
      ['.1234', 123],
      ['.123999', 123],
      ['.999999999', 999],
      ['.000000001', 0],
      ['.0', 0],
      ['.050', 50],
      ['.1234567890123456789012345', 123],
    ];
    for (const [frac, ms] of cases) assert.equal(timeMs(`2026-11-01T10:00:00${frac}Z`), s + ms, frac);
  });

  test('truncation never moves an event to a later second, also before 1970 and with offsets', () => {
    assert.equal(timeMs('1969-12-31T23:59:59.9999Z'), -1);
    assert.equal(timeMs('2026-11-01T10:00:59.9999+05:45'), Date.UTC(2026, 10, 1, 4, 15, 59, 999));
  });

  test('a dot without digits is rejected', () => {
    timeBad('2026-11-01T10:00:00.Z');
  });

  test('leap days', () => {
    assert.equal(timeMs('2028-02-29T00:00:00Z'), Date.UTC(2028, 1, 29));
    assert.equal(timeMs('2000-02-29T12:00:00Z'), Date.UTC(2000, 1, 29, 12));
    timeBad('2027-02-29T00:00:00Z');
    timeBad('1900-02-29T00:00:00Z');
    timeBad('2028-02-30T00:00:00Z');
  });

  test('impossible dates and times give a reason', () => {
    for (const t of [
      '2026-02-30T00:00:00Z',
      '2026-10-25T24:00:00Z',
      '2026-13-45T99:00:00Z',
      '2026-11-01T10:00:60Z',
      '2026-12-31T23:59:60Z',
    ]) {
      assert.ok(timeBad(t).length > 0);
    }
  });

  test('last day of each month', () => {
    const last = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    last.forEach((d, i) => {
      const mm = String(i + 1).padStart(2, '0');
      assert.equal(timeMs(`2026-${mm}-${d}T23:59:59Z`), Date.UTC(2026, i, d, 23, 59, 59));
      timeBad(`2026-${mm}-${d + 1}T00:00:00Z`);
    });
  });

  test('years 0001 and 9999', () => {
    const y1 = timeMs('0001-01-01T00:00:00Z');
    const d1 = new Date(y1);
    assert.deepEqual([d1.getUTCFullYear(), d1.getUTCMonth(), d1.getUTCDate(), d1.getUTCHours()], [1, 0, 1, 0]);
    assert.equal(y1, -62135596800000);
    assert.equal(timeMs('9999-12-31T23:59:59.999Z'), 253402300799999);
    assert.equal(timeMs('0099-03-01T00:00:00Z'), new Date('0099-03-01T00:00:00Z').getTime());
  });

  test('formatRfc3339 prints milliseconds only when not zero', () => {
    assert.equal(formatRfc3339(Date.UTC(2026, 10, 1, 10)), '2026-11-01T10:00:00Z');
    assert.equal(formatRfc3339(Date.UTC(2026, 10, 1, 10, 0, 0, 7)), '2026-11-01T10:00:00.007Z');
    assert.equal(formatRfc3339(Date.UTC(2026, 10, 1, 10, 0, 0, 120)), '2026-11-01T10:00:00.120Z');
  });

  test('formatRfc3339 in a fixed offset', () => {
    const t = Date.UTC(2026, 10, 1, 4, 15);
    assert.equal(formatRfc3339(t, 345), '2026-11-01T10:00:00+05:45');
    assert.equal(formatRfc3339(Date.UTC(2026, 10, 1, 13, 30), -210), '2026-11-01T10:00:00-03:30');
  });

  test('formatRfc3339 of years 0001 and 9999', () => {
    assert.equal(formatRfc3339(-62135596800000), '0001-01-01T00:00:00Z');
    assert.equal(formatRfc3339(253402300799999), '9999-12-31T23:59:59.999Z');
  });

  test('parse and format round-trip', () => {
    for (const t of [
      '2026-11-01T10:00:00Z',
      '2026-11-01T10:00:00.123Z',
      '2028-02-29T23:59:59.999Z',
      '0001-01-01T00:00:00Z',
      '9999-12-31T23:59:59.999Z',
      '1969-07-20T20:17:40.001Z',
    ]) {
      assert.equal(formatRfc3339(timeMs(t)), t);
    }
  });

  test('Date.parse leniencies are not inherited', () => {
    // Each of these is accepted by Date.parse.
    for (const t of [
      '2026-02-30T00:00:00Z',
      '2026-11-01T10:00:00',
      '2026-11-01',
      'Sun, 01 Nov 2026 10:00:00 GMT',
      '2026-11-01T10:00:00+0545',
    ]) {
      timeBad(t);
    }
  });
});

describe('fingerprints', () => {
  test('equal content gives an equal fingerprint, whatever the id and source', () => {
    assert.equal(ok().fingerprint, ok().fingerprint);
    assert.equal(ok({ id: 'other', source: 'elsewhere' }).fingerprint, ok().fingerprint);
  });

  test('the same instant written in another offset or precision is the same content', () => {
    assert.equal(ok({ time: '2026-11-01T15:45:00+05:45' }).fingerprint, ok().fingerprint);
    assert.equal(ok({ time: '2026-11-01T10:00:00.000000Z' }).fingerprint, ok().fingerprint);
  });

  test('a difference in type, subject, time or data gives another fingerprint', () => {
    const f = ok().fingerprint;
    const others = [
      { type: 'completion' },
      { subject: 'acme2' },
      { time: '2026-11-01T10:00:00.001Z' },
      { data: { tokens: 11, model: 'gpt-4o' } },
      { data: { tokens: '10', model: 'gpt-4o' } },
      { data: { tokens: 10 } },
      { data: null },
      { data: {} },
      { time: undefined },
    ].map((o) => ok(o).fingerprint);
    for (const g of others) assert.notEqual(g, f);
    assert.equal(new Set(others).size, others.length, 'all fingerprints distinct');
  });

  test('fields are separated: moving text between type and subject changes the fingerprint', () => {
    assert.notEqual(ok({ type: 'ab', subject: 'c' }).fingerprint, ok({ type: 'a', subject: 'bc' }).fingerprint);
  });

  test('an event without time has the same fingerprint at any ingestion time', () => {
    const a = ok({ time: undefined }, { requireTime: false, nowMs: NOW });
    const b = ok({ time: undefined }, { requireTime: false, nowMs: NOW + 3_600_000 });
    assert.equal(a.fingerprint, b.fingerprint);
    assert.notEqual(a.timeMs, b.timeMs);
  });
});

describe('missing time', () => {
  test('falls back to the ingestion time and is flagged', () => {
    for (const over of [{ time: undefined }, { time: null }]) {
      const e = ok(over);
      assert.equal(e.timeMs, NOW);
      assert.equal(e.timeMissing, true);
    }
    assert.equal(ok().timeMissing, false);
  });

  test('--require-time rejects it', () => {
    const strict: EventRules = { requireTime: true, nowMs: NOW };
    rejected({ time: undefined }, /time.*missing/, strict);
    rejected({ time: null }, /time/, strict);
    assert.equal(ok({}, strict).timeMs, Date.UTC(2026, 10, 1, 10));
  });
});
