/**
 * Flattening `data` at ingest: each stored row carries its data read as the spec reads it (flattenData: first of
 * duplicate keys, escapes undone, numbers canonical), in parallel arrays, so meters defined later read values and
 * dimensions by exact path whatever the JSON looked like. Values follow spec-canonical.md: numbers are exact
 * decimals, never doubles. A store receives canonical `data`, but old stores and direct writers may hold other
 * spellings, so every number read here is made canonical anyway.
 *
 * The arrays (columns of `events`; store.ts has the reader's guide):
 *   jp/js/jk: every addressable path ($.a, $.a.b, $.a[0]); its text as a group-by, filter and UNIQUE_COUNT value
 *             (a string its value, a number its canonical decimal, `true`/`false`, an object or array its JSON
 *             text up to MAX_NODE_TEXT, null ''); and its kind (0 null, 1 scalar, 2 object or array);
 *   np/nt/nk/ni/nf/nx: every path holding a usable value (a number, or a numeric string, whose canonical text has
 *             at most MAX_NUMBER_TEXT characters); its canonical decimal text (what sums add and what MIN, MAX and
 *             LATEST show); its exact order key (order-key.ts); its integer part and 18-digit fraction as Int64s
 *             (exact Decimal128 sums in SQL; nx = 0 when they cannot hold it: then its text is summed in JS).
 *
 * The tokens (where a string or a value ends) are read by core/json.ts's scanner, the one that makes `data`
 * canonical. The walk here is its own: it visits every path to fill the arrays, where core/json.ts writes one
 * canonical text with depth and size checks; a walk serving both would call back per node, and this walk is the
 * CPU cost of every ClickHouse ingest (bench/flatten.ts measures it).
 */
import { Decimal, decimalText, MAX_NUMBER_TEXT } from '../../core/decimal.js';
import { stringClose, valueEnd } from '../../core/json.js';
import { pathSteps } from '../../core/meter.js';
import { orderKeyOfCanonical } from './order-key.js';

/** Object and array texts longer than this are not kept as group-by values (grouping by them shows empty). */
export const MAX_NODE_TEXT = 65_536;

/** Keys a meter path can name (see JSON_PATH in core/meter.ts): others are never looked up, so not stored. */
const PATH_KEY = /^[^.[\]"'\\\s\u0000-\u001f]+$/;

/**
 * One event's data, flattened (see the header). Integers are numbers when safe, else decimal text
 * (written as 64-bit on the wire).
 */
export interface FlatData {
  /** How many entries of jp/js/jk, and of the numeric arrays, are in use (the arrays are reused). */
  jn: number;
  nn: number;
  jp: string[];
  js: string[];
  jk: number[];
  np: string[];
  nt: string[];
  nk: string[];
  ni: Array<number | string>;
  nf: Array<number | string>;
  nx: number[];
}

export function emptyFlat(): FlatData {
  return { jn: 0, nn: 0, jp: [], js: [], jk: [], np: [], nt: [], nk: [], ni: [], nf: [], nx: [] };
}

/** A decimal integer text as a number when it is safe, else kept as text. */
function intValue(text: string): number | string {
  return text.length <= 15 ? Number(text) : Number.isSafeInteger(Number(text)) ? Number(text) : text;
}

/**
 * The split of a plain decimal text (no exponent, no trailing fraction zeros, `-` for negatives) into an integer
 * part and 18 fraction digits; null when it has more than 18 digits on either side (such values are summed
 * from their text).
 */
export function decimalParts(text: string): { int: number | string; frac: number | string } | null {
  const neg = text.charCodeAt(0) === 45; // '-'
  const dot = text.indexOf('.');
  const ip = text.slice(neg ? 1 : 0, dot < 0 ? text.length : dot);
  const fr = dot < 0 ? '' : text.slice(dot + 1);
  if (ip.length > 18 || fr.length > 18) return null;
  const sign = neg ? '-' : '';
  const f = fr === '' ? '0' : fr.padEnd(18, '0').replace(/^0+(?=\d)/, '');
  return { int: ip === '0' ? 0 : intValue(sign + ip), frac: f === '0' ? 0 : intValue(sign + f) };
}

/** A canonical decimal text (what the spec's canonical data holds): checked so that it is used without parsing. */
const CANONICAL_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d*[1-9])?$/;
/**
 * The canonical decimal text of a JSON number literal or a numeric string (`1.50` -> `1.5`, `1e3` -> `1000`,
 * `-0` -> `0`); null when it is no finite decimal. A canonical literal is its own text. Unlike canonicalNumber
 * of core/decimal.ts it has no MAX_NUMBER_TEXT bound (its callers apply the bound to what they sum, and keep a
 * longer number's canonical text as its group-by text).
 */
export function canonicalNumber(text: string): string | null {
  if (text !== '-0' && CANONICAL_NUMBER.test(text)) return text;
  return Decimal.parse(text)?.toString() ?? null;
}

/**
 * Reads `data` (its stored JSON text, compact) as the spec reads it: paths as `$.a.b` / `$.a[0]`, the first of
 * duplicate keys, escaped keys and strings unescaped, every number as its canonical decimal text (whatever its
 * spelling in the stored text: old stores and direct writers may hold other spellings), objects and arrays as
 * their text.
 */
export function flattenData(text: string | null, into: FlatData = emptyFlat()): FlatData {
  into.jn = into.nn = 0;
  if (text !== null) new DataScanner(text, into).top();
  return into;
}

const QUOTE = 34,
  LBRACE = 123,
  RBRACE = 125,
  LBRACKET = 91,
  RBRACKET = 93,
  COMMA = 44;

class DataScanner {
  private i = 0;
  constructor(
    private readonly t: string,
    private readonly f: FlatData,
  ) {}

  top(): void {
    if (this.t.charCodeAt(0) !== LBRACE) return;
    this.object('$');
  }

  /** A string at i (the opening quote): its value; i moves past it. */
  private string(): string {
    const t = this.t;
    const start = this.i;
    const close = stringClose(t, start);
    if (close < 0) throw new Error('unterminated string in data');
    this.i = close + 1;
    const raw = t.slice(start + 1, close);
    return raw.includes('\\') ? (JSON.parse(t.slice(start, close + 1)) as string) : raw;
  }

  /** Moves i past the value at i. */
  private skip(): void {
    const end = valueEnd(this.t, this.i);
    if (end < 0) throw new Error(this.t.charCodeAt(this.i) === QUOTE ? 'unterminated string in data' : 'unterminated object in data');
    this.i = end;
  }

  private object(path: string): void {
    const t = this.t;
    this.i++; // {
    if (t.charCodeAt(this.i) === RBRACE) {
      this.i++;
      return;
    }
    let seen: string[] | Set<string> | null = null;
    for (;;) {
      const key = this.string();
      this.i++; // :
      let dup = false;
      if (seen === null) seen = [key];
      else if (Array.isArray(seen)) {
        dup = seen.includes(key);
        if (!dup) {
          seen.push(key);
          if (seen.length > 16) seen = new Set(seen);
        }
      } else {
        dup = seen.has(key);
        seen.add(key);
      }
      // The first of duplicate keys counts (the spec; canonical data has none); a key a meter path cannot name is
      // never looked up.
      if (dup || !PATH_KEY.test(key)) this.skip();
      else this.value(path + '.' + key);
      if (t.charCodeAt(this.i) === COMMA) this.i++;
      else {
        this.i++; // }
        return;
      }
    }
  }

  private array(path: string): void {
    const t = this.t;
    this.i++; // [
    if (t.charCodeAt(this.i) === RBRACKET) {
      this.i++;
      return;
    }
    for (let n = 0; ; n++) {
      this.value(`${path}[${n}]`);
      if (t.charCodeAt(this.i) === COMMA) this.i++;
      else {
        this.i++; // ]
        return;
      }
    }
  }

  private value(path: string): void {
    const f = this.f,
      t = this.t;
    const at = f.jn++;
    f.jp[at] = path;
    const c = t.charCodeAt(this.i);
    if (c === QUOTE) {
      const v = this.string();
      f.js[at] = v;
      f.jk[at] = 1;
      // A numeric string counts as its decimal; its group-by text stays the string.
      // decimalText, as the SQLite store counts it: a zero with any exponent ("0e100001") counts as 0.
      const exact = decimalText(v);
      if (exact !== null) addNumber(f, path, exact);
    } else if (c === LBRACE || c === LBRACKET) {
      const start = this.i;
      f.js[at] = '';
      f.jk[at] = 2;
      if (c === LBRACE) this.object(path);
      else this.array(path);
      if (this.i - start <= MAX_NODE_TEXT) f.js[at] = t.slice(start, this.i);
    } else if (c === 116 /* t */) {
      this.i += 4;
      f.js[at] = 'true';
      f.jk[at] = 1;
    } else if (c === 102 /* f */) {
      this.i += 5;
      f.js[at] = 'false';
      f.jk[at] = 1;
    } else if (c === 110 /* n */) {
      this.i += 4;
      f.js[at] = '';
      f.jk[at] = 0;
    } else {
      const start = this.i;
      this.skip();
      const lit = t.slice(start, this.i);
      f.jk[at] = 1;
      // The number's value is its canonical decimal: its group-by and UNIQUE_COUNT text, and what sums add.
      const exact = canonicalNumber(lit);
      f.js[at] = exact ?? lit;
      const counted = exact !== null && exact.length <= MAX_NUMBER_TEXT ? exact : decimalText(lit);
      if (counted !== null) addNumber(f, path, counted);
    }
  }
}

/**
 * Adds a usable number by its canonical decimal text `exact`: what sums add and MIN, MAX and LATEST show, with
 * its order key and, when it fits, its split into an integer part and 18 fraction digits.
 */
function addNumber(f: FlatData, path: string, exact: string): void {
  const n = f.nn++;
  f.np[n] = path;
  f.nt[n] = exact;
  f.nk[n] = orderKeyOfCanonical(exact);
  if (exact.length <= 15 && exact.indexOf('.') < 0) {
    // The common case, a small integer: no text splitting.
    f.ni[n] = Number(exact);
    f.nf[n] = 0;
    f.nx[n] = 1;
    return;
  }
  const parts = decimalParts(exact);
  f.ni[n] = parts ? parts.int : 0;
  f.nf[n] = parts ? parts.frac : 0;
  f.nx[n] = parts ? 1 : 0;
}

/** The canonical form of a meter path as flattenData writes it (`$.a[00]` -> `$.a[0]`). */
export function canonicalPath(path: string): string {
  let out = '$';
  for (const s of pathSteps(path)) out += typeof s === 'number' ? `[${s}]` : `.${s}`;
  return out;
}
