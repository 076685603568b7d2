/**
 * The canonical form of event data (core/json.ts, core/decimal.ts), by generated cases: a random value is written
 * in many spellings (whitespace, escapes, exponent forms, trailing zeros, duplicate keys after the first) and every
 * spelling must give the canonical text of the value itself. Also depth limits and lone surrogates anywhere in an
 * event. The seed is printed in every failure (METER_SEED=... repeats a run).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canonicalNumber, Decimal, MAX_NUMBER_TEXT } from '../src/core/decimal.js';
import { MAX_DATA_DEPTH, parseCloudEvent } from '../src/core/event.js';
import { arrayElements, readEventText } from '../src/core/json.js';
import { prng } from '../bench/generate.js';

const SEED = Number(process.env.METER_SEED ?? Math.floor(Math.random() * 2 ** 31));
const why = (s: string) => `${s} (METER_SEED=${SEED})`;

const rand = prng(SEED);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
const digits = (n: number) => Array.from({ length: n }, () => String(int(10))).join('');

/** A model value: numbers are canonical decimal texts, objects lists of unique keys. */
type Model = { n: string } | { s: string } | boolean | null | Model[] | { o: Array<[string, Model]> };

function randomDecimal(): string {
  const kind = int(6);
  let text: string;
  if (kind === 0) text = String(int(1000));
  else if (kind === 1) text = `${digits(1 + int(25))}`;
  else if (kind === 2) text = `${digits(1 + int(5))}.${digits(1 + int(25))}`;
  else if (kind === 3) text = `0.${'0'.repeat(int(30))}${1 + int(9)}`;
  else if (kind === 4) text = pick(['9223372036854775807', '9223372036854775808', '9007199254740993', '18446744073709551616', '0']);
  else text = `${1 + int(9)}${'0'.repeat(int(40))}`;
  if (rand() < 0.4) text = '-' + text;
  return Decimal.parse(text)!.toString();
}

const STRINGS = ['gpt-4o', 'a"b', 'back\\slash', 'tab\there', 'line\nbreak', 'é', '😀', '\u2028', '=1+2', '', 'ünï', '\u0001'];

function randomModel(depth: number): Model {
  const k = depth > 4 ? int(4) : int(7);
  if (k === 0) return { n: randomDecimal() };
  if (k === 1) return { s: pick(STRINGS) };
  if (k === 2) return pick([true, false, null]);
  if (k === 3) return { n: randomDecimal() };
  if (k === 4) return Array.from({ length: int(4) }, () => randomModel(depth + 1));
  const keys = [...new Set(Array.from({ length: int(5) }, () => pick(['a', 'b', 'v', 'tokens', 'é', 'k"q', 'x y'])))];
  return { o: keys.map((key) => [key, randomModel(depth + 1)] as [string, Model]) };
}

/** The canonical text of a model value. */
function canonical(m: Model): string {
  if (m === null || typeof m === 'boolean') return String(m);
  if (Array.isArray(m)) return `[${m.map(canonical).join(',')}]`;
  if ('n' in m) return m.n;
  if ('s' in m) return JSON.stringify(m.s);
  return `{${m.o.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
}

/** Another spelling of a decimal with the same value. */
function spellNumber(text: string): string {
  const d = Decimal.parse(text)!;
  const neg = text.startsWith('-');
  const abs = neg ? text.slice(1) : text;
  const sign = neg ? '-' : '';
  switch (int(6)) {
    case 0:
      return text;
    case 1:
      return d.isZero()
        ? pick(['-0', '0.000', '0e5', '-0.0E-3'])
        : abs.includes('.')
          ? text + '0'.repeat(1 + int(3))
          : `${text}.${'0'.repeat(1 + int(3))}`;
    case 2: {
      // m x 10^e with the point moved left: 1234.5 -> 1.2345e3
      const [ip, fp = ''] = abs.split('.');
      const all = ip! + fp;
      return `${sign}${all.slice(0, 1)}.${all.slice(1) || '0'}${pick(['e', 'E'])}${pick(['', '+'])}${ip!.length - 1}`;
    }
    case 3: {
      // the point moved right: 0.05 -> 5e-2, 12 -> 1200E-2
      const shift = 1 + int(4);
      const [ip, fp = ''] = abs.split('.');
      const mant = (ip! + fp + '0'.repeat(shift)).replace(/^0+(?=\d)/, '');
      return `${sign}${mant}e-${fp.length + shift}`;
    }
    case 4:
      return abs.includes('.') || d.isZero() ? text : `${text}e0`;
    default:
      return `${text}${pick(['E+0', 'e-0', ''])}`;
  }
}

const ws = () => pick(['', '', '', ' ', '\n', '\t ', '\r\n']);

/** A random spelling of a model value: whitespace, escapes, number forms, and duplicate keys after the first. */
function spell(m: Model): string {
  if (m === null || typeof m === 'boolean') return String(m);
  if (Array.isArray(m)) return `[${ws()}${m.map((v) => spell(v) + ws()).join(`,${ws()}`)}]`;
  if ('n' in m) return spellNumber(m.n);
  if ('s' in m) return spellString(m.s);
  const members = m.o.map(([k, v]) => `${spellString(k)}${ws()}:${ws()}${spell(v)}`);
  // Duplicates of keys already given, after them: the first one must win.
  for (const [k] of m.o) if (rand() < 0.3) members.push(`${spellString(k)}:${spell(randomModel(3))}`);
  return `{${ws()}${members.join(`${ws()},${ws()}`)}${ws()}}`;
}

function spellString(s: string): string {
  if (rand() < 0.5) return JSON.stringify(s);
  // Every character escaped as \uXXXX (surrogate pairs as two escapes), or / as \/.
  return `"${[...s].map((ch) => (rand() < 0.5 ? escapeUnits(ch) : JSON.stringify(ch).slice(1, -1).replace(/\//g, '\\/'))).join('')}"`;
}

function escapeUnits(ch: string): string {
  let out = '';
  for (let i = 0; i < ch.length; i++)
    out +=
      '\\u' +
      ch
        .charCodeAt(i)
        .toString(16)
        .padStart(4, '0')
        .replace(/[a-f]/g, (c) => (rand() < 0.5 ? c.toUpperCase() : c));
  return out;
}

const head = '{"specversion":"1.0","id":"e1","source":"s","type":"t","subject":"acme","time":"2026-11-01T00:00:00Z"';
const RULES = { requireTime: false, nowMs: 0 };

describe('canonical numbers', () => {
  test('canonicalNumber agrees with exact decimal parsing on random spellings', () => {
    for (let c = 0; c < 5000; c++) {
      const value = randomDecimal();
      const s = spellNumber(value);
      assert.equal(canonicalNumber(s), value, why(`${s} should be ${value}`));
      assert.equal(canonicalNumber(s), Decimal.parse(s)!.toString(), why(s));
    }
  });

  test('the length bound: at most MAX_NUMBER_TEXT characters, sign included, whatever the exponent', () => {
    assert.equal(canonicalNumber(`1e${MAX_NUMBER_TEXT - 1}`)!.length, MAX_NUMBER_TEXT);
    assert.equal(canonicalNumber(`1e${MAX_NUMBER_TEXT}`), null);
    assert.equal(canonicalNumber(`-1e${MAX_NUMBER_TEXT - 1}`), null);
    assert.equal(canonicalNumber(`1e-${MAX_NUMBER_TEXT - 2}`)!.length, MAX_NUMBER_TEXT);
    assert.equal(canonicalNumber(`1e-${MAX_NUMBER_TEXT - 1}`), null);
    assert.equal(canonicalNumber('1e999999999999999999'), null);
    assert.equal(canonicalNumber('0e999999999999999999'), '0');
    assert.equal(canonicalNumber('0.000e-999999999999'), '0');
  });
});

describe('canonical data', () => {
  test('every spelling of a value gives the canonical text of the value (first of duplicate keys kept)', () => {
    for (let c = 0; c < 3000; c++) {
      const r0 = randomModel(1);
      const model: Model = r0 !== null && typeof r0 === 'object' && 'o' in r0 ? r0 : { o: [['v', r0]] };
      const text = spell(model);
      const r = readEventText(`${head},"data":${ws()}${text}${ws()}}`, MAX_DATA_DEPTH + 1, 1 << 22);
      assert.equal(r.error, null, why(text));
      assert.equal(r.data, canonical(model), why(`spelled ${text}`));
      // Through the whole validator too, which stores exactly that text.
      const ev = parseCloudEvent(`${head},"data":${text}}`, RULES);
      assert.ok(ev.ok, why(text));
      assert.equal(ev.event.data, canonical(model), why(text));
    }
  });

  test('the canonical text is its own canonical form, and JSON.parse reads the same value', () => {
    for (let c = 0; c < 1000; c++) {
      const model: Model = { o: [['v', randomModel(1)]] };
      const canon = canonical(model);
      const r = readEventText(`${head},"data":${canon}}`, MAX_DATA_DEPTH + 1, 1 << 22);
      assert.equal(r.data, canon, why(canon));
      assert.equal(r.dataDuplicates, false, why(canon));
    }
  });

  test('numbers that cannot be kept exactly reject the event and name the field', () => {
    const r = parseCloudEvent(`${head},"data":{"a":1e5000}}`, RULES);
    assert.equal(r.ok, false);
    assert.match((r as { error: string }).error, /^data: number 1e5000 cannot be kept exactly/);
    // Written out as plain integers too: the bound is on the text, sign included, however the number is spelled.
    for (const [literal, ok] of [
      ['1'.repeat(MAX_NUMBER_TEXT), true],
      ['1'.repeat(MAX_NUMBER_TEXT + 1), false],
      [`-${'1'.repeat(MAX_NUMBER_TEXT - 1)}`, true],
      [`-${'1'.repeat(MAX_NUMBER_TEXT)}`, false],
      ['9'.repeat(10_000), false],
    ] as const) {
      const e = parseCloudEvent(`${head},"data":{"a":[${literal}]}}`, RULES);
      assert.equal(e.ok, ok, `${literal.length} characters`);
      if (!ok) assert.match((e as { error: string }).error, /^data: number (-1{39}|1{40}|9{40})\.\.\. cannot be kept exactly/);
    }
  });

  test('an attribute given twice is rejected (which subject to bill is not a guess)', () => {
    for (const name of ['subject', 'id', 'source', 'type', 'time', 'data', 'ext']) {
      const r = parseCloudEvent(`${head},"ext":1,"data":{},${JSON.stringify(name)}:"x"}`, RULES);
      assert.equal(r.ok, false, name);
      assert.match((r as { error: string }).error, new RegExp(`${name}: given twice`));
    }
  });
});

describe('hostile structure', () => {
  const nest = (levels: number, kind: 'array' | 'object') =>
    kind === 'array' ? '['.repeat(levels) + ']'.repeat(levels) : '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);

  test('data or an extension nested up to the limit is accepted, one level more is rejected, at any depth', () => {
    for (let c = 0; c < 60; c++) {
      const kind = pick(['array', 'object'] as const);
      const where = pick(['data', 'ext'] as const);
      // Levels of the value itself: data's own object counts as the first level.
      const levels = pick([MAX_DATA_DEPTH - 1, MAX_DATA_DEPTH, MAX_DATA_DEPTH + 1, MAX_DATA_DEPTH + 1 + int(50_000)]);
      const inner = nest(levels - 1, kind);
      const value = where === 'data' ? (kind === 'object' ? nest(levels, 'object') : `{"x":${nest(levels - 1, 'array')}}`) : `[${inner}]`;
      const r = parseCloudEvent(`${head},${JSON.stringify(where)}:${value}}`, RULES);
      if (levels <= MAX_DATA_DEPTH) assert.ok(r.ok, why(`${where} ${kind} ${levels}: ${(r as { error?: string }).error}`));
      else {
        assert.equal(r.ok, false, why(`${where} ${kind} ${levels}`));
        assert.match((r as { error: string }).error, new RegExp(`^${where}: nested deeper than ${MAX_DATA_DEPTH} levels`));
      }
    }
  });

  test('lone surrogates anywhere reject the event; pairs are fine', () => {
    const lone = ['\\ud800', '\\uDBFF', '\\udc00', '\\uDFFF', '\\ud800\\ud800', '\\udc00\\ud800'];
    const places = [
      (x: string) => head.replace('"acme"', `"acme${x}"`) + '}',
      (x: string) => head.replace('"e1"', `"e${x}1"`) + '}',
      (x: string) => head.replace('"s"', `"${x}"`) + '}',
      (x: string) => head.replace('"t"', `"t${x}"`) + '}',
      (x: string) => `${head},"data":{"k${x}":1}}`,
      (x: string) => `${head},"data":{"k":["a","${x}"]}}`,
      (x: string) => `${head},"ext":{"a":"${x}"}}`,
      (x: string) => `${head},"e${x}":1}`,
    ];
    for (let c = 0; c < 200; c++) {
      const x = pick(lone);
      const text = pick(places)(x);
      const r = parseCloudEvent(text, RULES);
      assert.equal(r.ok, false, why(text));
      assert.match((r as { error: string }).error, /lone surrogate/, why(text));
    }
    const paired = parseCloudEvent(`${head.replace('"acme"', '"acme\\ud83d\\ude00"')},"data":{"k":"\\uD83D\\uDE00"}}`, RULES);
    assert.ok(paired.ok);
    assert.equal(paired.event.subject, 'acme😀');
    assert.equal(paired.event.data, '{"k":"😀"}');
  });

  test('array elements are cut from the text as written (every digit kept), at any depth', () => {
    const elems = ['{"a":9007199254740993}', ' {"b":"x]\\"}"} ', '[[[]]]', '1e400', '"s"', nest(100_000, 'array')];
    const got = arrayElements(`[${elems.join(',')}]`);
    assert.deepEqual(
      got,
      elems.map((e) => e.trim()),
    );
  });
});
