/**
 * The SQL of a meter query over ClickHouse, exactly (as OpenMeter's query builder tests its SQL), without a server:
 * one case per shape (COUNT; SUM's exact parts with a window, a subject, a filter and a group-by; AVG by the type
 * column; MIN, MAX and LATEST by the exact order key; UNIQUE_COUNT per day; each dedupe mode), so a change of shape
 * shows here. The server's answers to these shapes are tested in clickhouse-values and clickhouse-window; the user
 * strings' escaping in clickhouse.test ("query SQL").
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { MeterQuery } from '../src/core/ports.js';
import { WindowPlan } from '../src/core/window.js';
import { buildAggregateSql } from '../src/store/clickhouse/aggregate-sql.js';
import { BASE_QUERY as base, HOURLY_SUM_QUERY, NOV_1, NOV_2, queryMeter as meter } from './fixtures.js';

/** The index of a value's path in the numeric arrays (np, and ni/nf/nt/nx/nk beside it). */
const num = (path: string) => `indexOf(np, '${path}')`;
/** The first and last event time of a group, and the rest of every query. */
const TIMES = 'min(time_ms) AS _t0, max(time_ms) AS _t1';
/**
 * SUM's and AVG's parts: the integer parts' and 18-digit fractions' sums as the sums of their 9-digit halves (hi,
 * and what is left below it), other numbers as texts, and a count.
 */
const sumParts = (path: string) => {
  const i = num(path);
  const cond = `${i} > 0 AND nx[${i}] = 1`;
  const halves = (v: string, n: number) => {
    const hi = `intDiv(${v}, toInt64(1000000000))`;
    return `toString(sumIf(${hi}, ${cond})) AS _v${n}, toString(sumIf(${v} - ${hi} * toInt64(1000000000), ${cond})) AS _v${n + 1}, `;
  };
  return (
    halves(`ni[${i}]`, 0) +
    halves(`nf[${i}]`, 2) +
    `groupArrayIf(nt[${i}], ${i} > 0 AND nx[${i}] = 0) AS _v4, toString(countIf(${i} > 0)) AS _v5`
  );
};

describe('ClickHouse aggregate SQL', () => {
  const cases: Array<{ name: string; q: MeterQuery; dedupe?: 'none' | 'dropped' | 'full'; sql: string }> = [
    {
      name: 'COUNT over everything: one row, none for no events',
      q: base,
      sql: `SELECT toString(count()) AS _v0, ${TIMES} FROM \`db\`.events WHERE type = 'prompt' HAVING count() > 0`,
    },
    {
      name: 'SUM: hourly, one subject, a filter and a group-by; every bound an Int64',
      q: HOURLY_SUM_QUERY,
      sql:
        'SELECT (time_ms - modulo(toInt64((time_ms + toInt64(86400000000000))), toInt64(toInt64(3600000)))) AS _w, ' +
        `subject AS _s, js[indexOf(jp, '$.model')] AS _g0, ${sumParts('$.tokens')}, ${TIMES} FROM \`db\`.events ` +
        `WHERE type = 'prompt' AND time_ms >= toInt64(${NOV_1}) AND time_ms < toInt64(${NOV_2}) AND subject IN ('acme') ` +
        `AND js[indexOf(jp, '$.model')] IN ('gpt-4o') GROUP BY _w, _s, _g0 HAVING count() > 0 ORDER BY _w, _s, _g0`,
    },
    {
      name: 'AVG by the type column, a nested path',
      q: { ...base, meter: meter('AVG', '$.usage.in'), groupBy: [{ key: 'type', column: 'type' }] },
      sql:
        `SELECT type AS _g0, ${sumParts('$.usage.in')}, ${TIMES} FROM \`db\`.events WHERE type = 'prompt' ` +
        'GROUP BY _g0 HAVING count() > 0 ORDER BY _g0',
    },
    {
      name: 'MIN: the canonical text of the least exact order key',
      q: { ...base, meter: meter('MIN', '$.tokens'), perSubject: true },
      sql:
        `SELECT subject AS _s, argMinIf(nt[${num('$.tokens')}], nk[${num('$.tokens')}], ${num('$.tokens')} > 0) AS _v0, ` +
        `toString(countIf(${num('$.tokens')} > 0)) AS _v1, ${TIMES} FROM \`db\`.events WHERE type = 'prompt' ` +
        'GROUP BY _s HAVING count() > 0 ORDER BY _s',
    },
    {
      name: 'MAX, reading past the copies another writer dropped',
      q: { ...base, meter: meter('MAX', '$.tokens'), perSubject: true },
      dedupe: 'dropped',
      sql:
        `SELECT subject AS _s, argMaxIf(nt[${num('$.tokens')}], nk[${num('$.tokens')}], ${num('$.tokens')} > 0) AS _v0, ` +
        `toString(countIf(${num('$.tokens')} > 0)) AS _v1, ${TIMES} FROM \`db\`.events WHERE type = 'prompt' ` +
        'AND (run, seq) NOT IN (SELECT run, seq FROM `db`.dropped) GROUP BY _s HAVING count() > 0 ORDER BY _s',
    },
    {
      name: 'LATEST while a batch is open: every later copy of a (source, id) is left out',
      q: { ...base, meter: meter('LATEST', '$.tokens'), perSubject: true },
      dedupe: 'full',
      sql:
        `SELECT subject AS _s, argMax(nt[${num('$.tokens')}], (${num('$.tokens')} > 0, time_ms, ingested_ms, seq)) AS _v0, ` +
        `toString(countIf(${num('$.tokens')} > 0)) AS _v1, ${TIMES} FROM \`db\`.events WHERE type = 'prompt' ` +
        'AND (run, seq) NOT IN (SELECT run, seq FROM `db`.dropped UNION ALL SELECT tupleElement(x, 2) AS run, ' +
        'tupleElement(x, 3) AS seq FROM (SELECT arrayJoin(arrayPopFront(arraySort(groupArray((ingested_ms, run, seq))))) AS x ' +
        'FROM `db`.event_keys WHERE k IN (SELECT k FROM `db`.event_keys GROUP BY k HAVING count() > 1) ' +
        'GROUP BY k, source, id HAVING count() > 1)) GROUP BY _s HAVING count() > 0 ORDER BY _s',
    },
    {
      name: 'UNIQUE_COUNT per day: scalar texts only',
      q: { ...base, meter: meter('UNIQUE_COUNT', '$.user'), window: new WindowPlan('DAY', 'UTC', NOV_1, NOV_2) },
      sql:
        'SELECT (intDiv(toInt64((time_ms + toInt64(86400000000000))), toInt64(toInt64(86400000))) - toInt64(1000000)) AS _w, ' +
        `toString(uniqExactIf(js[indexOf(jp, '$.user')], jk[indexOf(jp, '$.user')] = 1)) AS _v0, ${TIMES} ` +
        `FROM \`db\`.events WHERE type = 'prompt' GROUP BY _w HAVING count() > 0 ORDER BY _w`,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.equal(buildAggregateSql(c.q, '`db`', c.dedupe ?? 'none'), c.sql);
    });
  }
});
