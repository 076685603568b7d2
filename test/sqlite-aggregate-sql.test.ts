/**
 * The SQL of a meter query over SQLite, exactly (as OpenMeter's query builder tests its SQL): one case per shape
 * (COUNT, the integer fast path of SUM with a window, subjects, a filter and a group-by, the exact SUM, LATEST), so a
 * change of shape shows here; and every value from the query is a bound parameter, never SQL text.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { MeterQuery } from '../src/core/ports.js';
import { buildAggregateSql } from '../src/store/sqlite/aggregate-sql.js';
import { BASE_QUERY as base, HOURLY_SUM_QUERY, NOV_1, NOV_2, queryMeter as meter } from './fixtures.js';

/** A dimension's text: a string's value, the JSON text of anything else, '' for missing or null. */
const dim = (p: string) =>
  `coalesce(CASE json_type(data, ${p}) WHEN 'text' THEN data ->> ${p} WHEN 'null' THEN NULL ELSE data -> ${p} END, '')`;

describe('SQLite aggregate SQL', () => {
  test('COUNT over everything: one row, none for no events', () => {
    const { sql, params } = buildAggregateSql(base, { jsWindow: false, mode: 'fast' });
    assert.equal(
      sql,
      'SELECT count(*), min(time_ms), max(time_ms) FROM (SELECT time_ms FROM events WHERE type = @type LIMIT -1) HAVING count(*) > 0',
    );
    assert.deepEqual(params, { type: 'prompt' });
  });

  test('SUM, fast path: hourly, one subject through subject_rows, a filter and a group-by', () => {
    const { sql, params } = buildAggregateSql(HOURLY_SUM_QUERY, { jsWindow: false, mode: 'fast' });
    const inner =
      `SELECT (time_ms - ((time_ms + 86400000000000) % 3600000)) AS w, subject AS s, ${dim('@g0')} AS g0, ` +
      `CASE json_type(data, @vp) WHEN 'integer' THEN data ->> @vp WHEN 'real' THEN 0.0 WHEN 'text' THEN 0.0 END AS v ` +
      'FROM events WHERE type = @type AND time_ms >= @from AND time_ms < @to AND ' +
      'seq IN (SELECT j.value FROM subject_rows p, json_each(p.seqs) j WHERE p.subject IN (@s0) AND p.max_time >= @from AND p.min_time < @to) ' +
      `AND subject IN (@s0) AND ${dim('@fp0')} IN (@fv0_0) LIMIT -1`;
    assert.equal(
      sql,
      `SELECT w, s, g0, CAST(sum(v) AS TEXT), typeof(sum(v)) != 'integer' AND count(v) > 0, 0 FROM (${inner}) GROUP BY w, s, g0 ORDER BY w, s, g0`,
    );
    assert.deepEqual(params, {
      type: 'prompt',
      from: NOV_1,
      to: NOV_2,
      s0: 'acme',
      fp0: '$.model',
      fv0_0: 'gpt-4o',
      g0: '$.model',
      vp: '$.tokens',
    });
  });

  test('SUM, exact: 64-bit integers in SQLite, every other number in decimal (meter_dsum)', () => {
    const { sql } = buildAggregateSql({ ...base, meter: meter('SUM', '$.tokens'), perSubject: true }, { jsWindow: false, mode: 'exact' });
    const int64 = `t = 'integer' AND typeof(x) = 'integer'`;
    assert.equal(
      sql,
      `SELECT s, CAST(sum(x) FILTER (WHERE ${int64}) AS TEXT), ` +
        `meter_dsum(CASE t WHEN 'text' THEN x ELSE j END) FILTER (WHERE t IN ('integer', 'real', 'text') AND NOT (${int64})), ` +
        `count(*) FILTER (WHERE ${int64}), min(time_ms), max(time_ms) ` +
        'FROM (SELECT subject AS s, json_type(data, @vp) AS t, data ->> @vp AS x, data -> @vp AS j, time_ms FROM events WHERE type = @type LIMIT -1) ' +
        'GROUP BY s ORDER BY s',
    );
  });

  test('LATEST: the latest usable value per group by a window function', () => {
    const q: MeterQuery = { ...base, meter: meter('LATEST', '$.tokens'), perSubject: true, groupBy: [{ key: 'model', path: '$.model' }] };
    const { sql } = buildAggregateSql(q, { jsWindow: false, mode: 'exact' });
    const value = `meter_dec(CASE json_type(data, @vp) WHEN 'text' THEN data ->> @vp WHEN 'integer' THEN data -> @vp WHEN 'real' THEN data -> @vp END)`;
    assert.equal(
      sql,
      'SELECT s, g0, v, first_t, last_t FROM (SELECT s, g0, v, ' +
        'row_number() OVER (PARTITION BY s, g0 ORDER BY v IS NOT NULL DESC, t DESC, seq DESC) AS rn, ' +
        'min(t) OVER (PARTITION BY s, g0 ) AS first_t, max(t) OVER (PARTITION BY s, g0 ) AS last_t ' +
        `FROM (SELECT subject AS s, ${dim('@g0')} AS g0, time_ms AS t, seq, ${value} AS v FROM events WHERE type = @type LIMIT -1)) ` +
        'WHERE rn = 1 ORDER BY s, g0',
    );
  });

  test('every value of the query is a bound parameter', () => {
    const hostile = ["a'b", 'c"d', "'); DROP TABLE events; --", '\u0000x', '@s0', '$.x'];
    const q: MeterQuery = {
      meter: { ...meter('SUM', "$['it''s']"), eventType: "pro'mpt" },
      window: null,
      subjects: hostile,
      groupBy: [{ key: 'g', path: '$.x' }],
      filters: hostile.map((value) => ({ dimension: { key: 'g', path: '$.x' }, values: [value] })),
      perSubject: true,
    };
    for (const mode of ['fast', 'exact', 'decimal'] as const) {
      const { sql, params } = buildAggregateSql(q, { jsWindow: false, mode });
      for (const v of [...hostile, "pro'mpt", "$['it''s']"]) {
        assert.ok(Object.values(params).includes(v), `${JSON.stringify(v)} is a parameter`);
        if (v.length > 3) assert.ok(!sql.includes(v), `${JSON.stringify(v)} is not in the SQL`);
      }
    }
  });
});
