/**
 * Unit tests of the ClickHouse store's pure parts (no server needed): the one escaping function, integer and
 * identifier literals, URL parsing, reading `data` like SQLite does, RowBinary encoding, and exact sums.
 * test/backends.e2e.test.ts runs the same and more against a real server.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildAggregateSql, exactValue } from '../src/store/clickhouse/aggregate-sql.js';
import { clickHouseCode, withoutPassword } from '../src/store/clickhouse/errors.js';
import { decimalText } from '../src/core/decimal.js';
import { canonicalPath, decimalParts, flattenData, type FlatData } from '../src/store/clickhouse/flatten.js';
import { sqlIdent, sqlInt, sqlString } from '../src/store/clickhouse/literals.js';
import { orderKey } from '../src/store/clickhouse/order-key.js';
import { dedupeCondition } from '../src/store/clickhouse/races.js';
import { RowBinaryWriter } from '../src/store/clickhouse/rowbinary.js';
import { parseTsv, tsvTextArray, tsvTuples, unescapeTsv } from '../src/store/clickhouse/tsv.js';
import { parseClickHouseUrl, redact } from '../src/store/clickhouse/url.js';
import { KeyIndex } from '../src/store/clickhouse/write-groups.js';
import type { MeterQuery } from '../src/core/ports.js';
import { WindowPlan } from '../src/core/window.js';
import { Decimal } from '../src/core/decimal.js';
import { HOSTILE } from './fixtures.js';

/** Reads a ClickHouse string literal back the way its parser does (quotes, backslash escapes). */
function readLiteral(lit: string): string {
  assert.equal(lit[0], "'", lit);
  let out = '';
  let i = 1;
  for (; i < lit.length; i++) {
    const c = lit[i]!;
    if (c === "'") break;
    if (c === '\\') {
      const n = lit[++i]!;
      out += ({ b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', '0': '\0', a: '\u0007', v: '\v' } as Record<string, string>)[n] ?? n;
    } else out += c;
  }
  assert.equal(i, lit.length - 1, `the literal ends at its first unescaped quote: ${JSON.stringify(lit)}`);
  return out;
}

describe('sqlString: the one escaping function', () => {
  for (const s of HOSTILE) {
    test(`round-trips ${JSON.stringify(s)}`, () => {
      const lit = sqlString(s);
      assert.equal(readLiteral(lit), s);
      // No raw control characters that a parser or a log could treat specially.
      assert.doesNotMatch(lit, /[\u0000\n\r\t\b\f]/);
    });
  }
  test("escapes backslash before quote, so \\' cannot close the literal", () => {
    assert.equal(sqlString("\\'"), "'\\\\\\''");
    assert.equal(sqlString("') OR 1=1 --"), "'\\') OR 1=1 --'");
  });
  test('refuses non-strings', () => {
    assert.throws(() => sqlString(5 as unknown as string), TypeError);
    assert.throws(() => sqlString(null as unknown as string), TypeError);
  });
});

describe('sqlInt, sqlIdent', () => {
  test('integers only', () => {
    assert.equal(sqlInt(0), '0');
    assert.equal(sqlInt(-42), '-42');
    assert.equal(sqlInt(9007199254740991), '9007199254740991');
    assert.equal(sqlInt(123n), '123');
    assert.equal(sqlInt('18446744073709551615'), '18446744073709551615');
    assert.equal(sqlInt('-9223372036854775808'), '-9223372036854775808');
    for (const bad of [1.5, NaN, Infinity, 2 ** 53, -(2 ** 53), 1e21]) assert.throws(() => sqlInt(bad), RangeError, String(bad));
    for (const bad of ['', '1; DROP TABLE x', '01', '1e3', ' 1', '1 ', '0x10', '--1', '123456789012345678901']) {
      assert.throws(() => sqlInt(bad), RangeError, bad);
    }
  });
  test('identifiers are validated, then quoted', () => {
    assert.equal(sqlIdent('meter'), '`meter`');
    assert.equal(sqlIdent('meter_test_1'), '`meter_test_1`');
    for (const bad of ['', '1abc', 'a-b', 'a b', 'a`b', 'a;b', "a'b", 'x'.repeat(65), 'é']) assert.throws(() => sqlIdent(bad), bad);
  });
});

describe('parseClickHouseUrl', () => {
  test('defaults: port 8123, user default, database meter', () => {
    const t = parseClickHouseUrl('clickhouse://localhost', {});
    assert.deepEqual(
      { httpUrl: t.httpUrl, username: t.username, password: t.password, database: t.database, location: t.location },
      {
        httpUrl: 'http://localhost:8123',
        username: 'default',
        password: '',
        database: 'meter',
        location: 'clickhouse://localhost:8123/meter',
      },
    );
  });
  test('user, password, port and database; the location never shows the password', () => {
    const t = parseClickHouseUrl('clickhouse://alice:s3cr%40t@db.example:18123/usage', {});
    assert.equal(t.username, 'alice');
    assert.equal(t.password, 's3cr@t');
    assert.equal(t.port, 18123);
    assert.equal(t.database, 'usage');
    assert.equal(t.location, 'clickhouse://alice@db.example:18123/usage');
    assert.doesNotMatch(t.location, /s3cr/);
  });
  test('METER_CLICKHOUSE_PASSWORD when the URL has none (the URL wins)', () => {
    assert.equal(parseClickHouseUrl('clickhouse://bob@h/db', { METER_CLICKHOUSE_PASSWORD: 'envpw' }).password, 'envpw');
    assert.equal(parseClickHouseUrl('clickhouse://bob:urlpw@h/db', { METER_CLICKHOUSE_PASSWORD: 'envpw' }).password, 'urlpw');
    assert.doesNotMatch(parseClickHouseUrl('clickhouse://bob@h/db', { METER_CLICKHOUSE_PASSWORD: 'envpw' }).location, /envpw/);
  });
  test('IPv6 hosts and upper-case schemes', () => {
    assert.equal(parseClickHouseUrl('clickhouse://[::1]:18123/m', {}).httpUrl, 'http://[::1]:18123');
    assert.equal(parseClickHouseUrl('CLICKHOUSE://h/m', {}).database, 'm');
  });
  test('bad URLs are usage errors that do not echo the password', () => {
    for (const bad of [
      'clickhouse://',
      'clickhouse://h:99999/db',
      'clickhouse://h/a/b',
      'clickhouse://h/db?secure=1',
      'clickhouse://h/bad-name',
      "clickhouse://h/x'y",
      'clickhouse://u:topsecret@h/a/b',
    ]) {
      assert.throws(
        () => parseClickHouseUrl(bad, {}),
        (e: Error) => e.constructor.name === 'UsageError' && !/topsecret/.test(e.message),
        bad,
      );
    }
  });
  test('redact hides a password in a spec', () => {
    assert.equal(redact('clickhouse://u:pw@h/db'), 'clickhouse://u:***@h/db');
    assert.equal(redact('clickhouse://h/db'), 'clickhouse://h/db');
  });
  test('a server message keeps its words and loses the password', () => {
    const auth = 'Code: 516, DB::Exception: default: Authentication failed: password is incorrect';
    assert.equal(withoutPassword(auth, 'p'), auth);
    assert.equal(withoutPassword('url http://u:s3c.r$t@h/ and s3c.r$t; s3c.r$tX', 's3c.r$t'), 'url http://u:***@h/ and ***; ***X');
    assert.equal(withoutPassword('no password here', undefined), 'no password here');
    assert.equal(withoutPassword('a=p, b=(p)', 'p'), 'a=***, b=(***)');
  });
  test('error codes are read from 18.16 messages', () => {
    assert.equal(clickHouseCode(new Error('Code: 81, e.displayText() = DB::Exception: Database x does not exist')), 81);
    assert.equal(clickHouseCode(new Error('socket hang up')), null);
  });
});

/** Flattens data text. */
function flat(text: string | null): { f: FlatData } {
  return { f: flattenData(text) };
}

function entries(f: FlatData): Record<string, [string, number]> {
  const o: Record<string, [string, number]> = {};
  for (let i = 0; i < f.jn; i++) o[f.jp[i]!] = [f.js[i]!, f.jk[i]!];
  return o;
}

function numbers(f: FlatData): Record<string, { exact: string; shown: string; fits: boolean }> {
  const o: Record<string, { exact: string; shown: string; fits: boolean }> = {};
  for (let i = 0; i < f.nn; i++) o[f.np[i]!] = { exact: f.nt[i]!, shown: f.nt[i]!, fits: f.nx[i] === 1 };
  return o;
}

describe('flattenData: data read as the spec reads it', () => {
  test('paths of nested objects and arrays, their texts and kinds', () => {
    const { f } = flat('{"a":{"b":1,"c":[true,null,"x"]},"s":"str","o":{}}');
    assert.deepEqual(entries(f), {
      '$.a': ['{"b":1,"c":[true,null,"x"]}', 2],
      '$.a.b': ['1', 1],
      '$.a.c': ['[true,null,"x"]', 2],
      '$.a.c[0]': ['true', 1],
      '$.a.c[1]': ['', 0],
      '$.a.c[2]': ['x', 1],
      '$.s': ['str', 1],
      '$.o': ['{}', 2],
    });
  });
  test('a nested key of the same name does not shadow the top-level one', () => {
    const { f } = flat('{"meta":{"tokens":100},"tokens":5}');
    assert.equal(numbers(f)['$.tokens']!.exact, '5');
    assert.equal(numbers(f)['$.meta.tokens']!.exact, '100');
  });
  test('the first of duplicate keys wins, with its whole subtree', () => {
    const { f } = flat('{"a":{"x":1},"a":{"y":2},"n":1,"n":2}');
    assert.equal(entries(f)['$.a.y'], undefined);
    assert.deepEqual(entries(f)['$.a.x'], ['1', 1]);
    assert.equal(numbers(f)['$.n']!.exact, '1');
  });
  test('escaped keys and strings are unescaped; object texts stay verbatim', () => {
    const { f } = flat('{"\\u0061":{"s":"q\\"\\u0041\\/\\n"}}');
    assert.deepEqual(entries(f)['$.a'], ['{"s":"q\\"\\u0041\\/\\n"}', 2]);
    assert.deepEqual(entries(f)['$.a.s'], ['q"A/\n', 1]);
  });
  test('keys no meter path can name are left out', () => {
    const { f } = flat('{"a.b":1,"a b":2,"a[0]":3,"ok-key":4}');
    assert.deepEqual(Object.keys(entries(f)), ['$.ok-key']);
  });
  test('a value counts exactly as the SQLite store counts it (decimalText): zeros with any exponent, bounds', () => {
    const literals = ['0e100001', '-0e999999', '0.000e-100001', '1e100001', '1e-100001', '1e999', '-1e-998', '1e1000', '2.50E+3', '-0'];
    for (const v of [...literals, '007', '+1', '.5']) {
      // As a numeric string, and (when JSON allows the spelling) as a number literal: SQLite counts both by decimalText.
      for (const text of [`{"v":"${v}"}`, ...(literals.includes(v) ? [`{"v":${v}}`] : [])]) {
        assert.equal(numbers(flat(text).f)['$.v']?.exact ?? null, decimalText(v), text);
      }
    }
  });
  test('every number is its canonical decimal text, whatever its spelling in the stored text', () => {
    const { f } = flat('{"i":9007199254740993,"m":-0,"big":12345678901234567890,"r":1.50,"e":1E3,"x":1e400,"over":1e1000}');
    const e = entries(f);
    assert.deepEqual(e['$.i'], ['9007199254740993', 1]);
    assert.deepEqual(e['$.m'], ['0', 1]);
    assert.deepEqual(e['$.big'], ['12345678901234567890', 1]);
    assert.deepEqual(e['$.r'], ['1.5', 1]);
    assert.deepEqual(e['$.e'], ['1000', 1]);
    assert.deepEqual(e['$.x'], ['1' + '0'.repeat(400), 1]);
    const n = numbers(f);
    assert.deepEqual(n['$.i'], { exact: '9007199254740993', shown: '9007199254740993', fits: true });
    assert.deepEqual(n['$.r'], { exact: '1.5', shown: '1.5', fits: true });
    assert.deepEqual(n['$.e'], { exact: '1000', shown: '1000', fits: true });
    assert.deepEqual(n['$.big'], { exact: '12345678901234567890', shown: '12345678901234567890', fits: false });
    assert.deepEqual(n['$.x'], { exact: '1' + '0'.repeat(400), shown: '1' + '0'.repeat(400), fits: false }, 'past a double, still exact');
    assert.equal(n['$.over'], undefined, 'a canonical text over 1,000 characters does not count');
  });
  test('numeric strings count as their exact decimal (sums and MIN/MAX alike); the group-by text stays the string', () => {
    const { f } = flat('{"a":"21","b":"0.1000000000000000055","c":"1e3","d":"NaN","e":" 5","f":"Inf","g":"","h":"1.50"}');
    const n = numbers(f);
    assert.deepEqual(n['$.a'], { exact: '21', shown: '21', fits: true });
    assert.deepEqual(n['$.b'], { exact: '0.1000000000000000055', shown: '0.1000000000000000055', fits: false });
    assert.deepEqual(n['$.h'], { exact: '1.5', shown: '1.5', fits: true });
    assert.deepEqual(entries(f)['$.h'], ['1.50', 1]);
    assert.deepEqual(n['$.c'], { exact: '1000', shown: '1000', fits: true });
    for (const k of ['$.d', '$.e', '$.f', '$.g']) assert.equal(n[k], undefined, k);
  });
  test('whatever the spacing of the original, the minified text reads the same', () => {
    // The pipeline stores data minified; the scanner reads that form.
    assert.deepEqual(entries(flat('{"a":5,"b":{"c":"x y"}}').f), entries(flat('{"a":5,"b":{"c":"x y"}}').f));
  });
  test('no data, empty data', () => {
    assert.equal(flat(null).f.jn, 0);
    assert.equal(flat('{}').f.jn, 0);
  });
  test('canonical paths', () => {
    assert.equal(canonicalPath('$.a[00].b'), '$.a[0].b');
    assert.equal(canonicalPath('$.tokens'), '$.tokens');
  });
});

describe('numbers', () => {
  test('decimalParts splits into an integer part and 18 fraction digits', () => {
    assert.deepEqual(decimalParts('123.456'), { int: 123, frac: '456000000000000000' });
    assert.deepEqual(decimalParts('-0.5'), { int: 0, frac: '-500000000000000000' });
    assert.deepEqual(decimalParts('7'), { int: 7, frac: 0 });
    assert.deepEqual(decimalParts('999999999999999999'), { int: '999999999999999999', frac: 0 });
    assert.equal(decimalParts('1000000000000000000'), null);
    assert.equal(decimalParts('0.0000000000000000001'), null);
  });
  test('orderKey orders the decimals of doubles as the doubles', () => {
    // Infinities are no decimals (not usable values), so the list runs between the largest finite doubles.
    const xs = [-1e308, -5, -1.5, -1e-300, -5e-324, 0, 5e-324, 1e-300, 0.1, 0.30000000000000004, 1, 2 ** 53, 1e308];
    for (let i = 0; i + 1 < xs.length; i++) {
      const [a, b] = [orderKey(Decimal.from(xs[i]!)), orderKey(Decimal.from(xs[i + 1]!))];
      assert.ok(a < b, `${xs[i]} < ${xs[i + 1]}`);
    }
    assert.equal(orderKey(Decimal.from(-0)), orderKey(Decimal.from(0)), '-0 equals 0');
  });
  test('exact sums: 0.1 + 0.2 is 0.3; halves join exactly past 10^21', () => {
    // Parts as the query returns them: the integer parts' and the fractions' (x 1e-18) sums as the sums of their
    // 9-digit halves, texts that did not fit, count.
    assert.equal(exactValue('SUM', ['0', '0', '300000000', '0'], [], 2), '0.3');
    assert.equal(exactValue('SUM', ['0', '12', '0', '0'], [], 3), '12');
    assert.equal(exactValue('AVG', ['0', '12', '0', '0'], [], 3), '4');
    assert.equal(exactValue('AVG', ['0', '0', '0', '0'], [], 0), null);
    assert.equal(exactValue('SUM', ['0', '0', '0', '0'], [], 0), '0');
    assert.equal(
      exactValue('SUM', ['0', '1', '-500000000', '0'], ['0.0000000000000000001', '1000000000000000000000'], 4),
      '1000000000000000000000.5000000000000000001',
    );
    // 2,000 halves of 0.5: the fractions' sum is 10^21 (x 1e-18), which 18.16 cannot print as a Decimal128.
    assert.equal(exactValue('SUM', ['0', '0', String(2000 * 500_000_000), '0'], [], 2000), '1000');
    // Halves of either sign (intDiv rounding toward zero or down): -7 = -1 * 10^9 + 999999993, or 0 * 10^9 - 7.
    assert.equal(exactValue('SUM', ['-1', '999999993', '0', '0'], [], 1), '-7');
    assert.equal(exactValue('SUM', ['9223372036', '854775807', '0', '0'], ['1'], 2), '9223372036854775808');
  });
});

describe('RowBinary', () => {
  test('encodes integers, strings and arrays as ClickHouse reads them', () => {
    const w = new RowBinaryWriter(4);
    w.int64(1);
    w.int64(-1);
    w.int64('18446744073709551615');
    w.int64(-(2 ** 40) - 3);
    w.str('');
    w.str('hi');
    w.str('é');
    w.strs(['a', 'b']);
    w.u8s([1, 2]);
    w.varint(300);
    const b = w.take();
    let p = 0;
    const i64 = () => {
      const v = b.readBigInt64LE(p);
      p += 8;
      return v;
    };
    assert.equal(i64(), 1n);
    assert.equal(i64(), -1n);
    assert.equal(i64(), -1n); // 2^64-1 as the same bits
    assert.equal(i64(), -(2n ** 40n) - 3n);
    assert.deepEqual([...b.subarray(p, p + 1)], [0]);
    p += 1;
    assert.deepEqual([...b.subarray(p, p + 3)], [2, 104, 105]);
    p += 3;
    assert.deepEqual([...b.subarray(p, p + 3)], [2, 0xc3, 0xa9]);
    p += 3;
    assert.deepEqual([...b.subarray(p, p + 5)], [2, 1, 97, 1, 98]);
    p += 5;
    assert.deepEqual([...b.subarray(p, p + 3)], [2, 1, 2]);
    p += 3;
    assert.deepEqual([...b.subarray(p)], [0xac, 0x02]);
  });
  test('long and non-ASCII strings carry their UTF-8 byte length', () => {
    for (const s of ['x'.repeat(127), 'x'.repeat(128), 'é'.repeat(100), 'y'.repeat(20000), '😀'.repeat(3), '\ud800']) {
      const w = new RowBinaryWriter(1);
      w.str(s);
      const b = w.take();
      let len = 0,
        shift = 0,
        p = 0;
      for (;;) {
        const byte = b[p++]!;
        len += (byte & 0x7f) * 2 ** shift;
        shift += 7;
        if (byte < 0x80) break;
      }
      assert.equal(len, b.length - p, s.slice(0, 10));
      assert.equal(b.subarray(p).toString('utf8'), Buffer.from(s, 'utf8').toString('utf8'));
    }
  });
  test('refuses integers it cannot write exactly', () => {
    assert.throws(() => new RowBinaryWriter().int64(2 ** 53), RangeError);
    assert.throws(() => new RowBinaryWriter().int64(0.5), RangeError);
  });
});

describe('KeyIndex', () => {
  test('maps 53-bit keys like a Map, through growth', () => {
    const idx = new KeyIndex();
    const ref = new Map<number, number>();
    let x = 12345;
    for (let i = 0; i < 50_000; i++) {
      x = (x * 1103515245 + 12345) % 2147483648;
      const k = i % 10 === 0 ? i : x * 4194304 + (i % 4194304); // small keys and keys up to 2^53
      idx.set(k, i);
      ref.set(k, i);
    }
    idx.set(0, 7);
    ref.set(0, 7);
    assert.equal(idx.size, ref.size);
    for (const [k, v] of ref) assert.equal(idx.get(k), v);
    assert.equal(idx.get(2 ** 53 - 1), undefined);
    assert.equal(idx.has(0), true);
    assert.deepEqual(
      idx.allKeys().sort((a, b) => a - b),
      [...ref.keys()].sort((a, b) => a - b),
    );
  });
});

describe('TabSeparated answers', () => {
  test('fields are unescaped; a wrong field count is an error', () => {
    assert.deepEqual(parseTsv("a\\tb\tc\\\\d\t\\n\\0\\'", 3), [['a\tb', 'c\\d', "\n\0'"]]);
    assert.deepEqual(parseTsv('1\t2\n3\t4', 2), [
      ['1', '2'],
      ['3', '4'],
    ]);
    assert.throws(() => parseTsv('Code: 241, e.displayText() = DB::Exception: Memory limit', 2));
    assert.equal(unescapeTsv('plain'), 'plain');
  });
  test('arrays of copies', () => {
    assert.deepEqual(tsvTuples('[(1,2,3,4),(-5,6,7,8)]'), [
      ['1', '2', '3', '4'],
      ['-5', '6', '7', '8'],
    ]);
    assert.throws(() => tsvTuples("[('x',1,2,3)]"));
  });
  test('arrays of decimal texts', () => {
    assert.deepEqual(tsvTextArray('[]'), []);
    assert.deepEqual(tsvTextArray("['1.5','-2','0.0000000000000000001']"), ['1.5', '-2', '0.0000000000000000001']);
    assert.throws(() => tsvTextArray("['1','x']"));
  });
});

describe('query SQL', () => {
  const meter = {
    slug: 't',
    eventType: "pro'mpt",
    aggregation: 'SUM' as const,
    valueProperty: '$.tokens',
    groupBy: [{ key: 'model', path: '$.model' }],
  };
  const base: MeterQuery = {
    meter,
    window: null,
    subjects: HOSTILE,
    groupBy: [{ key: 'model', path: '$.model' }],
    filters: HOSTILE.map((value) => ({ dimension: { key: 'model', path: '$.model' }, values: [value] })),
    perSubject: true,
  };
  test('every user string is in a literal', () => {
    const sql = buildAggregateSql(base, '`db`', 'none');
    for (const s of HOSTILE) assert.ok(sql.includes(sqlString(s)), JSON.stringify(s));
    assert.ok(sql.includes(sqlString("pro'mpt")));
    assert.doesNotMatch(sql, /\u0000|\n/);
  });
  test('all aggregations, windows and dedupe modes build', () => {
    const plan = new WindowPlan('DAY', 'Europe/Budapest', Date.parse('2026-10-20T00:00:00Z'), Date.parse('2026-11-05T00:00:00Z'));
    for (const aggregation of ['SUM', 'AVG', 'MIN', 'MAX', 'LATEST', 'UNIQUE_COUNT', 'COUNT'] as const) {
      for (const mode of ['none', 'dropped', 'full'] as const) {
        const m = aggregation === 'COUNT' ? { ...meter, aggregation, valueProperty: undefined } : { ...meter, aggregation };
        const sql = buildAggregateSql({ ...base, meter: m, window: plan, fromMs: 0, toMs: 1e12 }, '`db`', mode);
        assert.match(sql, /multiIf\(/);
        if (mode !== 'none') assert.ok(sql.includes(dedupeCondition('`db`', mode)!));
      }
    }
  });
});
