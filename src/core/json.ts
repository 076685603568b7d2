/**
 * The canonical form of an event's JSON, computed from the event's own text (never from JSON.parse's doubles) by
 * an iterative scanner, so that no input, however deep, can overflow the stack.
 *
 * Canonical `data` is what every store keeps, so that equal values give equal answers whatever their spelling:
 * - compact (no whitespace outside strings), members in input order;
 * - of duplicate keys the first is kept (as SQLite's JSON functions read them); later ones are dropped;
 * - strings as JSON.stringify prints them (`"\u0041"` is `"A"`); a lone surrogate anywhere is a problem;
 * - numbers as canonical decimals (`2.0` is `2`, `1e3` is `1000`, `-0` is `0`), every digit as written.
 * The texts given here are valid JSON (JSON.parse accepted them); the scanner only makes sure it never runs off
 * the end. One cohesive thing, a little over 400 lines: the scanner and the few readers built on it.
 */
import { canonicalNumber, MAX_NUMBER_TEXT } from './decimal.js';

declare global {
  interface String {
    /** ES2024, in Node 20: false when the string holds a lone surrogate. */
    isWellFormed(): boolean;
  }
}

const QUOTE = 34,
  BACKSLASH = 92,
  LBRACE = 123,
  RBRACE = 125,
  LBRACKET = 91,
  RBRACKET = 93,
  COLON = 58,
  COMMA = 44;

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

export function skipSpace(t: string, i: number): number {
  while (isSpace(t.charCodeAt(i))) i++;
  return i;
}

export const LONE_SURROGATE = 'a lone surrogate (an unpaired \\uD800-\\uDFFF escape) is not a Unicode character';

/** What scanning one value found. */
export interface ScanResult {
  /** Index just past the value; -1 when `error` is set. */
  end: number;
  error: string | null;
  /** The canonical text, when asked for. */
  text: string;
  /** Whether duplicate keys were dropped (JSON.parse of the value, which keeps the last, then differs). */
  duplicates: boolean;
}

/** An object or array being scanned. */
interface Frame {
  object: boolean;
  /** Keys seen so far (objects): an array while few, a Set beyond. */
  keys: string[] | Set<string> | null;
  /** Where the last comma of this frame was, and `out.length` and `from` then: to undo a dropped member. */
  commaAt: number;
  outAtComma: number;
  fromAtComma: number;
}

/** The index of the closing quote of the string whose opening quote is at `i`; -1 when unterminated. */
export function stringClose(t: string, i: number): number {
  let j = i;
  for (;;) {
    j = t.indexOf('"', j + 1);
    if (j < 0) return -1;
    // A quote after an odd number of backslashes is escaped.
    let b = j - 1;
    while (t.charCodeAt(b) === BACKSLASH) b--;
    if ((j - 1 - b) % 2 === 0) return j;
  }
}

function hasBackslash(t: string, from: number, to: number): boolean {
  const b = t.indexOf('\\', from);
  return b >= 0 && b < to;
}

/** The value of the string token t[i..close] that holds escapes, or the problem of a lone surrogate. */
function decodeEscaped(t: string, i: number, close: number): string | { problem: string } {
  const value = JSON.parse(t.slice(i, close + 1)) as string;
  return value.isWellFormed() ? value : { problem: LONE_SURROGATE };
}

/** Whether t[a..b) is an integer literal already in canonical form (the usual case, decided without a copy). */
function isCanonicalInteger(t: string, a: number, b: number): boolean {
  let j = a;
  if (t.charCodeAt(j) === 45) j++; // '-'
  if (j >= b) return false;
  if (t.charCodeAt(j) === 48) return b - j === 1 && j === a; // "0"; not "-0", "01" or "0.5"
  for (; j < b; j++) {
    const c = t.charCodeAt(j);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** Whether the key was seen before in this object; notes it. */
function seenBefore(f: Frame, key: string): boolean {
  if (f.keys === null) {
    f.keys = [key];
    return false;
  }
  if (Array.isArray(f.keys)) {
    if (f.keys.includes(key)) return true;
    f.keys.push(key);
    if (f.keys.length > 16) f.keys = new Set(f.keys);
    return false;
  }
  if (f.keys.has(key)) return true;
  f.keys.add(key);
  return false;
}

/**
 * Scans the JSON value at `start` (not whitespace) and, with `emit`, builds its canonical text (at most `limit`
 * characters). `depth` is the nesting level of the value's container (0 for a value on its own): a container
 * deeper than `maxDepth` is a problem, as is a lone surrogate or a number that cannot be kept exactly.
 */
export function scanValue(t: string, start: number, emit: boolean, depth: number, maxDepth: number, limit = Infinity): ScanResult {
  const frames: Frame[] = [];
  // `out` holds the canonical text of t[start..from); t[from..i) is still to be copied as it is.
  let out = '';
  let from = start;
  let duplicates = false;
  // The frame (its index) one of whose members, a duplicate key, is being dropped; nothing is emitted meanwhile.
  let dropping = -1;
  let i = start;
  const replace = (a: number, b: number, text: string): void => {
    if (!emit || dropping >= 0) return;
    out += t.slice(from, a) + text;
    from = b;
  };
  const space = (): void => {
    if (!isSpace(t.charCodeAt(i))) return;
    const a = i;
    i = skipSpace(t, i);
    replace(a, i, '');
  };
  const fail = (error: string): ScanResult => ({ end: -1, error, text: '', duplicates });
  // Reads the key at i and the colon after it, leaving i at the member's value. A duplicate key drops its member
  // from the comma before it (which a duplicate always has).
  const readKey = (f: Frame, index: number): string | null => {
    if (t.charCodeAt(i) !== QUOTE) return 'invalid JSON: expected a key';
    const close = stringClose(t, i);
    if (close < 0) return 'invalid JSON: unterminated string';
    let key: string;
    if (hasBackslash(t, i, close)) {
      const v = decodeEscaped(t, i, close);
      if (typeof v !== 'string') return v.problem;
      key = v;
      const canonical = JSON.stringify(v);
      if (canonical !== t.slice(i, close + 1)) replace(i, close + 1, canonical);
    } else key = t.slice(i + 1, close);
    i = close + 1;
    if (dropping < 0 && seenBefore(f, key)) {
      duplicates = true;
      if (emit) {
        out = out.slice(0, f.outAtComma) + t.slice(f.fromAtComma, f.commaAt);
        from = f.commaAt;
      }
      dropping = index;
    }
    space();
    if (t.charCodeAt(i) !== COLON) return 'invalid JSON: expected a colon';
    i++;
    space();
    return null;
  };

  for (;;) {
    // A value starts at i.
    const c = t.charCodeAt(i);
    if (c === LBRACE || c === LBRACKET) {
      if (depth + frames.length + 1 > maxDepth) return fail(`nested deeper than ${maxDepth - depth} levels`);
      const f: Frame = { object: c === LBRACE, keys: null, commaAt: -1, outAtComma: 0, fromAtComma: 0 };
      frames.push(f);
      i++;
      space();
      const d = t.charCodeAt(i);
      if (d !== RBRACE && d !== RBRACKET) {
        if (f.object) {
          const problem = readKey(f, frames.length - 1);
          if (problem !== null) return fail(problem);
        }
        continue;
      }
      frames.pop();
      i++;
    } else if (c === QUOTE) {
      const close = stringClose(t, i);
      if (close < 0) return fail('invalid JSON: unterminated string');
      if (hasBackslash(t, i, close)) {
        const v = decodeEscaped(t, i, close);
        if (typeof v !== 'string') return fail(v.problem);
        const canonical = JSON.stringify(v);
        if (canonical !== t.slice(i, close + 1)) replace(i, close + 1, canonical);
      }
      i = close + 1;
    } else if (c === 116 /* true */ || c === 110 /* null */) {
      i += 4;
    } else if (c === 102 /* false */) {
      i += 5;
    } else if (Number.isNaN(c)) {
      return fail('invalid JSON: unexpected end');
    } else {
      const a = i;
      for (let d = c; i < t.length && d !== COMMA && d !== RBRACE && d !== RBRACKET && !isSpace(d); d = t.charCodeAt(++i));
      // A canonical integer is kept as written, unless it is too long to keep (canonicalNumber refuses it).
      if (i - a > MAX_NUMBER_TEXT || !isCanonicalInteger(t, a, i)) {
        const literal = t.slice(a, i);
        const canonical = canonicalNumber(literal);
        if (canonical === null) {
          const shown = literal.length > 40 ? literal.slice(0, 40) + '...' : literal;
          return fail(`number ${shown} cannot be kept exactly: its plain decimal text is over ${MAX_NUMBER_TEXT} characters`);
        }
        if (canonical !== literal) replace(a, i, canonical);
      }
    }
    // After a value: close containers, or go on to the next element or member.
    for (;;) {
      if (frames.length === 0) {
        const text = !emit ? '' : from === start ? t.slice(start, i) : out + t.slice(from, i);
        if (text.length > limit) return fail(`over ${limit} characters once made canonical`);
        return { end: i, error: null, text, duplicates };
      }
      space();
      const f = frames[frames.length - 1]!;
      const d = t.charCodeAt(i);
      if (dropping === frames.length - 1 && (d === COMMA || d === RBRACE)) {
        // The dropped member ends here: its text is skipped.
        from = i;
        dropping = -1;
      }
      if (d === COMMA) {
        if (f.object) {
          f.commaAt = i;
          f.outAtComma = out.length;
          f.fromAtComma = from;
        }
        i++;
        space();
        if (f.object) {
          const problem = readKey(f, frames.length - 1);
          if (problem !== null) return fail(problem);
        }
        if (out.length > limit) return fail(`over ${limit} characters once made canonical`);
        break;
      }
      if (d !== RBRACE && d !== RBRACKET)
        return fail(Number.isNaN(d) ? 'invalid JSON: unexpected end' : 'invalid JSON: unexpected character');
      frames.pop();
      i++;
    }
  }
}

/** The index just past the JSON value at `i` (not whitespace), without any check; -1 when it does not end. */
export function valueEnd(t: string, i: number): number {
  const c = t.charCodeAt(i);
  if (c === QUOTE) {
    const close = stringClose(t, i);
    return close < 0 ? -1 : close + 1;
  }
  if (c === LBRACE || c === LBRACKET) {
    let depth = 0;
    for (let j = i; j < t.length; j++) {
      const d = t.charCodeAt(j);
      if (d === QUOTE) {
        j = stringClose(t, j);
        if (j < 0) return -1;
      } else if (d === LBRACE || d === LBRACKET) depth++;
      else if ((d === RBRACE || d === RBRACKET) && --depth === 0) return j + 1;
    }
    return -1;
  }
  let j = i;
  for (let d = c; j < t.length && d !== COMMA && d !== RBRACE && d !== RBRACKET && !isSpace(d); d = t.charCodeAt(++j));
  return j;
}

/** What an event's own text says beyond what JSON.parse gives. */
export interface EventText {
  error: string | null;
  /** The canonical text of `data`; undefined when the event has no `data` member. */
  data?: string;
  /** Whether `data` had duplicate keys (then its JSON.parse value is not the canonical one). */
  dataDuplicates: boolean;
}

/**
 * Reads an event's text (a JSON object): every attribute is checked for depth (`maxDepth` levels, the event being
 * the first) and lone surrogates, an attribute given twice is a problem (which of two subjects to bill is not a
 * guess to make), and `data` is made canonical, at most `limit` characters.
 */
export function readEventText(t: string, maxDepth: number, limit: number): EventText {
  const fail = (error: string): EventText => ({ error, dataDuplicates: false });
  let i = skipSpace(t, 0);
  if (t.charCodeAt(i) !== LBRACE) return fail('event must be a JSON object');
  i = skipSpace(t, i + 1);
  const names: string[] = [];
  let data: string | undefined;
  let dataDuplicates = false;
  if (t.charCodeAt(i) === RBRACE) return { error: null, dataDuplicates };
  for (;;) {
    if (t.charCodeAt(i) !== QUOTE) return fail('invalid JSON: expected a key');
    const close = stringClose(t, i);
    if (close < 0) return fail('invalid JSON: unterminated string');
    let name: string;
    if (hasBackslash(t, i, close)) {
      const v = decodeEscaped(t, i, close);
      if (typeof v !== 'string') return fail(`attribute name: ${v.problem}`);
      name = v;
    } else name = t.slice(i + 1, close);
    if (names.includes(name)) return fail(`${name}: given twice`);
    names.push(name);
    i = skipSpace(t, close + 1);
    if (t.charCodeAt(i) !== COLON) return fail('invalid JSON: expected a colon');
    i = skipSpace(t, i + 1);
    let end: number;
    if (name === 'data') {
      const r = scanValue(t, i, true, 1, maxDepth, limit);
      if (r.error !== null) return fail(`data: ${r.error}`);
      data = r.text;
      dataDuplicates = r.duplicates;
      end = r.end;
    } else if (t.charCodeAt(i) === QUOTE) {
      // The usual attribute, a string: only its escapes need a look.
      end = stringClose(t, i);
      if (end < 0) return fail('invalid JSON: unterminated string');
      if (hasBackslash(t, i, end)) {
        const v = decodeEscaped(t, i, end);
        if (typeof v !== 'string') return fail(`${name}: ${v.problem}`);
      }
      end++;
    } else {
      const r = scanValue(t, i, false, 1, maxDepth);
      if (r.error !== null) return fail(`${name}: ${r.error}`);
      end = r.end;
    }
    i = skipSpace(t, end);
    const d = t.charCodeAt(i);
    if (d === RBRACE) return { error: null, data, dataDuplicates };
    if (d !== COMMA) return fail('invalid JSON: unexpected character');
    i = skipSpace(t, i + 1);
  }
}

/** The canonical form of stored JSON text, or the text itself where it cannot be read (upgrades of old stores). */
export function canonicalOrSame(text: string): string {
  const r = scanValue(text, skipSpace(text, 0), true, 0, Infinity);
  return r.error === null ? r.text : text;
}

/** The texts of the elements of the JSON array text `t` (each one's own slice of `t`). */
export function arrayElements(t: string): string[] {
  const out: string[] = [];
  let i = skipSpace(t, 0);
  if (t.charCodeAt(i) !== LBRACKET) return out;
  i = skipSpace(t, i + 1);
  if (t.charCodeAt(i) === RBRACKET) return out;
  for (;;) {
    const end = valueEnd(t, i);
    if (end < 0) return out;
    out.push(t.slice(i, end));
    i = skipSpace(t, end);
    if (t.charCodeAt(i) !== COMMA) return out;
    i = skipSpace(t, i + 1);
  }
}

/**
 * The text of the value at `steps` (object keys and array indexes) inside the JSON text `t`, or undefined when
 * there is none: a mapping takes a number's literal from here, so a decimal such as `0.000123` never goes through
 * a double. Of duplicate keys the last is taken, as JSON.parse takes it, so the literal always belongs to the
 * value the mapping checked. `t` is valid JSON (JSON.parse accepted it); the walk is iterative.
 */
export function valueTextAt(t: string, steps: ReadonlyArray<string | number>): string | undefined {
  let start = skipSpace(t, 0);
  for (const step of steps) {
    const open = t.charCodeAt(start);
    let i = skipSpace(t, start + 1);
    let found = -1;
    if (typeof step === 'string') {
      if (open !== LBRACE) return undefined;
      if (t.charCodeAt(i) === RBRACE) return undefined;
      for (;;) {
        const close = stringClose(t, i);
        if (close < 0) return undefined;
        const key = hasBackslash(t, i, close) ? (JSON.parse(t.slice(i, close + 1)) as string) : t.slice(i + 1, close);
        i = skipSpace(t, close + 1) + 1; // past the colon
        i = skipSpace(t, i);
        if (key === step) found = i;
        const end = valueEnd(t, i);
        if (end < 0) return undefined;
        i = skipSpace(t, end);
        if (t.charCodeAt(i) !== COMMA) break;
        i = skipSpace(t, i + 1);
      }
    } else {
      if (open !== LBRACKET) return undefined;
      if (t.charCodeAt(i) === RBRACKET) return undefined;
      for (let n = 0; ; n++) {
        if (n === step) {
          found = i;
          break;
        }
        const end = valueEnd(t, i);
        if (end < 0) return undefined;
        i = skipSpace(t, end);
        if (t.charCodeAt(i) !== COMMA) break;
        i = skipSpace(t, i + 1);
      }
    }
    if (found < 0) return undefined;
    start = found;
  }
  const end = valueEnd(t, start);
  return end < 0 ? undefined : t.slice(start, end);
}

/**
 * The deepest nesting any input text may hold before JSON.parse sees it. JSON.parse holds tens of bytes per level
 * before it can fail (a 10 MB line of `[` took 750 MB); at this depth that is a few MB. Events themselves are
 * refused past 128 levels by the scanner that makes them canonical, one element of a batch at a time, so a line
 * holding one deep event among good ones keeps the good ones.
 */
export const MAX_INPUT_DEPTH = 100_000;

/** Whether a text nests deeper than MAX_INPUT_DEPTH levels, found by the iterative scanner (only long texts can). */
export function nestsTooDeep(text: string): boolean {
  if (text.length <= MAX_INPUT_DEPTH) return false;
  return scanValue(text, skipSpace(text, 0), false, 0, MAX_INPUT_DEPTH).error?.startsWith('nested') === true;
}

/**
 * Sets a member of an object as JSON.parse makes it: a key named `__proto__` becomes an own member too (assigning
 * it would set the object's prototype instead, and the member would be lost from its JSON).
 */
export function setMember(o: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
  else o[key] = value;
}
