/**
 * Calendar windows in IANA zones. Every expected instant is written out by hand as an RFC 3339 literal (with the
 * local offset that holds at that instant), never computed by the code under test.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  checkTimeZone,
  localToUtc,
  offsetSegments,
  parseWindowSize,
  WindowPlan,
  zoneOffsetMinutes,
  type WindowSize,
} from '../src/core/window.js';
import { parseQueryTime } from '../src/core/query.js';
import { UsageError } from '../src/errors.js';
import { Rng, runSeed } from './gen.js';
import { offsetMinutes } from './reference.js';

const HOUR = 3_600_000;

/** An RFC 3339 literal -> epoch ms (Date.parse is fine for fully specified strings with an offset). */
function ms(text: string): number {
  const t = Date.parse(text);
  assert.ok(!Number.isNaN(t), `bad literal in test: ${text}`);
  return t;
}

const iso = (t: number) => new Date(t).toISOString();

/** A plan that covers the instant generously, as runQuery builds one around the query range. */
function planAround(size: WindowSize, zone: string, t: number): WindowPlan {
  return new WindowPlan(size, zone, t - 3 * 86_400_000, t + 3 * 86_400_000);
}

interface WindowCase {
  name: string;
  zone: string;
  size: WindowSize;
  at: string;
  start: string;
  end: string;
  hours?: number;
}

const WINDOW_CASES: WindowCase[] = [
  // UTC, month ends and the leap day.
  {
    name: 'UTC minute',
    zone: 'UTC',
    size: 'MINUTE',
    at: '2026-11-01T10:00:59.999Z',
    start: '2026-11-01T10:00:00Z',
    end: '2026-11-01T10:01:00Z',
  },
  {
    name: 'UTC hour, last ms',
    zone: 'UTC',
    size: 'HOUR',
    at: '2026-11-01T10:59:59.999Z',
    start: '2026-11-01T10:00:00Z',
    end: '2026-11-01T11:00:00Z',
  },
  {
    name: 'UTC hour, exact start',
    zone: 'UTC',
    size: 'HOUR',
    at: '2026-11-01T11:00:00Z',
    start: '2026-11-01T11:00:00Z',
    end: '2026-11-01T12:00:00Z',
  },
  {
    name: 'UTC day, Jan 31 last ms',
    zone: 'UTC',
    size: 'DAY',
    at: '2026-01-31T23:59:59.999Z',
    start: '2026-01-31T00:00:00Z',
    end: '2026-02-01T00:00:00Z',
    hours: 24,
  },
  {
    name: 'UTC month, December into next year',
    zone: 'UTC',
    size: 'MONTH',
    at: '2026-12-31T23:59:59Z',
    start: '2026-12-01T00:00:00Z',
    end: '2027-01-01T00:00:00Z',
  },
  {
    name: 'UTC month, February 2026 (28 days)',
    zone: 'UTC',
    size: 'MONTH',
    at: '2026-02-15T00:00:00Z',
    start: '2026-02-01T00:00:00Z',
    end: '2026-03-01T00:00:00Z',
    hours: 28 * 24,
  },
  {
    name: 'UTC month, April (30 days)',
    zone: 'UTC',
    size: 'MONTH',
    at: '2026-04-30T23:59:59.999Z',
    start: '2026-04-01T00:00:00Z',
    end: '2026-05-01T00:00:00Z',
    hours: 30 * 24,
  },
  {
    name: 'leap day 2028-02-29',
    zone: 'UTC',
    size: 'DAY',
    at: '2028-02-29T12:00:00Z',
    start: '2028-02-29T00:00:00Z',
    end: '2028-03-01T00:00:00Z',
    hours: 24,
  },
  {
    name: 'day before the leap day ends at it',
    zone: 'UTC',
    size: 'DAY',
    at: '2028-02-28T23:59:59.999Z',
    start: '2028-02-28T00:00:00Z',
    end: '2028-02-29T00:00:00Z',
  },
  {
    name: 'February 2028 has 29 days',
    zone: 'UTC',
    size: 'MONTH',
    at: '2028-02-29T23:59:59.999Z',
    start: '2028-02-01T00:00:00Z',
    end: '2028-03-01T00:00:00Z',
    hours: 29 * 24,
  },
  {
    name: 'leap day in Budapest',
    zone: 'Europe/Budapest',
    size: 'DAY',
    at: '2028-02-28T23:30:00Z',
    start: '2028-02-29T00:00:00+01:00',
    end: '2028-03-01T00:00:00+01:00',
  },

  // Europe/Budapest: clocks go back 2026-10-25 03:00 CEST -> 02:00 CET, forward 2026-03-29 02:00 CET -> 03:00 CEST.
  {
    name: 'Budapest 25-hour day',
    zone: 'Europe/Budapest',
    size: 'DAY',
    at: '2026-10-25T12:00:00Z',
    start: '2026-10-25T00:00:00+02:00',
    end: '2026-10-26T00:00:00+01:00',
    hours: 25,
  },
  {
    name: 'Budapest 25-hour day, first instant',
    zone: 'Europe/Budapest',
    size: 'DAY',
    at: '2026-10-24T22:00:00Z',
    start: '2026-10-25T00:00:00+02:00',
    end: '2026-10-26T00:00:00+01:00',
  },
  {
    name: 'Budapest 25-hour day, last ms',
    zone: 'Europe/Budapest',
    size: 'DAY',
    at: '2026-10-25T22:59:59.999Z',
    start: '2026-10-25T00:00:00+02:00',
    end: '2026-10-26T00:00:00+01:00',
  },
  {
    name: 'Budapest day before the change',
    zone: 'Europe/Budapest',
    size: 'DAY',
    at: '2026-10-24T21:59:59.999Z',
    start: '2026-10-24T00:00:00+02:00',
    end: '2026-10-25T00:00:00+02:00',
    hours: 24,
  },
  {
    name: 'Budapest day after the change',
    zone: 'Europe/Budapest',
    size: 'DAY',
    at: '2026-10-25T23:00:00Z',
    start: '2026-10-26T00:00:00+01:00',
    end: '2026-10-27T00:00:00+01:00',
    hours: 24,
  },
  {
    name: 'Budapest 23-hour day',
    zone: 'Europe/Budapest',
    size: 'DAY',
    at: '2026-03-29T12:00:00Z',
    start: '2026-03-29T00:00:00+01:00',
    end: '2026-03-30T00:00:00+02:00',
    hours: 23,
  },
  {
    name: 'Budapest first 02:00 hour (CEST)',
    zone: 'Europe/Budapest',
    size: 'HOUR',
    at: '2026-10-25T00:30:00Z',
    start: '2026-10-25T02:00:00+02:00',
    end: '2026-10-25T02:00:00+01:00',
    hours: 1,
  },
  {
    name: 'Budapest second 02:00 hour (CET)',
    zone: 'Europe/Budapest',
    size: 'HOUR',
    at: '2026-10-25T01:30:00Z',
    start: '2026-10-25T02:00:00+01:00',
    end: '2026-10-25T03:00:00+01:00',
    hours: 1,
  },
  {
    name: 'Budapest second 02:00 hour, first instant',
    zone: 'Europe/Budapest',
    size: 'HOUR',
    at: '2026-10-25T01:00:00Z',
    start: '2026-10-25T02:00:00+01:00',
    end: '2026-10-25T03:00:00+01:00',
  },
  {
    name: 'Budapest minute in the first 02:30',
    zone: 'Europe/Budapest',
    size: 'MINUTE',
    at: '2026-10-25T00:30:30Z',
    start: '2026-10-25T02:30:00+02:00',
    end: '2026-10-25T02:31:00+02:00',
  },
  {
    name: 'Budapest minute in the second 02:30',
    zone: 'Europe/Budapest',
    size: 'MINUTE',
    at: '2026-10-25T01:30:30Z',
    start: '2026-10-25T02:30:00+01:00',
    end: '2026-10-25T02:31:00+01:00',
  },
  {
    name: 'Budapest hour before the spring gap',
    zone: 'Europe/Budapest',
    size: 'HOUR',
    at: '2026-03-29T00:59:59Z',
    start: '2026-03-29T01:00:00+01:00',
    end: '2026-03-29T03:00:00+02:00',
    hours: 1,
  },
  {
    name: 'Budapest hour after the spring gap',
    zone: 'Europe/Budapest',
    size: 'HOUR',
    at: '2026-03-29T01:00:00Z',
    start: '2026-03-29T03:00:00+02:00',
    end: '2026-03-29T04:00:00+02:00',
  },
  {
    name: 'Budapest October (31 days + 1 hour)',
    zone: 'Europe/Budapest',
    size: 'MONTH',
    at: '2026-10-15T12:00:00Z',
    start: '2026-10-01T00:00:00+02:00',
    end: '2026-11-01T00:00:00+01:00',
    hours: 31 * 24 + 1,
  },
  {
    name: 'Budapest November starts at 23:00 UTC',
    zone: 'Europe/Budapest',
    size: 'MONTH',
    at: '2026-10-31T23:30:00Z',
    start: '2026-11-01T00:00:00+01:00',
    end: '2026-12-01T00:00:00+01:00',
  },
  {
    name: 'Budapest October, last ms',
    zone: 'Europe/Budapest',
    size: 'MONTH',
    at: '2026-10-31T22:59:59.999Z',
    start: '2026-10-01T00:00:00+02:00',
    end: '2026-11-01T00:00:00+01:00',
  },
  {
    name: 'Budapest March (31 days - 1 hour)',
    zone: 'Europe/Budapest',
    size: 'MONTH',
    at: '2026-03-31T21:59:59Z',
    start: '2026-03-01T00:00:00+01:00',
    end: '2026-04-01T00:00:00+02:00',
    hours: 31 * 24 - 1,
  },
  {
    name: 'Budapest December into next year',
    zone: 'Europe/Budapest',
    size: 'MONTH',
    at: '2026-12-31T22:59:59Z',
    start: '2026-12-01T00:00:00+01:00',
    end: '2027-01-01T00:00:00+01:00',
  },
  {
    name: 'Budapest new year already',
    zone: 'Europe/Budapest',
    size: 'MONTH',
    at: '2026-12-31T23:00:00Z',
    start: '2027-01-01T00:00:00+01:00',
    end: '2027-02-01T00:00:00+01:00',
  },

  // America/New_York: forward 2026-03-08 02:00 EST -> 03:00 EDT, back 2026-11-01 02:00 EDT -> 01:00 EST.
  {
    name: 'New York 23-hour day',
    zone: 'America/New_York',
    size: 'DAY',
    at: '2026-03-08T12:00:00Z',
    start: '2026-03-08T00:00:00-05:00',
    end: '2026-03-09T00:00:00-04:00',
    hours: 23,
  },
  {
    name: 'New York 25-hour day',
    zone: 'America/New_York',
    size: 'DAY',
    at: '2026-11-01T12:00:00Z',
    start: '2026-11-01T00:00:00-04:00',
    end: '2026-11-02T00:00:00-05:00',
    hours: 25,
  },
  {
    name: 'New York 25-hour day, last ms',
    zone: 'America/New_York',
    size: 'DAY',
    at: '2026-11-02T04:59:59.999Z',
    start: '2026-11-01T00:00:00-04:00',
    end: '2026-11-02T00:00:00-05:00',
  },
  {
    name: 'New York first 01:00 hour (EDT)',
    zone: 'America/New_York',
    size: 'HOUR',
    at: '2026-11-01T05:30:00Z',
    start: '2026-11-01T01:00:00-04:00',
    end: '2026-11-01T01:00:00-05:00',
    hours: 1,
  },
  {
    name: 'New York second 01:00 hour (EST)',
    zone: 'America/New_York',
    size: 'HOUR',
    at: '2026-11-01T06:30:00Z',
    start: '2026-11-01T01:00:00-05:00',
    end: '2026-11-01T02:00:00-05:00',
    hours: 1,
  },
  {
    name: 'New York hour before the spring gap',
    zone: 'America/New_York',
    size: 'HOUR',
    at: '2026-03-08T06:59:59Z',
    start: '2026-03-08T01:00:00-05:00',
    end: '2026-03-08T03:00:00-04:00',
    hours: 1,
  },
  {
    name: 'New York hour after the spring gap',
    zone: 'America/New_York',
    size: 'HOUR',
    at: '2026-03-08T07:00:00Z',
    start: '2026-03-08T03:00:00-04:00',
    end: '2026-03-08T04:00:00-04:00',
  },
  {
    name: 'New York November (30 days + 1 hour)',
    zone: 'America/New_York',
    size: 'MONTH',
    at: '2026-11-15T00:00:00Z',
    start: '2026-11-01T00:00:00-04:00',
    end: '2026-12-01T00:00:00-05:00',
    hours: 30 * 24 + 1,
  },

  // Asia/Kathmandu, +05:45 all year: hours start at :15 UTC, days at 18:15 UTC.
  {
    name: 'Kathmandu hour starts at :15 UTC',
    zone: 'Asia/Kathmandu',
    size: 'HOUR',
    at: '2026-11-01T10:00:00Z',
    start: '2026-11-01T15:00:00+05:45',
    end: '2026-11-01T16:00:00+05:45',
  },
  {
    name: 'Kathmandu hour, last ms',
    zone: 'Asia/Kathmandu',
    size: 'HOUR',
    at: '2026-11-01T10:14:59.999Z',
    start: '2026-11-01T15:00:00+05:45',
    end: '2026-11-01T16:00:00+05:45',
  },
  {
    name: 'Kathmandu hour, exact start',
    zone: 'Asia/Kathmandu',
    size: 'HOUR',
    at: '2026-11-01T10:15:00Z',
    start: '2026-11-01T10:15:00Z',
    end: '2026-11-01T11:15:00Z',
  },
  {
    name: 'Kathmandu minute',
    zone: 'Asia/Kathmandu',
    size: 'MINUTE',
    at: '2026-11-01T10:15:59.999Z',
    start: '2026-11-01T16:00:00+05:45',
    end: '2026-11-01T16:01:00+05:45',
  },
  {
    name: 'Kathmandu day, last ms',
    zone: 'Asia/Kathmandu',
    size: 'DAY',
    at: '2026-11-01T18:14:59.999Z',
    start: '2026-10-31T18:15:00Z',
    end: '2026-11-01T18:15:00Z',
    hours: 24,
  },
  {
    name: 'Kathmandu day, first instant',
    zone: 'Asia/Kathmandu',
    size: 'DAY',
    at: '2026-11-01T18:15:00Z',
    start: '2026-11-02T00:00:00+05:45',
    end: '2026-11-03T00:00:00+05:45',
  },
  {
    name: 'Kathmandu December',
    zone: 'Asia/Kathmandu',
    size: 'MONTH',
    at: '2026-11-30T18:15:00Z',
    start: '2026-12-01T00:00:00+05:45',
    end: '2027-01-01T00:00:00+05:45',
  },
  // 1986-01-01: +05:30 -> +05:45 at local midnight (the clock jumps 00:00 -> 00:15): that hour is 45 minutes long.
  {
    name: 'Kathmandu 1986 offset change: a 45-minute hour',
    zone: 'Asia/Kathmandu',
    size: 'HOUR',
    at: '1985-12-31T18:40:00Z',
    start: '1985-12-31T18:30:00Z',
    end: '1986-01-01T01:00:00+05:45',
  },
  {
    name: 'Kathmandu 1985: hours started at :30 UTC',
    zone: 'Asia/Kathmandu',
    size: 'HOUR',
    at: '1985-12-31T18:29:59Z',
    start: '1985-12-31T23:00:00+05:30',
    end: '1986-01-01T00:00:00+05:30',
  },

  // America/St_Johns: -03:30 (NST), -02:30 (NDT) from 2026-03-08 02:00 to 2026-11-01 02:00 local.
  {
    name: 'St Johns winter hour starts at :30 UTC',
    zone: 'America/St_Johns',
    size: 'HOUR',
    at: '2026-12-01T12:00:00Z',
    start: '2026-12-01T08:00:00-03:30',
    end: '2026-12-01T09:00:00-03:30',
  },
  {
    name: 'St Johns summer hour',
    zone: 'America/St_Johns',
    size: 'HOUR',
    at: '2026-07-01T12:29:59Z',
    start: '2026-07-01T09:00:00-02:30',
    end: '2026-07-01T10:00:00-02:30',
  },
  {
    name: 'St Johns day, last ms of November 30',
    zone: 'America/St_Johns',
    size: 'DAY',
    at: '2026-12-01T03:29:59.999Z',
    start: '2026-11-30T00:00:00-03:30',
    end: '2026-12-01T00:00:00-03:30',
  },
  {
    name: 'St Johns 25-hour day',
    zone: 'America/St_Johns',
    size: 'DAY',
    at: '2026-11-01T12:00:00Z',
    start: '2026-11-01T00:00:00-02:30',
    end: '2026-11-02T00:00:00-03:30',
    hours: 25,
  },
  {
    name: 'St Johns December',
    zone: 'America/St_Johns',
    size: 'MONTH',
    at: '2026-12-15T00:00:00Z',
    start: '2026-12-01T00:00:00-03:30',
    end: '2027-01-01T00:00:00-03:30',
  },

  // America/Sao_Paulo: -03:00 (no DST since 2019; in 2018 the clocks jumped from 00:00 to 01:00 on November 4).
  {
    name: 'Sao Paulo day',
    zone: 'America/Sao_Paulo',
    size: 'DAY',
    at: '2026-05-01T02:59:59Z',
    start: '2026-04-30T00:00:00-03:00',
    end: '2026-05-01T00:00:00-03:00',
  },
  {
    name: 'Sao Paulo June',
    zone: 'America/Sao_Paulo',
    size: 'MONTH',
    at: '2026-06-30T12:00:00Z',
    start: '2026-06-01T00:00:00-03:00',
    end: '2026-07-01T00:00:00-03:00',
  },
  {
    name: 'Sao Paulo 2018: a day without midnight starts at 01:00',
    zone: 'America/Sao_Paulo',
    size: 'DAY',
    at: '2018-11-04T12:00:00Z',
    start: '2018-11-04T01:00:00-02:00',
    end: '2018-11-05T00:00:00-02:00',
    hours: 23,
  },
];

describe('WindowPlan: start and end of the window holding an instant', () => {
  for (const c of WINDOW_CASES) {
    test(`${c.name} (${c.zone} ${c.size})`, () => {
      const at = ms(c.at);
      const plan = planAround(c.size, c.zone, at);
      const start = plan.start(at);
      assert.equal(iso(start), iso(ms(c.start)), 'start');
      assert.equal(iso(plan.end(start)), iso(ms(c.end)), 'end');
      assert.ok(start <= at && at < plan.end(start), 'the window holds the instant');
      if (c.hours !== undefined) assert.equal((plan.end(start) - start) / HOUR, c.hours, 'length in hours');
      // Every instant of the window has the same key, and the instant just before belongs to another window (a
      // plan only keys instants of its span: give it one that covers the whole window and its neighbours).
      const wide = new WindowPlan(c.size, c.zone, ms(c.start) - 3 * 86_400_000, ms(c.end) + 3 * 86_400_000);
      assert.equal(wide.keyOf(start), wide.keyOf(at));
      assert.equal(wide.keyOf(plan.end(start) - 1), wide.keyOf(at));
      assert.notEqual(wide.keyOf(start - 1), wide.keyOf(at));
      assert.notEqual(wide.keyOf(plan.end(start)), wide.keyOf(at));
      assert.equal(wide.startOfKey(wide.keyOf(at)), start);
      assert.equal(plan.startOfKey(plan.keyOf(at)), start);
    });
  }
});

describe('WindowPlan.keyOf: the keys a store groups by', () => {
  test('DAY key is the local day number, MONTH key is yyyymm (leap day 2028-02-29 is day 21243)', () => {
    // 1970-01-01 .. 2028-01-01: 58 years, 14 of them leap (1972 .. 2024): 58 * 365 + 14 = 21184; + 31 + 28 = 21243.
    const utcDay = new WindowPlan('DAY', 'UTC', ms('2028-02-01T00:00:00Z'), ms('2028-04-01T00:00:00Z'));
    assert.equal(utcDay.keyOf(ms('2028-02-29T00:00:00Z')), 21243);
    assert.equal(utcDay.keyOf(ms('2028-02-29T23:59:59.999Z')), 21243);
    assert.equal(utcDay.keyOf(ms('2028-03-01T00:00:00Z')), 21244);
    assert.equal(utcDay.keyOf(ms('1970-01-01T00:00:00Z')), 0);
    assert.equal(utcDay.keyOf(ms('1969-12-31T23:59:59.999Z')), -1);
    const budDay = new WindowPlan('DAY', 'Europe/Budapest', ms('2028-02-01T00:00:00Z'), ms('2028-04-01T00:00:00Z'));
    assert.equal(budDay.keyOf(ms('2028-02-28T23:00:00Z')), 21243, '00:00+01:00 is already Feb 29 in Budapest');
    assert.equal(budDay.keyOf(ms('2028-02-28T22:59:59.999Z')), 21242);
    const month = new WindowPlan('MONTH', 'UTC', ms('2028-01-01T00:00:00Z'), ms('2028-04-01T00:00:00Z'));
    assert.equal(month.keyOf(ms('2028-02-29T12:00:00Z')), 202802);
    assert.equal(month.keyOf(ms('2028-03-01T00:00:00Z')), 202803);
    const kathMonth = new WindowPlan('MONTH', 'Asia/Kathmandu', ms('2026-11-01T00:00:00Z'), ms('2027-01-05T00:00:00Z'));
    assert.equal(kathMonth.keyOf(ms('2026-12-31T18:14:59Z')), 202612);
    assert.equal(kathMonth.keyOf(ms('2026-12-31T18:15:00Z')), 202701);
  });

  test('MINUTE and HOUR keys are the window start in epoch ms', () => {
    const hour = new WindowPlan('HOUR', 'Asia/Kathmandu', ms('2026-11-01T00:00:00Z'), ms('2026-11-02T00:00:00Z'));
    assert.equal(hour.keyOf(ms('2026-11-01T10:00:00Z')), ms('2026-11-01T09:15:00Z'));
    const minute = new WindowPlan('MINUTE', 'America/St_Johns', ms('2026-11-01T00:00:00Z'), ms('2026-11-02T00:00:00Z'));
    assert.equal(minute.keyOf(ms('2026-11-01T10:00:59.999Z')), ms('2026-11-01T10:00:00Z'));
  });

  test('the two 02:00 hours of the Budapest autumn night have different keys', () => {
    const plan = new WindowPlan('HOUR', 'Europe/Budapest', ms('2026-10-24T00:00:00Z'), ms('2026-10-26T00:00:00Z'));
    const first = plan.keyOf(ms('2026-10-25T00:59:59Z'));
    const second = plan.keyOf(ms('2026-10-25T01:00:00Z'));
    assert.notEqual(first, second);
    assert.equal(first, ms('2026-10-25T00:00:00Z'));
    assert.equal(second, ms('2026-10-25T01:00:00Z'));
  });
});

interface RangeCase {
  name: string;
  zone: string;
  size: WindowSize;
  from: string;
  to: string;
  /** [start, end] of every window, in order. */
  windows: Array<[string, string]>;
}

const RANGE_CASES: RangeCase[] = [
  {
    name: 'unaligned from and to: partial first and last hour',
    zone: 'UTC',
    size: 'HOUR',
    from: '2026-11-01T10:30:00Z',
    to: '2026-11-01T13:15:00Z',
    windows: [
      ['2026-11-01T10:00:00Z', '2026-11-01T11:00:00Z'],
      ['2026-11-01T11:00:00Z', '2026-11-01T12:00:00Z'],
      ['2026-11-01T12:00:00Z', '2026-11-01T13:00:00Z'],
      ['2026-11-01T13:00:00Z', '2026-11-01T14:00:00Z'],
    ],
  },
  {
    name: 'to is exclusive: an aligned to adds no window',
    zone: 'UTC',
    size: 'HOUR',
    from: '2026-11-01T10:00:00Z',
    to: '2026-11-01T13:00:00Z',
    windows: [
      ['2026-11-01T10:00:00Z', '2026-11-01T11:00:00Z'],
      ['2026-11-01T11:00:00Z', '2026-11-01T12:00:00Z'],
      ['2026-11-01T12:00:00Z', '2026-11-01T13:00:00Z'],
    ],
  },
  {
    name: 'Budapest days around the autumn change: 24, 25, 24 hours',
    zone: 'Europe/Budapest',
    size: 'DAY',
    from: '2026-10-24T00:00:00+02:00',
    to: '2026-10-27T00:00:00+01:00',
    windows: [
      ['2026-10-24T00:00:00+02:00', '2026-10-25T00:00:00+02:00'],
      ['2026-10-25T00:00:00+02:00', '2026-10-26T00:00:00+01:00'],
      ['2026-10-26T00:00:00+01:00', '2026-10-27T00:00:00+01:00'],
    ],
  },
  {
    name: 'Budapest local 01:00 -> 04:00 on the autumn night is four hour windows',
    zone: 'Europe/Budapest',
    size: 'HOUR',
    from: '2026-10-25T01:00:00+02:00',
    to: '2026-10-25T04:00:00+01:00',
    windows: [
      ['2026-10-25T01:00:00+02:00', '2026-10-25T02:00:00+02:00'],
      ['2026-10-25T02:00:00+02:00', '2026-10-25T02:00:00+01:00'],
      ['2026-10-25T02:00:00+01:00', '2026-10-25T03:00:00+01:00'],
      ['2026-10-25T03:00:00+01:00', '2026-10-25T04:00:00+01:00'],
    ],
  },
  {
    name: 'New York local 00:00 -> 04:00 on the spring night is three hour windows',
    zone: 'America/New_York',
    size: 'HOUR',
    from: '2026-03-08T00:00:00-05:00',
    to: '2026-03-08T04:00:00-04:00',
    windows: [
      ['2026-03-08T00:00:00-05:00', '2026-03-08T01:00:00-05:00'],
      ['2026-03-08T01:00:00-05:00', '2026-03-08T03:00:00-04:00'],
      ['2026-03-08T03:00:00-04:00', '2026-03-08T04:00:00-04:00'],
    ],
  },
  {
    name: 'Kathmandu days from an unaligned from',
    zone: 'Asia/Kathmandu',
    size: 'DAY',
    from: '2026-11-01T12:00:00Z',
    to: '2026-11-02T18:15:00Z',
    windows: [
      ['2026-11-01T00:00:00+05:45', '2026-11-02T00:00:00+05:45'],
      ['2026-11-02T00:00:00+05:45', '2026-11-03T00:00:00+05:45'],
    ],
  },
  {
    name: 'UTC months over the leap February',
    zone: 'UTC',
    size: 'MONTH',
    from: '2028-01-15T00:00:00Z',
    to: '2028-03-10T00:00:00Z',
    windows: [
      ['2028-01-01T00:00:00Z', '2028-02-01T00:00:00Z'],
      ['2028-02-01T00:00:00Z', '2028-03-01T00:00:00Z'],
      ['2028-03-01T00:00:00Z', '2028-04-01T00:00:00Z'],
    ],
  },
  {
    // The month began before the DST change and `from` lies days after it.
    name: 'Budapest months from a from after the autumn change',
    zone: 'Europe/Budapest',
    size: 'MONTH',
    from: '2026-10-28T00:00:00Z',
    to: '2026-11-05T00:00:00Z',
    windows: [
      ['2026-10-01T00:00:00+02:00', '2026-11-01T00:00:00+01:00'],
      ['2026-11-01T00:00:00+01:00', '2026-12-01T00:00:00+01:00'],
    ],
  },
  {
    name: 'New York months from a from after the spring change',
    zone: 'America/New_York',
    size: 'MONTH',
    from: '2026-03-20T00:00:00Z',
    to: '2026-04-02T00:00:00Z',
    windows: [
      ['2026-03-01T00:00:00-05:00', '2026-04-01T00:00:00-04:00'],
      ['2026-04-01T00:00:00-04:00', '2026-05-01T00:00:00-04:00'],
    ],
  },
  {
    name: 'St Johns hours from an unaligned from',
    zone: 'America/St_Johns',
    size: 'HOUR',
    from: '2026-12-01T12:00:00Z',
    to: '2026-12-01T13:30:00Z',
    windows: [
      ['2026-12-01T11:30:00Z', '2026-12-01T12:30:00Z'],
      ['2026-12-01T12:30:00Z', '2026-12-01T13:30:00Z'],
    ],
  },
];

describe('WindowPlan.windows: every window overlapping [from, to)', () => {
  for (const c of RANGE_CASES) {
    test(`${c.name} (${c.zone} ${c.size})`, () => {
      const from = ms(c.from),
        to = ms(c.to);
      const plan = new WindowPlan(c.size, c.zone, from, to);
      const got: Array<[string, string]> = [];
      for (const w of plan.windows(from, to)) {
        got.push([iso(w), iso(plan.end(w))]);
        if (got.length > 100) break; // a window that does not advance would loop forever
      }
      assert.deepEqual(
        got,
        c.windows.map(([s, e]) => [iso(ms(s)), iso(ms(e))]),
      );
    });
  }
});

describe('zoneOffsetMinutes', () => {
  test('offsets between -01:00 and 00:00 keep their sign (Monrovia until 1972, Dublin before 1916)', () => {
    assert.equal(zoneOffsetMinutes('Africa/Monrovia', Date.UTC(1960, 2, 1)), -44); // -00:44:30
    assert.equal(zoneOffsetMinutes('Europe/Dublin', Date.UTC(1900, 5, 1)), -25); // -00:25:21
    assert.equal(zoneOffsetMinutes('Africa/Monrovia', Date.UTC(1980, 0, 1)), 0);
    assert.equal(zoneOffsetMinutes('Asia/Kathmandu', Date.UTC(1910, 0, 1)), 341); // +05:41:16
    assert.equal(zoneOffsetMinutes('America/St_Johns', Date.UTC(2026, 0, 1)), -210);
  });

  test('every zone at seeded instants since 1850: the offset of its wall clock, rounded to the minute', () => {
    const seed = runSeed();
    const rng = new Rng(seed);
    const problems: string[] = [];
    for (const zone of Intl.supportedValuesOf('timeZone')) {
      for (let i = 0; i < 12; i++) {
        const ms = rng.int(Date.UTC(1850, 0, 1) / 1000, Date.UTC(2035, 0, 1) / 1000) * 1000;
        // The reference model's offset: the platform's wall clock in the zone, against the instant.
        const expected = offsetMinutes(zone, ms);
        const got = zoneOffsetMinutes(zone, ms);
        if (got !== expected) problems.push(`${zone} at ${new Date(ms).toISOString()}: ${got}, expected ${expected}`);
      }
    }
    assert.deepEqual(problems.slice(0, 10), [], `seed ${seed} (METER_SEED=${seed} reproduces)`);
  });
});

describe('offsetSegments', () => {
  const cases: Array<{ zone: string; from: string; to: string; segments: Array<[string | null, number]> }> = [
    { zone: 'UTC', from: '2026-01-01T00:00:00Z', to: '2027-01-01T00:00:00Z', segments: [[null, 0]] },
    { zone: 'Asia/Kathmandu', from: '2026-01-01T00:00:00Z', to: '2027-01-01T00:00:00Z', segments: [[null, 345]] },
    { zone: 'America/Sao_Paulo', from: '2026-01-01T00:00:00Z', to: '2027-01-01T00:00:00Z', segments: [[null, -180]] },
    {
      zone: 'Europe/Budapest',
      from: '2026-01-01T00:00:00Z',
      to: '2027-01-01T00:00:00Z',
      segments: [
        [null, 60],
        ['2026-03-29T01:00:00Z', 120],
        ['2026-10-25T01:00:00Z', 60],
      ],
    },
    {
      zone: 'America/New_York',
      from: '2026-01-01T00:00:00Z',
      to: '2027-01-01T00:00:00Z',
      segments: [
        [null, -300],
        ['2026-03-08T07:00:00Z', -240],
        ['2026-11-01T06:00:00Z', -300],
      ],
    },
    {
      zone: 'America/St_Johns',
      from: '2026-01-01T00:00:00Z',
      to: '2027-01-01T00:00:00Z',
      segments: [
        [null, -210],
        ['2026-03-08T05:30:00Z', -150],
        ['2026-11-01T04:30:00Z', -210],
      ],
    },
    {
      zone: 'Europe/Budapest',
      from: '2026-10-24T00:00:00Z',
      to: '2026-10-26T00:00:00Z',
      segments: [
        [null, 120],
        ['2026-10-25T01:00:00Z', 60],
      ],
    },
    {
      zone: 'Europe/Budapest',
      from: '2026-06-01T00:00:00Z',
      to: '2026-06-30T00:00:00Z',
      segments: [[null, 120]],
    },
  ];
  test('an offset that lasted less than a week is found from any start (Recife, Noronha, Boa Vista: October 2000)', () => {
    const seed = runSeed();
    const rng = new Rng(seed);
    const to = ms('2000-11-01T00:00:00Z');
    for (const zone of ['America/Recife', 'America/Noronha', 'America/Boa_Vista']) {
      for (let i = 0; i < 20; i++) {
        const from = ms('2000-09-01T00:00:00Z') + rng.int(0, 40 * 24) * 3_600_000;
        const segments = offsetSegments(zone, from, to);
        const at = (t: number) => {
          let offset = segments[0]!.offsetMs;
          for (const s of segments) if (s.start <= t) offset = s.offsetMs;
          return offset / 60_000;
        };
        for (let t = from; t < to; t += 3_600_000) {
          assert.equal(at(t), offsetMinutes(zone, t), `seed ${seed}: ${zone} from ${iso(from)}, at ${iso(t)}`);
        }
      }
    }
  });
  for (const c of cases) {
    test(`${c.zone} ${c.from} .. ${c.to}`, () => {
      const got = offsetSegments(c.zone, ms(c.from), ms(c.to)).map((s) => [
        s.start === -Infinity ? null : iso(s.start),
        s.offsetMs / 60_000,
      ]);
      assert.deepEqual(
        got,
        c.segments.map(([s, o]) => [s === null ? null : iso(ms(s)), o]),
      );
    });
  }
});

describe('localToUtc: wall-clock time -> first instant showing it', () => {
  const cases: Array<{ zone: string; local: string; utc: string; why: string }> = [
    { zone: 'UTC', local: '2026-11-01T10:00:00', utc: '2026-11-01T10:00:00Z', why: 'UTC' },
    { zone: 'Europe/Budapest', local: '2026-07-01T00:00:00', utc: '2026-06-30T22:00:00Z', why: 'summer time' },
    { zone: 'Europe/Budapest', local: '2026-12-01T00:00:00', utc: '2026-11-30T23:00:00Z', why: 'winter time' },
    { zone: 'Europe/Budapest', local: '2026-10-25T02:30:00', utc: '2026-10-25T00:30:00Z', why: 'ambiguous: the first 02:30' },
    { zone: 'Europe/Budapest', local: '2026-03-29T02:30:00', utc: '2026-03-29T01:00:00Z', why: 'in the gap: when the clocks jump' },
    { zone: 'America/New_York', local: '2026-11-01T01:30:00', utc: '2026-11-01T05:30:00Z', why: 'ambiguous: the first 01:30' },
    { zone: 'America/New_York', local: '2026-03-08T02:30:00', utc: '2026-03-08T07:00:00Z', why: 'in the gap' },
    { zone: 'Asia/Kathmandu', local: '2026-11-01T00:00:00', utc: '2026-10-31T18:15:00Z', why: '+05:45' },
    { zone: 'America/St_Johns', local: '2026-12-01T00:00:00', utc: '2026-12-01T03:30:00Z', why: '-03:30' },
    { zone: 'America/St_Johns', local: '2026-07-01T00:00:00', utc: '2026-07-01T02:30:00Z', why: '-02:30' },
    { zone: 'America/Sao_Paulo', local: '2026-05-01T00:00:00', utc: '2026-05-01T03:00:00Z', why: '-03:00' },
    { zone: 'America/Sao_Paulo', local: '2018-11-04T00:00:00', utc: '2018-11-04T03:00:00Z', why: 'midnight in the gap' },
  ];
  for (const c of cases) {
    test(`${c.zone} ${c.local} (${c.why})`, () => {
      assert.equal(iso(localToUtc(c.zone, ms(c.local + 'Z'))), iso(ms(c.utc)));
    });
  }
});

describe('window sizes and zones', () => {
  test('parseWindowSize accepts the names and the -ly forms, case-insensitively', () => {
    const table: Array<[string, WindowSize | undefined]> = [
      ['minute', 'MINUTE'],
      ['minutely', 'MINUTE'],
      ['hour', 'HOUR'],
      ['hourly', 'HOUR'],
      ['HOUR', 'HOUR'],
      ['day', 'DAY'],
      ['Daily', 'DAY'],
      ['month', 'MONTH'],
      ['monthly', 'MONTH'],
      ['week', undefined],
      ['', undefined],
      ['hours', undefined],
      ['constructor', undefined],
      ['toString', undefined],
    ];
    for (const [name, want] of table) assert.equal(parseWindowSize(name), want, name);
  });

  test('checkTimeZone accepts IANA names and UTC, rejects others with a usage error', () => {
    for (const z of ['UTC', 'Etc/UTC', 'Europe/Budapest', 'Asia/Kathmandu', 'America/St_Johns', 'GMT', 'US/Eastern', 'Asia/Calcutta'])
      assert.equal(checkTimeZone(z), z);
    // Names are case-sensitive, as OpenMeter's zone files are: the message gives the right spelling.
    for (const [z, named] of [
      ['europe/budapest', 'Europe/Budapest'],
      ['utc', 'UTC'],
      ['AMERICA/NEW_YORK', 'America/New_York'],
    ]) {
      assert.throws(
        () => checkTimeZone(z!),
        (e: unknown) => e instanceof UsageError && (e as Error).message.endsWith(`did you mean ${named}?`),
        z,
      );
    }
    for (const z of ['Mars/Olympus', 'Europe/Budapest; DROP TABLE events', '']) {
      assert.throws(
        () => checkTimeZone(z),
        (e: unknown) => e instanceof UsageError && /time zone/.test((e as Error).message),
        z,
      );
    }
  });
});

describe('query bounds without an offset', () => {
  test('are wall-clock time in the zone: a skipped time is the first instant after the gap, a repeated one the first pass', () => {
    const at = (text: string, zone: string) => new Date(parseQueryTime(text, zone, '--from')).toISOString();
    assert.equal(at('2026-11-01T06:00', 'UTC'), '2026-11-01T06:00:00.000Z');
    assert.equal(at('2026-11-01T06:00', 'Europe/Budapest'), '2026-11-01T05:00:00.000Z');
    assert.equal(at('2026-11-01', 'Asia/Kathmandu'), '2026-10-31T18:15:00.000Z');
    // Clocks went from 02:00 to 03:00 (+01:00 to +02:00): 02:30 never happened, 03:00+02:00 is next.
    assert.equal(at('2026-03-29T02:30:00', 'Europe/Budapest'), '2026-03-29T01:00:00.000Z');
    // Clocks went from 03:00 back to 02:00: 02:30 happened at +02:00, then at +01:00.
    assert.equal(at('2026-10-25T02:30:00', 'Europe/Budapest'), '2026-10-25T00:30:00.000Z');
    // An offset names the instant whatever the zone.
    assert.equal(at('2026-11-01T06:00:00Z', 'Europe/Budapest'), '2026-11-01T06:00:00.000Z');
  });

  test('a bound of the right form with a field out of range says which field', () => {
    for (const [text, why] of [
      ['2026-13-01', 'there is no month 13'],
      ['2026-00-01', 'there is no month 00'],
      ['2026-02-29', '2026-02 has no day 29'],
      ['2026-04-31T10:00', '2026-04 has no day 31'],
      ['2026-02-03T24:00', 'there is no hour 24 (00-23)'],
      ['2026-02-03T23:60', 'there is no minute 60 (00-59)'],
      ['2026-02-03 23:59:60', 'there is no second 60 (00-59)'],
    ]) {
      assert.throws(
        () => parseQueryTime(text!, 'UTC', '--from'),
        (e: unknown) => (e as Error).message === `--from "${text}": not a time: ${why}`,
        text,
      );
    }
    assert.equal(new Date(parseQueryTime('2024-02-29', 'UTC', '--from')).toISOString(), '2024-02-29T00:00:00.000Z');
    assert.throws(() => parseQueryTime('2026-11-01x', 'UTC', '--from'), /not a time; use RFC 3339/);
  });
});
