/**
 * Time edge cases: events at the exact --from and --to instants (from inclusive, to exclusive), sub-millisecond
 * fractions, leap days, year 9999 and year 0000, before 1970, local mean time offsets, and far-future events,
 * which ingest reports (a producer with a wrong clock is a billing risk).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { Workdir, csvRows, line, type RunResult } from './helpers.js';

const workdirs: Workdir[] = [];
function workdir(name: string): Workdir {
  const w = new Workdir(name);
  workdirs.push(w);
  w.write('meter.yaml', 'meters:\n  - slug: tokens\n    eventType: prompt\n    aggregation: SUM\n    valueProperty: $.tokens\n');
  return w;
}
after(() => workdirs.forEach((w) => w.remove()));

let seq = 0;
/** An event at `time` with `tokens`; tokens are powers of two in the tests, so a total names its events. */
function at(time: string, tokens: number, subject = 'acme'): string {
  return line({ id: `t${seq++}`, time, subject, data: { tokens } });
}

function ingest(w: Workdir, lines: string[], extra: string[] = []): { r: RunResult; summary: Record<string, number> } {
  w.write('e.ndjson', lines);
  const r = w.run(['ingest', 'e.ndjson', '--json', '--rejects', 'rejects.ndjson', ...extra]);
  assert.ok(r.code === 0 || r.code === 3, r.describe());
  return { r, summary: JSON.parse(r.stdout) };
}

/** Rows of a CSV query: [window_start, window_end, value] per row (subject column dropped). */
function q(w: Workdir, args: string[]): string[][] {
  const r = w.run(['query', '--all-subjects', '--format', 'csv', ...args]);
  assert.equal(r.code, 0, r.describe());
  return csvRows(r.stdout)
    .slice(1)
    .map((x) => [x[0]!, x[1]!, x.at(-1)!]);
}

function total(w: Workdir, args: string[]): string {
  const rows = q(w, args);
  assert.ok(rows.length <= 1, JSON.stringify(rows));
  return rows[0]?.[2] ?? '0';
}

function storedMs(w: Workdir): Map<number, number> {
  const d = new Database(w.path('meter.db'), { readonly: true });
  const rows = d.prepare("SELECT json_extract(data, '$.tokens') AS t, time_ms AS ms FROM events").all() as Array<{ t: number; ms: number }>;
  d.close();
  return new Map(rows.map((r) => [r.t, r.ms]));
}

describe('time edge cases', () => {
  test('from is inclusive and to is exclusive, to the millisecond, in every form of the bounds', () => {
    const w = workdir('time-bounds');
    // 1: from-1ms  2: from  4: from+1ms  8: to-1ms  16: to  32: to+1ms; 64 and 128 sit a sub-millisecond before
    // from and to, which truncation keeps before them.
    ingest(w, [
      at('2026-10-31T23:59:59.999Z', 1),
      at('2026-11-01T00:00:00Z', 2),
      at('2026-11-01T00:00:00.001Z', 4),
      at('2026-11-30T23:59:59.999Z', 8),
      at('2026-12-01T00:00:00.000Z', 16),
      at('2026-12-01T00:00:00.001Z', 32),
      at('2026-10-31T23:59:59.9999999Z', 64),
      at('2026-11-30T23:59:59.999999999Z', 128),
    ]);
    const inside = String(2 + 4 + 8 + 128);
    for (const [from, to] of [
      ['2026-11-01T00:00:00Z', '2026-12-01T00:00:00Z'],
      ['2026-11-01T00:00:00.000Z', '2026-12-01T00:00:00.000000Z'],
      ['2026-11-01T01:00:00+01:00', '2026-11-30T19:00:00-05:00'],
      ['2026-11-01', '2026-12-01'],
      ['2026-11-01t00:00:00z', '2026-12-01t00:00:00z'],
    ]) {
      assert.equal(total(w, ['--from', from!, '--to', to!]), inside, `--from ${from} --to ${to}`);
    }
    // The same bounds with windows: the event at `to` is in no window, the one at `from` is in the first.
    assert.deepEqual(q(w, ['--from', '2026-11-01', '--to', '2026-12-01', '-w', 'month']), [
      ['2026-11-01T00:00:00Z', '2026-12-01T00:00:00Z', inside],
    ]);
    const days = q(w, ['--from', '2026-11-01', '--to', '2026-12-01', '-w', 'day']);
    assert.deepEqual(
      days.map((r) => r[2]),
      ['6', '136'],
    );
    assert.equal(days[0]![0], '2026-11-01T00:00:00Z');
    assert.equal(days[1]![1], '2026-12-01T00:00:00Z');
    // A one-millisecond range holds exactly the event at its start.
    assert.equal(total(w, ['--from', '2026-11-01T00:00:00Z', '--to', '2026-11-01T00:00:00.001Z']), '2');
    assert.equal(total(w, ['--from', '2026-12-01T00:00:00Z', '--to', '2026-12-01T00:00:00.001Z']), '16');
    // events --from/--to follow the same rule.
    const ev = w.run(['events', '--from', '2026-11-01T00:00:00Z', '--to', '2026-12-01T00:00:00Z', '--format', 'ndjson', '-n', '100']);
    assert.equal(ev.code, 0, ev.describe());
    const tokens = ev.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l).data.tokens as number)
      .sort((a, b) => a - b);
    assert.deepEqual(tokens, [2, 4, 8, 128]);
    // An empty range is an error, not an empty answer.
    for (const [from, to] of [
      ['2026-11-01T00:00:00Z', '2026-11-01T00:00:00Z'],
      ['2026-11-01T00:00:00.001Z', '2026-11-01T00:00:00Z'],
    ]) {
      const r = w.run(['query', '--from', from!, '--to', to!]);
      assert.equal(r.code, 2, r.describe());
    }
  });

  test('leap days: 29 February exists in 2024, 2000 and 2028, not in 2026, 1900 or 2100', () => {
    const w = workdir('time-leap');
    const { summary } = ingest(w, [
      at('2024-02-29T12:00:00Z', 1),
      at('2000-02-29T23:59:59.999Z', 2),
      at('2028-02-29T00:00:00Z', 4),
      at('2024-02-28T23:59:59.999Z', 8),
      at('2024-03-01T00:00:00Z', 16),
      at('2026-02-29T00:00:00Z', 32),
      at('1900-02-29T00:00:00Z', 64),
      at('2100-02-29T00:00:00Z', 128),
      at('2024-02-30T00:00:00Z', 256),
    ]);
    assert.equal(summary.inserted, 5);
    assert.equal(summary.rejected, 4);
    const rejects = w
      .read('rejects.ndjson')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { error: string });
    for (const r of rejects) assert.match(r.error, /^time: ".*" has day (29|30), not a day of/);
    assert.deepEqual(q(w, ['-w', 'day', '--from', '2024-02-28', '--to', '2024-03-02', '--fill']), [
      ['2024-02-28T00:00:00Z', '2024-02-29T00:00:00Z', '8'],
      ['2024-02-29T00:00:00Z', '2024-03-01T00:00:00Z', '1'],
      ['2024-03-01T00:00:00Z', '2024-03-02T00:00:00Z', '16'],
    ]);
    assert.deepEqual(q(w, ['-w', 'month', '--from', '2000-02-01', '--to', '2000-03-01']), [
      ['2000-02-01T00:00:00Z', '2000-03-01T00:00:00Z', '2'],
    ]);
    assert.deepEqual(q(w, ['-w', 'month', '--from', '2028-02-01', '--to', '2028-03-01']), [
      ['2028-02-01T00:00:00Z', '2028-03-01T00:00:00Z', '4'],
    ]);
    // In a zone: 2024-02-29T23:30Z is already 1 March in Budapest.
    const w2 = workdir('time-leap-tz');
    ingest(w2, [at('2024-02-29T23:30:00Z', 1), at('2024-02-28T23:30:00Z', 2)]);
    assert.deepEqual(q(w2, ['-w', 'day', '--tz', 'Europe/Budapest']), [
      ['2024-02-29T00:00:00+01:00', '2024-03-01T00:00:00+01:00', '2'],
      ['2024-03-01T00:00:00+01:00', '2024-03-02T00:00:00+01:00', '1'],
    ]);
    // --from 2024-02-29 is a valid date, --from 2026-02-29 is not.
    assert.equal(w.run(['query', '--from', '2024-02-29', '--to', '2024-03-01']).code, 0);
    assert.equal(w.run(['query', '--from', '2026-02-29', '--to', '2026-03-01']).code, 2);
  });

  test('year 9999 and year 0000: stored to the millisecond, windowed, reported as future; beyond them refused', () => {
    const w = workdir('time-9999');
    const { summary } = ingest(w, [
      at('9999-12-31T23:59:59.999Z', 1),
      at('9999-01-01T00:00:00Z', 2),
      at('0000-01-01T00:00:00Z', 4),
      at('0001-03-01T12:00:00+05:00', 8),
      // An offset that pushes the instant past 9999 or before 0000 in UTC.
      at('9999-12-31T23:30:00-01:00', 16),
      at('0000-01-01T00:30:00+01:00', 32),
      // Five-digit and signed years are not RFC 3339.
      at('10000-01-01T00:00:00Z', 64),
      at('+2026-01-01T00:00:00Z', 128),
    ]);
    assert.equal(summary.inserted, 4, JSON.stringify(summary));
    assert.equal(summary.rejected, 4);
    assert.equal(summary.futureTime, 2);
    const rejects = w
      .read('rejects.ndjson')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { error: string; raw: string });
    for (const r of rejects) assert.match(r.error, /^time: /, r.raw);
    const ms = storedMs(w);
    assert.equal(ms.get(1), Date.UTC(9999, 11, 31, 23, 59, 59, 999));
    assert.equal(ms.get(4), -62167219200000);
    assert.equal(ms.get(8), Date.parse('0001-03-01T07:00:00Z'));
    const months = q(w, ['-w', 'month', '--from', '9999-01-01']);
    assert.deepEqual(
      months.map((r) => [r[0], r[2]]),
      [
        ['9999-01-01T00:00:00Z', '2'],
        ['9999-12-01T00:00:00Z', '1'],
      ],
    );
    assert.deepEqual(
      q(w, ['-w', 'day', '--to', '0002-01-01']).map((r) => [r[0], r[1], r[2]]),
      [
        ['0000-01-01T00:00:00Z', '0000-01-02T00:00:00Z', '4'],
        ['0001-03-01T00:00:00Z', '0001-03-02T00:00:00Z', '8'],
      ],
    );
    assert.equal(total(w, ['--from', '9999-12-31T23:59:59.999Z']), '1');
    assert.equal(total(w, ['--to', '0000-01-01T00:00:00.001Z']), '4');
    const ev = w.run(['events', '--format', 'ndjson', '-n', '10']);
    assert.equal(ev.code, 0, ev.describe());
    const times = ev.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l).time as string);
    assert.deepEqual(times, ['9999-12-31T23:59:59.999Z', '9999-01-01T00:00:00Z', '0001-03-01T07:00:00Z', '0000-01-01T00:00:00Z']);
    // Every printed time is RFC 3339 (four-digit years), in every format and zone.
    for (const [fmt, tz, from, to] of [
      ['csv', 'UTC', '0000-01-01', '9999-12-31'],
      ['json', 'UTC', '0000-01-01', '9999-12-31'],
      ['ndjson', 'UTC', '0000-01-01', '9999-12-31'],
      ['csv', 'Asia/Kathmandu', '0001-01-01', '0002-01-01'],
      ['json', 'America/New_York', '0001-01-01', '0002-01-01'],
      ['csv', 'America/New_York', '9998-12-01', '9999-12-31'],
      ['ndjson', 'Asia/Kathmandu', '9998-12-01', '9999-12-31'],
    ]) {
      {
        const r = w.run(['query', '-w', 'day', '--tz', tz!, '--format', fmt!, '--from', from!, '--to', to!]);
        assert.equal(r.code, 0, r.describe());
        const stamps = r.stdout.match(/-?\d+-\d\d-\d\dT[^,"]*/g) ?? [];
        assert.ok(stamps.length > 0);
        for (const s of stamps) assert.match(s, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?(Z|[+-]\d\d:\d\d)$/, `${fmt} ${tz}: ${s}`);
      }
    }
  });

  test('before 1970: negative instants fall in the right windows, to the millisecond', () => {
    const w = workdir('time-1969');
    ingest(w, [
      at('1969-12-31T23:59:59.999Z', 1),
      at('1970-01-01T00:00:00Z', 2),
      at('1969-12-31T23:59:59.9999Z', 4),
      at('1900-01-01T00:00:00Z', 8),
      at('1899-12-31T23:59:59.999Z', 16),
      at('1969-07-20T20:17:40Z', 32),
      at('1970-01-01T00:59:59.999+01:00', 64),
    ]);
    const ms = storedMs(w);
    assert.equal(ms.get(1), -1);
    assert.equal(ms.get(4), -1, 'a sub-millisecond fraction is truncated toward the past, also before 1970');
    assert.equal(ms.get(8), -2208988800000);
    assert.equal(ms.get(64), -1);
    for (const [size, expect] of [
      [
        'minute',
        [
          ['1969-12-31T23:59:00Z', '69'],
          ['1970-01-01T00:00:00Z', '2'],
        ],
      ],
      [
        'hour',
        [
          ['1969-12-31T23:00:00Z', '69'],
          ['1970-01-01T00:00:00Z', '2'],
        ],
      ],
      [
        'day',
        [
          ['1969-12-31T00:00:00Z', '69'],
          ['1970-01-01T00:00:00Z', '2'],
        ],
      ],
      [
        'month',
        [
          ['1969-12-01T00:00:00Z', '69'],
          ['1970-01-01T00:00:00Z', '2'],
        ],
      ],
    ] as const) {
      const rows = q(w, ['-w', size, '--from', '1969-12-01', '--to', '1970-02-01']);
      assert.deepEqual(
        rows.map((r) => [r[0], r[2]]),
        expect,
        size,
      );
    }
    assert.deepEqual(
      q(w, ['-w', 'day', '--from', '1899-12-31', '--to', '1900-01-02']).map((r) => [r[0], r[2]]),
      [
        ['1899-12-31T00:00:00Z', '16'],
        ['1900-01-01T00:00:00Z', '8'],
      ],
    );
    assert.equal(total(w, ['--to', '1970-01-01T00:00:00Z']), String(1 + 4 + 8 + 16 + 32 + 64));
    assert.equal(total(w, ['--from', '1970-01-01T00:00:00Z']), '2');
    assert.deepEqual(
      q(w, ['-w', 'month', '--from', '1969-07-01', '--to', '1969-08-01']).map((r) => r[2]),
      ['32'],
    );
    // In a zone east of UTC, the last millisecond of 1969 UTC is already 1970 local.
    assert.deepEqual(
      q(w, ['-w', 'day', '--tz', 'Europe/Budapest', '--from', '1969-12-31', '--to', '1970-01-02']).map((r) => [r[0], r[2]]),
      [['1970-01-01T00:00:00+01:00', '71']],
    );
  });

  test('local mean time (zones before standard time): windows and printed offsets stay whole minutes', () => {
    const w = workdir('time-lmt');
    // Asia/Kathmandu ran on +05:41:16 until 1920, Europe/Amsterdam on +00:19:32 until 1937, America/New_York on
    // -04:56:02 until 1883.
    ingest(w, [at('1900-01-01T00:00:00Z', 1), at('1900-01-01T12:00:00Z', 2), at('1880-06-01T12:00:00Z', 4), at('1930-06-01T12:00:00Z', 8)]);
    for (const tz of ['Asia/Kathmandu', 'Europe/Amsterdam', 'America/New_York', 'Africa/Monrovia']) {
      for (const size of ['hour', 'day', 'month']) {
        const rows = q(w, ['-w', size, '--tz', tz, '--from', '1870-01-01T00:00:00Z', '--to', '1940-01-01T00:00:00Z']);
        let sum = 0;
        for (const [start, end, value] of rows) {
          for (const s of [start!, end!])
            assert.match(s, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?(Z|[+-]\d\d:\d\d)$/, `${tz} ${size}: ${s}`);
          assert.ok(Date.parse(start!) < Date.parse(end!), `${tz} ${size}: window ${start} .. ${end}`);
          sum += Number(value);
        }
        assert.equal(sum, 15, `${tz} ${size}: every event in exactly one window`);
      }
    }
  });

  test('far-future events are stored and reported: futureTime counts those more than a day ahead', () => {
    const w = workdir('time-future');
    const now = Date.now();
    const iso = (ms: number) => new Date(ms).toISOString();
    const { r, summary } = ingest(w, [
      at(iso(now + 2 * 86_400_000), 1),
      at(iso(now + 23 * 3_600_000), 2),
      at(iso(now - 86_400_000), 4),
      at('9999-12-31T23:59:59.999Z', 8),
      at(iso(now + 400 * 86_400_000), 16),
    ]);
    assert.equal(r.code, 0, r.describe());
    assert.equal(summary.inserted, 5);
    assert.equal(summary.futureTime, 3, r.describe());
    assert.match(r.stderr, /3 event\(s\) are more than a day in the future/);
    // Re-sending them reports nothing new: they are duplicates, not new future events.
    const again = w.run(['ingest', 'e.ndjson', '--json']);
    assert.equal(JSON.parse(again.stdout).futureTime, 0);
    assert.doesNotMatch(again.stderr, /future/);
    // They are billed where their time says.
    assert.equal(total(w, ['--from', iso(now + 86_400_000)]), String(1 + 8 + 16));
  });
});
