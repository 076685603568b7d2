/**
 * Rollups against the events themselves: every query is run twice through the real CLI (in this process), once
 * as it is (reading a rollup where one serves it) and once with --no-rollup, and the two outputs must be
 * byte-equal. Seeded random cases (test/gen.ts: integers, decimals, numeric strings, exponent forms, values past
 * 2^63, hostile subjects, duplicates and conflicts, DST and quarter-hour zones) are ingested in three parts with
 * queries after each, so rollups are built, caught up (in chunks of a few events in half the cases) and merged,
 * or read with the events above their watermark while another connection holds the write lock; ranges are mostly
 * aligned to the quarter hour so that rollups serve them, some not. Also: an ingest running while queries catch up, sums past 2^63, and a
 * changed meter definition.
 *
 * METER_SEED fixes the run (printed), METER_ROLLUP_CASES the number of cases (default 8).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { main } from '../src/cli.js';
import { catchUpLimits } from '../src/store/sqlite/rollup-catchup.js';
import { walLimits } from '../src/store/sqlite/files.js';
import { inKeyOrder } from '../src/store/sqlite/rollup.js';
import { BIN, Workdir } from './helpers.js';
import { genCase, genQuery, metersYaml, queryArgs, Rng, runSeed, shellLine, ZONES, GROUP_BY, METERS } from './gen.js';
import { atPath, groupText, ingest as refIngest, parseBound } from './reference.js';

const SEED = runSeed();
const CASES = Number(process.env.METER_ROLLUP_CASES ?? 8);
const QUERIES = 16;
const REPRO = `reproduce with METER_SEED=${SEED} node --test dist/test/rollup.test.js`;
const MIN15 = 900_000,
  HOUR = 3_600_000,
  DAY = 86_400_000;
/** Zones beyond gen.ts's: +05:30, and one whose offsets are not whole quarter hours in the past. */
const DEFAULT_LIMITS = { ...catchUpLimits };
const MORE_ZONES = ['Asia/Kolkata', 'Africa/Monrovia', 'Pacific/Chatham'];

before(() => console.log(`rollup: seed ${SEED}, ${CASES} cases x 3 parts x ${QUERIES} queries (${REPRO})`));

/** Runs the CLI in this process; its exit code and what it wrote to stderr. */
async function cli(args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string | Uint8Array) => ((stderr += String(s)), true)) as typeof process.stderr.write;
  try {
    return { code: await main([process.execPath, 'meter', ...args]), stderr };
  } finally {
    process.stderr.write = write;
  }
}

/**
 * The output of one query with and without rollups. `locked`: another connection holds the write lock during the
 * rollup query, so its catch-up cannot merge and it reads the rollup with its tail (or the events).
 */
async function both(w: Workdir, args: string[], locked = false): Promise<{ rollup: string; raw: string; errors: string }> {
  const common = [...args, '--db', w.path('meter.db'), '--config', w.path('meter.yaml')];
  const lock = locked ? new Database(w.path('meter.db')) : null;
  lock?.exec('BEGIN IMMEDIATE');
  const a = await cli([...common, '-o', w.path('a.out')]).finally(() => lock?.close());
  const b = await cli([...common, '--no-rollup', '-o', w.path('b.out')]);
  const errors = a.code !== 0 || b.code !== 0 ? `exit ${a.code}/${b.code}: ${a.stderr} ${b.stderr}` : '';
  const read = (f: string) => (fs.existsSync(w.path(f)) ? fs.readFileSync(w.path(f), 'utf8') : '');
  return { rollup: read('a.out'), raw: read('b.out'), errors };
}

/** A bound on the quarter hour, hour or UTC day near the case's focus, as RFC 3339 in UTC. */
function alignedBound(rng: Rng, focus: number): string {
  const unit = rng.pick([MIN15, HOUR, DAY]);
  const t = focus + rng.int(-3 * DAY, 3 * DAY);
  return new Date(t - (((t % unit) + unit) % unit)).toISOString();
}

/** Zones whose offsets are whole hours, with and without DST. */
const WHOLE_HOUR_ZONES = ['UTC', 'Europe/Budapest', 'America/New_York', 'Asia/Tokyo', 'Pacific/Auckland'];

/** A bound on the hour or UTC day near the case's focus. */
function hourBound(rng: Rng, focus: number): string {
  const unit = rng.pick([HOUR, DAY]);
  const t = focus + rng.int(-3 * DAY, 3 * DAY);
  return new Date(t - (((t % unit) + unit) % unit)).toISOString();
}

/** The definitions of the store's rollups and whether each is caught up. */
function rollupState(file: string): Array<{ def: string; fresh: boolean }> {
  const db = new Database(file, { readonly: true });
  try {
    const has = db.prepare("SELECT 1 FROM sqlite_schema WHERE name = 'rollups'").get();
    if (has === undefined) return [];
    const top = (db.prepare('SELECT coalesce(max(seq), 0) AS m FROM events').get() as { m: number }).m;
    return (db.prepare('SELECT def, seq FROM rollups').all() as Array<{ def: string; seq: number }>).map((r) => ({
      def: r.def,
      fresh: r.seq === top,
    }));
  } finally {
    db.close();
  }
}

describe(`rollups answer as the events do (seed ${SEED})`, () => {
  for (let k = 0; k < CASES; k++) {
    const caseSeed = new Rng(SEED).fork(7_000 + k).seed;
    test(`case ${k} (case seed ${caseSeed})`, async () => {
      const c = genCase(caseSeed, 90);
      const w = new Workdir(`rollup-${k}`);
      try {
        w.write('meter.yaml', metersYaml());
        const rng = new Rng(caseSeed).fork(31);
        // Catch-ups cut into chunks of a few events in half the cases, so chunks end inside buckets and days.
        catchUpLimits.chunkEvents = rng.chance(0.5) ? rng.int(1, 40) : DEFAULT_LIMITS.chunkEvents;
        const cut1 = rng.int(1, c.lines.length - 2),
          cut2 = rng.int(cut1 + 1, c.lines.length - 1);
        const parts = [c.lines.slice(0, cut1), c.lines.slice(cut1, cut2), c.lines.slice(cut2)];
        const problems: string[] = [];
        let served = 0;
        for (let p = 0; p < parts.length; p++) {
          w.write(`part${p}.ndjson`, parts[p]!);
          const ing = await cli(['ingest', '--quiet', '--db', w.path('meter.db'), w.path(`part${p}.ndjson`)]);
          assert.equal(ing.code, 0, `ingest of part ${p}: ${ing.stderr}`);
          const events = refIngest(c.lines.slice(0, p === 0 ? cut1 : p === 1 ? cut2 : c.lines.length)).events;
          const values = new Map(GROUP_BY.map(([key, p2]) => [key, [...new Set(events.map((e) => groupText(atPath(e.data, p2))))]]));
          for (let i = 0; i < QUERIES; i++) {
            const q = genQuery(rng, c, values);
            if (rng.chance(0.3)) q.tz = rng.pick([...ZONES, ...MORE_ZONES]);
            // Mostly quarter-hour bounds, which rollups serve.
            if (rng.chance(0.7)) {
              q.from = rng.chance(0.7) ? alignedBound(rng, c.focus) : undefined;
              q.to = rng.chance(0.7) ? alignedBound(rng, c.focus) : undefined;
            }
            // A quarter in the shape the hour table serves: hour windows of every subject in a zone of whole-hour
            // offsets, no group-by or filter, bounds on the hour (or none).
            if (rng.chance(0.25)) {
              Object.assign(q, { window: 'hour', subjects: [], groupBy: [], filters: [], tz: rng.pick(WHOLE_HOUR_ZONES) });
              q.from = rng.chance(0.5) ? hourBound(rng, c.focus) : undefined;
              q.to = rng.chance(0.5) ? hourBound(rng, c.focus) : undefined;
            }
            // A bound written as a local date moves with the zone: --from must stay before --to.
            if (q.from !== undefined && q.to !== undefined && parseBound(q.from, q.tz) >= parseBound(q.to, q.tz)) q.to = undefined;
            if (rng.chance(0.5) && q.window === 'minute') q.window = 'hour';
            if (rng.chance(0.3)) q.meter = rng.pick(METERS.filter((m) => m.aggregation !== 'UNIQUE_COUNT'));
            if (rng.chance(0.4) || q.window === 'minute') q.fill = false;
            const args = queryArgs(q);
            const r = await both(w, args, rng.chance(0.25));
            if (r.errors) problems.push(`part ${p}, query ${i}: ${r.errors}: ${shellLine(args)}`);
            else if (r.rollup !== r.raw) {
              problems.push(
                `part ${p}, query ${i} differs: ${shellLine(args)}\n  rollup: ${r.rollup.slice(0, 600)}\n  raw:    ${r.raw.slice(0, 600)}`,
              );
            }
          }
          served += rollupState(w.path('meter.db')).filter((s) => s.fresh).length;
        }
        assert.ok(problems.length === 0, `seed ${SEED}, case ${k} (zone ${c.zone}); ${REPRO}\n${problems.slice(0, 6).join('\n')}`);
        assert.ok(served > 0, `seed ${SEED}, case ${k}: no query caught a rollup up`);
      } finally {
        Object.assign(catchUpLimits, DEFAULT_LIMITS);
        w.remove();
      }
    });
  }
});

describe('rollups: catching up, sums past 2^63, definitions', () => {
  test('an ingest running while queries catch up is reflected exactly by the next query', async () => {
    const w = new Workdir('rollup-concurrent');
    try {
      w.write('meter.yaml', metersYaml());
      const lines = (n: number, from: number) =>
        Array.from({ length: n }, (_, i) => {
          const t = Date.parse('2026-03-29T00:00:00Z') + (((i + from) * 7919) % 200) * 450_000;
          const v = [(i % 7) + 1, '0.1', '"2.5"', '9223372036854775807'][i % 4];
          return `{"specversion":"1.0","id":"c${from + i}","source":"s","type":"usage","subject":"cust-${i % 5}","time":"${new Date(t).toISOString()}","data":{"v":${v},"tier":"t${i % 3}"}}`;
        });
      w.write('a.ndjson', lines(2_000, 0));
      w.write('b.ndjson', lines(40_000, 2_000));
      assert.equal((await cli(['ingest', '--quiet', '--db', w.path('meter.db'), w.path('a.ndjson')])).code, 0);
      const queries = [
        ['query', '--meter=sum_v', '--window=hour', '--format=csv'],
        ['query', '--meter=max_v', '--window=day', '--tz=Europe/Budapest', '--format=csv'],
        ['query', '--meter=latest_v', '--group-by=tier', '--format=csv'],
      ];
      for (const q of queries) assert.equal((await both(w, q)).errors, '');
      const child = spawn(process.execPath, [BIN, 'ingest', '--quiet', '--db', w.path('meter.db'), w.path('b.ndjson')], {
        stdio: 'ignore',
      });
      const done = new Promise<number | null>((resolve) => child.on('close', resolve));
      let running = true;
      void done.then(() => (running = false));
      let during = 0;
      while (running) {
        const r = await cli([
          ...queries[during % queries.length]!,
          '--db',
          w.path('meter.db'),
          '--config',
          w.path('meter.yaml'),
          '-o',
          w.path('during.out'),
        ]);
        assert.equal(r.code, 0, r.stderr);
        during++;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(await done, 0);
      for (const q of queries) {
        const r = await both(w, q);
        assert.equal(r.errors, '');
        assert.equal(r.rollup, r.raw, `after the concurrent ingest (${during} queries during it): ${q.join(' ')}`);
      }
      const state = rollupState(w.path('meter.db'));
      assert.ok(state.length >= 3 && state.every((s) => s.fresh), JSON.stringify(state));
    } finally {
      w.remove();
    }
  });

  test('sums past 2^63 in one bucket, across buckets and in later parts stay exact', async () => {
    const w = new Workdir('rollup-big');
    try {
      w.write('meter.yaml', metersYaml());
      const ev = (i: number, v: string, t: string) =>
        `{"specversion":"1.0","id":"b${i}","source":"s","type":"usage","subject":"x","time":"${t}","data":{"v":${v}}}`;
      const max = '9223372036854775807';
      w.write('a.ndjson', [ev(1, max, '2026-01-01T00:01:00Z'), ev(2, max, '2026-01-01T00:02:00Z'), ev(3, '-1', '2026-01-01T05:00:00Z')]);
      w.write('b.ndjson', [
        ev(4, max, '2026-01-01T05:01:00Z'),
        ev(5, '0.5', '2026-01-02T00:00:00Z'),
        ev(6, '-9223372036854775808', '2026-01-01T00:03:00Z'),
      ]);
      for (const f of ['a.ndjson', 'b.ndjson']) {
        assert.equal((await cli(['ingest', '--quiet', '--db', w.path('meter.db'), w.path(f)])).code, 0);
        for (const m of ['sum_v', 'avg_v', 'max_v', 'min_v', 'latest_v', 'count_all']) {
          for (const win of [[], ['--window=hour'], ['--window=month'], ['--window=day', '--tz=Asia/Kathmandu']]) {
            const args = ['query', `--meter=${m}`, '--format=csv', ...win];
            const r = await both(w, args);
            assert.equal(r.errors, '');
            assert.equal(r.rollup, r.raw, args.join(' '));
          }
        }
      }
      const r = await both(w, ['query', '--meter=sum_v', '--format=csv', '--from=2026-01-01', '--to=2026-02-01']);
      assert.match(r.rollup, /,18446744073709551612\.5\n$/);
    } finally {
      w.remove();
    }
  });

  test("integer values take the fast catch-up; a chunk with a value past 2^63, a decimal, a string or a sum past 2^63 takes 'exact' mode", async () => {
    // A first build of integers only (with events without a value, which AVG must not count), then parts caught up
    // in chunks of 4 events: all-integer chunks in 'fast' mode, each of the others in 'exact' mode (or 'decimal').
    // The rollup must answer as the events do after each part.
    const w = new Workdir('rollup-fast');
    catchUpLimits.chunkEvents = 4;
    const max = '9223372036854775807';
    const parts = [
      ['3', '-7', 'null', '12', '5', '0', '40', '8'], // integers and a missing value: the first build, fast
      ['1', '2', '3', 'null', '-4', '5', '6', '7'], // two fast chunks
      ['9223372036854775808', '1', '2', '3', '4', '5', '6', '7'], // a JSON integer SQLite reads as a double
      ['4', '2.5', '6', '7', '8', '9', '10', '11'], // a decimal
      ['"n/a"', '1', '2', '3', '"7"', '1', '2', '3'], // a string that is no number, then a numeric string
      [max, max, max, '9', '10', '11', '12', '13'], // a sum past 2^63 in one bucket
      ['10', '11', '1e2', '13', '-1', '-2', '-3', '-4'], // exponent form
    ];
    try {
      w.write('meter.yaml', metersYaml());
      let i = 0;
      for (const [p, values] of parts.entries()) {
        // Two subjects, 10 minutes apart: every chunk of 4 holds two events of each in one 15-minute bucket.
        const lines = values.map((v) => {
          const t = new Date(Date.UTC(2026, 0, 1, p, (i % 4) * 10)).toISOString();
          return `{"specversion":"1.0","id":"f${i}","source":"s","type":"usage","subject":"x${i++ % 2}","time":"${t}","data":{"v":${v}}}`;
        });
        w.write(`p${p}.ndjson`, lines);
        assert.equal((await cli(['ingest', '--quiet', '--db', w.path('meter.db'), w.path(`p${p}.ndjson`)])).code, 0);
        for (const m of ['sum_v', 'avg_v', 'max_v', 'min_v']) {
          for (const win of [[], ['--window=hour'], ['--window=day']]) {
            const args = ['query', `--meter=${m}`, '--format=csv', ...win];
            const r = await both(w, args);
            assert.equal(r.errors, '');
            assert.equal(r.rollup, r.raw, `part ${p}: ${args.join(' ')}`);
          }
        }
        assert.ok(rollupState(w.path('meter.db')).every((s) => s.fresh));
      }
    } finally {
      Object.assign(catchUpLimits, DEFAULT_LIMITS);
      w.remove();
    }
  });

  test('a changed meter definition gets its own rollup, built from the first event', async () => {
    const w = new Workdir('rollup-def');
    try {
      const yaml = (p: string) => `meters:\n  - slug: m\n    eventType: usage\n    aggregation: SUM\n    valueProperty: "${p}"\n`;
      w.write('e.ndjson', [
        '{"specversion":"1.0","id":"1","source":"s","type":"usage","subject":"x","time":"2026-01-01T00:00:00Z","data":{"a":1,"b":10}}',
      ]);
      assert.equal((await cli(['ingest', '--quiet', '--db', w.path('meter.db'), w.path('e.ndjson')])).code, 0);
      const sums: string[] = [];
      for (const p of ['$.a', '$.b']) {
        w.write('meter.yaml', yaml(p));
        const r = await both(w, ['query', '--format=csv']);
        assert.equal(r.rollup, r.raw);
        sums.push(r.rollup.trim().split(',').pop()!);
      }
      assert.deepEqual(sums, ['1', '10']);
      assert.equal(rollupState(w.path('meter.db')).length, 2);
    } finally {
      w.remove();
    }
  });

  test('a rollup no query caught up while events arrived is dropped by the next catch-up of another', async () => {
    const w = new Workdir('rollup-unused');
    try {
      const yaml = (p: string) => `meters:\n  - slug: m\n    eventType: usage\n    aggregation: SUM\n    valueProperty: "${p}"\n`;
      const ev = (i: number) =>
        `{"specversion":"1.0","id":"${i}","source":"s","type":"usage","subject":"x","time":"2026-01-01T00:00:00Z","data":{"a":1,"b":10}}`;
      const step = async (i: number, p: string) => {
        w.write('e.ndjson', [ev(i)]);
        assert.equal((await cli(['ingest', '--quiet', '--db', w.path('meter.db'), w.path('e.ndjson')])).code, 0);
        w.write('meter.yaml', yaml(p));
        const r = await both(w, ['query', '--format=csv']);
        assert.equal(r.rollup, r.raw);
        return rollupState(w.path('meter.db')).map((s) => JSON.parse(s.def).value as string);
      };
      assert.deepEqual(await step(1, '$.a'), ['$.a']);
      // Used a moment ago: kept.
      assert.deepEqual(await step(2, '$.b'), ['$.a', '$.b']);
      catchUpLimits.unusedMs = -1;
      // $.a was not caught up since events arrived: dropped when $.b catches up.
      assert.deepEqual(await step(3, '$.b'), ['$.b']);
      // And rebuilt from the first event when a query needs it again.
      assert.deepEqual(await step(4, '$.a'), ['$.a']);
    } finally {
      Object.assign(catchUpLimits, DEFAULT_LIMITS);
      w.remove();
    }
  });

  test('a long catch-up shows a line on a terminal (stderr) that it erases as it ends; none off a terminal or below the limit', async () => {
    const w = new Workdir('rollup-progress');
    const tty = Object.getOwnPropertyDescriptor(process.stderr, 'isTTY');
    const onTerminal = (on: boolean) => Object.defineProperty(process.stderr, 'isTTY', { value: on, configurable: true });
    try {
      w.write('meter.yaml', 'meters:\n  - slug: m\n    eventType: usage\n    aggregation: SUM\n    valueProperty: "$.v"\n');
      let i = 0;
      const part = async (n: number) => {
        const lines = Array.from({ length: n }, () => {
          const t = new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString();
          return `{"specversion":"1.0","id":"p${i}","source":"s","type":"usage","subject":"x${i++ % 3}","time":"${t}","data":{"v":1}}`;
        });
        w.write('p.ndjson', lines);
        assert.equal((await cli(['ingest', '--quiet', '--db', w.path('meter.db'), w.path('p.ndjson')])).code, 0);
      };
      const query = async () => {
        const r = await cli(['query', '--db', w.path('meter.db'), '--config', w.path('meter.yaml'), '--format=csv', '-o', w.path('q.csv')]);
        assert.equal(r.code, 0, r.stderr);
        return r.stderr;
      };
      const line = (n: number, share = '') => `\r\x1b[Kaggregating ${n} new events once (later queries read them)${share}`;
      catchUpLimits.progressFrom = 10;
      catchUpLimits.chunkEvents = 4;
      onTerminal(true);
      // A new rollup is built in one pass: the line, then its erasure.
      await part(12);
      assert.equal(await query(), line(12) + '\r\x1b[K');
      // A catch-up in chunks of 4 events tells each chunk.
      await part(10);
      assert.equal(await query(), line(10) + line(10, ': 40%') + line(10, ': 80%') + '\r\x1b[K');
      // Below the limit: nothing.
      await part(9);
      assert.equal(await query(), '');
      // Off a terminal: nothing.
      onTerminal(false);
      await part(10);
      assert.equal(await query(), '');
      const values = fs.readFileSync(w.path('q.csv'), 'utf8').trim().split('\n').slice(1);
      assert.equal(
        values.reduce((a, l) => a + Number(l.split(',').at(-1)), 0),
        41,
      );
    } finally {
      if (tty === undefined) delete (process.stderr as { isTTY?: boolean }).isTTY;
      else Object.defineProperty(process.stderr, 'isTTY', tty);
      Object.assign(catchUpLimits, DEFAULT_LIMITS);
      w.remove();
    }
  });

  test('an hourly query of some subjects builds a rollup only where its 15-minute level can pay; of every subject (the hour table), or daily, always', async () => {
    const w = new Workdir('rollup-start');
    try {
      w.write('meter.yaml', 'meters:\n  - slug: m\n    eventType: usage\n    aggregation: SUM\n    valueProperty: $.a\n');
      const t0 = Date.parse('2026-01-01T00:00:00Z');
      // 60,000 events either way: 1,000 subjects with one event every two hours (the level would hold a row per
      // event), or 20 subjects with 20 events in each quarter hour (a row per 20 events).
      const events = (sparse: boolean) =>
        Array.from({ length: 60_000 }, (_, i) => {
          const subject = sparse ? i % 1000 : i % 20;
          const t = sparse ? t0 + Math.floor(i / 1000) * 2 * HOUR : t0 + Math.floor(i / 400) * MIN15 + (i % 400);
          return `{"specversion":"1.0","id":"${i}","source":"s","type":"usage","subject":"c${subject}","time":"${new Date(t).toISOString()}","data":{"a":${i % 7}}}`;
        });
      const built = () => rollupState(w.path('meter.db')).length;
      for (const sparse of [true, false]) {
        for (const f of ['meter.db', 'meter.db-wal', 'meter.db-shm']) fs.rmSync(w.path(f), { force: true });
        w.write('e.ndjson', events(sparse));
        assert.equal((await cli(['ingest', '--quiet', '--db', w.path('meter.db'), w.path('e.ndjson')])).code, 0);
        const some = await both(w, ['query', '--format=csv', '-w', 'hour', '-s', 'c1', '-s', 'c7']);
        assert.equal(some.rollup, some.raw);
        assert.equal(built(), sparse ? 0 : 1, sparse ? 'a sparse store: the hourly query reads the events' : 'a dense store');
        const every = await both(w, ['query', '--format=csv', '-w', 'hour', ...(sparse ? [] : ['--tz', 'Asia/Tokyo'])]);
        assert.equal(every.rollup, every.raw);
        assert.equal(built(), 1);
        const daily = await both(w, ['query', '--format=csv', '-w', 'day']);
        assert.equal(daily.rollup, daily.raw);
        assert.equal(built(), 1);
        // Built, it is caught up by hourly queries too (and read where it pays).
        w.write('e.ndjson', [events(sparse)[0]!.replace('"id":"0"', '"id":"new"')]);
        assert.equal((await cli(['ingest', '--quiet', '--db', w.path('meter.db'), w.path('e.ndjson')])).code, 0);
        const again = await both(w, ['query', '--format=csv', '-w', 'hour']);
        assert.equal(again.rollup, again.raw);
        assert.deepEqual(
          rollupState(w.path('meter.db')).map((s) => s.fresh),
          [true],
        );
      }
    } finally {
      w.remove();
    }
  });

  test("the hour table is read in pages of 2,000 rows in key order, SQLite's byte order where UTF-16 sorts otherwise", async () => {
    const w = new Workdir('rollup-pages');
    try {
      w.write('meter.yaml', 'meters:\n  - slug: m\n    eventType: usage\n    aggregation: MAX\n    valueProperty: $.a\n');
      // 2 hours x 2,000 subjects: two full pages, then an empty one. A fifth of the subjects start below U+D800, at
      // U+E000 or U+FF21, or with a surrogate pair, which UTF-16 sorts before U+E000 and UTF-8 after U+FF21.
      const starts = ['c', '\ud7ff', '\ue000', '\uff21', '\ud83d\ude00'];
      const t0 = Date.parse('2026-03-01T00:00:00Z');
      const lines = Array.from({ length: 4000 }, (_, i) => {
        // Subjects and values around HOUR_PAGE_TEXT (256 bytes), which a page leaves out and reads row by row.
        const pad = i % 250 === 3 ? 'L'.repeat(250 + (i % 9)) : '';
        const subject = `${starts[i % 5]}${pad}${(i % 2000).toString().padStart(4, '0')}`;
        const value = i % 7 === 0 ? '9223372036854775807' : i % 333 === 5 ? `0.${'7'.repeat(240 + (i % 30))}` : String(i);
        const time = new Date(t0 + (i < 2000 ? 0 : HOUR) + (i % 60) * 1000).toISOString();
        return JSON.stringify({ specversion: '1.0', id: String(i), source: 's', type: 'usage', subject, time, data: {} }).replace(
          '"data":{}',
          `"data":{"a":${value}}`,
        );
      });
      w.write('e.ndjson', lines);
      assert.equal((await cli(['ingest', '--quiet', '--db', w.path('meter.db'), w.path('e.ndjson')])).code, 0);
      for (const tz of ['UTC', 'America/New_York']) {
        const r = await both(w, ['query', '--format=csv', '-w', 'hour', '--tz', tz]);
        assert.equal(r.errors, '');
        assert.equal(r.rollup.split('\n').length, 4002, 'a header, 4,000 rows and the last newline');
        assert.equal(r.rollup, r.raw);
      }
      assert.deepEqual(
        rollupState(w.path('meter.db')).map((x) => x.fresh),
        [true],
      );
    } finally {
      w.remove();
    }
  });

  test('a catch-up that leaves a large -wal behind the query empties it; a small one is left as it is', async () => {
    const w = new Workdir('rollup-wal');
    try {
      w.write('meter.yaml', 'meters:\n  - slug: m\n    eventType: usage\n    aggregation: SUM\n    valueProperty: $.a\n');
      const part = (from: number) =>
        Array.from(
          { length: 2000 },
          (_, i) =>
            `{"specversion":"1.0","id":"${from + i}","source":"s","type":"usage","subject":"c${i % 50}","time":"2026-02-0${1 + (i % 5)}T0${i % 10}:00:00Z","data":{"a":${i}}}`,
        );
      const wal = () => (fs.existsSync(w.path('meter.db-wal')) ? fs.statSync(w.path('meter.db-wal')).size : 0);
      for (const [n, large] of [
        [0, 1],
        [2000, walLimits.largeBytes],
      ] as const) {
        const before = walLimits.largeBytes;
        walLimits.largeBytes = large;
        try {
          w.write('e.ndjson', part(n));
          assert.equal((await cli(['ingest', '--quiet', '--db', w.path('meter.db'), w.path('e.ndjson')])).code, 0);
          assert.equal(wal(), 0, 'the ingest, the last connection, removed its -wal');
          const r = await both(w, ['query', '--format=csv', '-w', 'day']);
          assert.equal(r.errors, '');
          assert.equal(r.rollup, r.raw);
          assert.deepEqual(
            rollupState(w.path('meter.db')).map((x) => x.fresh),
            [true],
          );
          if (large === 1) assert.equal(wal(), 0, 'a -wal over the limit is emptied');
          else assert.ok(wal() > 0, 'a -wal under the limit is left as it is');
        } finally {
          walLimits.largeBytes = before;
        }
      }
    } finally {
      w.remove();
    }
  });

  test('inKeyOrder: a page is taken as read only when its keys grow and its subjects hold no code unit from U+D800', () => {
    const page = (...rows: Array<[string | null, number]>) => [rows.map((r) => r[1]), rows.map((r) => r[0])];
    const ordered = ([b, s]: unknown[][]) => inKeyOrder(b!, s!);
    assert.equal(ordered(page()), true);
    assert.equal(ordered(page(['a', 1], ['b', 1], ['a', 2])), true);
    assert.equal(ordered(page(['b', 1], ['a', 1])), false, 'subjects falling within an hour');
    assert.equal(ordered(page(['a', 2], ['b', 1])), false, 'hours falling');
    assert.equal(ordered(page(['a', 1], ['a', 1])), false, 'a key twice');
    assert.equal(ordered(page(['a', 1], [null, 1])), false, 'a row left out for its length');
    assert.equal(ordered(page(['a', 1], ['\ud7ff', 1])), true);
    for (const high of ['\ue000', '\uffff', '\ud83d\ude00', 'x\ud800'])
      assert.equal(ordered(page(['a', 1], [high, 1])), false, JSON.stringify(high));
  });

  test('rollups of another layout (another build of meter) are dropped and rebuilt, never read', async () => {
    const w = new Workdir('rollup-layout');
    try {
      w.write(
        'meter.yaml',
        'meters:\n  - slug: m\n    eventType: usage\n    aggregation: SUM\n    valueProperty: $.a\n    groupBy:\n      k: $.k\n',
      );
      w.write('e.ndjson', [
        '{"specversion":"1.0","id":"1","source":"s","type":"usage","subject":"x","time":"2026-01-01T00:00:00Z","data":{"a":1,"k":"p"}}',
      ]);
      assert.equal((await cli(['ingest', '--quiet', '--db', w.path('meter.db'), w.path('e.ndjson')])).code, 0);
      // A catalogue without today's columns, claiming a fresh rollup whose table holds a wrong sum.
      const db = new Database(w.path('meter.db'));
      db.exec(
        'CREATE TABLE rollups (id INTEGER PRIMARY KEY, def TEXT NOT NULL UNIQUE, seq INTEGER NOT NULL, min_time INTEGER, max_time INTEGER);' +
          'CREATE TABLE rollup_1 (lvl INTEGER, s TEXT, b INTEGER, g0 TEXT, n INTEGER, t0 INTEGER, t1 INTEGER, iv INTEGER, cv INTEGER, xv TEXT);' +
          "INSERT INTO rollups VALUES (1, 'old', 1, 0, 0); INSERT INTO rollup_1 VALUES (1, 'x', 0, 'p', 1, 0, 0, 999, 1, NULL);",
      );
      db.close();
      const r = await both(w, ['query', '--format=csv', '-w', 'month', '-g', 'k']);
      assert.equal(r.errors, '');
      assert.equal(r.rollup, r.raw);
      assert.match(r.rollup, /,1\n$/);
      assert.deepEqual(
        rollupState(w.path('meter.db')).map((x) => x.fresh),
        [true],
        "one rollup, of today's layout, caught up",
      );
      // An older build drops a catalogue of this layout with its own tables only, and starts its ids again: an hour
      // table it leaves behind, with a wrong sum, is not read as the new rollup's.
      const old = new Database(w.path('meter.db'));
      old.exec(
        'DROP TABLE rollups; DROP TABLE rollup_1; DELETE FROM rollup_1_h; ' +
          "INSERT INTO rollup_1_h (b, s, n, t0, t1, iv, cv, xv) VALUES (1767225600000, 'x', 1, 0, 0, 999, 1, NULL)",
      );
      old.close();
      const hourly = await both(w, ['query', '--format=csv', '-w', 'hour']);
      assert.equal(hourly.errors, '');
      assert.equal(hourly.rollup, hourly.raw);
      assert.match(hourly.rollup, /,1\n$/);
    } finally {
      w.remove();
    }
  });
});
