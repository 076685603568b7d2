/**
 * A sparse reader of JSON objects, for `--map`: it checks the whole text as strictly as JSON.parse does, but builds
 * only the members a mapping can look at (a raw OpenAI response is mostly `choices`, which no mapping reads).
 * Everything it builds equals what JSON.parse builds at the same place, so a mapper gives the same answer on
 * either. Where its answer could differ, or is not worth the code, it gives up (null) and the caller parses the
 * text with JSON.parse: invalid JSON (whose reject names JSON.parse's message), a member a mapping reads given twice
 * (the generic path rejects the record), an escaped key, raw control characters anywhere (inside strings they are invalid JSON,
 * outside they are whitespace that compact NDJSON lines do not hold), nesting deeper than MAX_DEPTH, or a number it
 * builds whose double is whole but whose literal has a fraction or an exponent (`1e2`, `10.0000000000000001`,
 * `1e-400`): whether that literal is a whole number is for the mapping to read from the text. So a safe integer this
 * builds is its literal exactly. What it builds whole with JSON.parse (a member whose members no path reads one by
 * one) is not checked so: see insideWhole.
 */

/** The members to build: a key's entry is its members to build when it holds an object, or null to build it whole. */
export type Wanted = Map<string, Wanted | null>;

/**
 * Whether reading `steps` goes inside a member that `w` builds whole (an array on the way, or the member of a shorter
 * path): JSON.parse builds it, which keeps the last of duplicate keys and makes no difference between 10 and
 * 10.0000000000000001, so a mapping reading there needs the record JSON.parse makes and the generic path.
 */
export function insideWhole(w: Wanted, steps: ReadonlyArray<string | number>): boolean {
  let at: Wanted | null | undefined = w;
  for (let k = 0; k < steps.length; k++) {
    const step = steps[k]!;
    if (typeof step === 'number' || at === null) return true;
    at = at.get(step);
    if (at === undefined) return false;
  }
  return false;
}

/** Adds a mapping's path (object keys; an array index builds its array whole) to `w`: its last step is built whole. */
export function addWanted(w: Wanted, steps: ReadonlyArray<string | number>): void {
  let at = w;
  for (let k = 0; k < steps.length; k++) {
    const step = steps[k]!;
    if (typeof step === 'number') return;
    const last = k === steps.length - 1 || typeof steps[k + 1] === 'number';
    const next = at.get(step);
    if (last) {
      at.set(step, null);
      return;
    }
    if (next === null) return; // built whole already
    if (next === undefined) at.set(step, (at = new Map()));
    else at = next;
  }
}

/** A Wanted made fast to match: keys by length, compared in place in the text (no key string for skipped members). */
interface Members {
  byLength: Array<Array<[string, Members | null]> | undefined>;
}

const compiled = new WeakMap<Wanted, Members>();

function members(w: Wanted): Members {
  let m = compiled.get(w);
  if (m !== undefined) return m;
  m = { byLength: [] };
  compiled.set(w, m);
  for (const [key, sub] of w) (m.byLength[key.length] ??= []).push([key, sub === null ? null : members(sub)]);
  return m;
}

/** The member of `m` whose key is text[a..b), or undefined. */
function member(m: Members, a: number, b: number): [string, Members | null] | undefined {
  const list = m.byLength[b - a];
  if (list === undefined) return undefined;
  const first = text.charCodeAt(a);
  for (let k = 0; k < list.length; k++) {
    const key = list[k]![0];
    if (key.charCodeAt(0) === first && text.startsWith(key, a)) return list[k];
  }
  return undefined;
}

/** Deepest nesting read here; deeper texts are left to JSON.parse. */
const MAX_DEPTH = 64;
const QUOTE = 34,
  BACKSLASH = 92,
  LBRACE = 123,
  RBRACE = 125,
  LBRACKET = 91,
  RBRACKET = 93,
  COLON = 58,
  COMMA = 44,
  SPACE = 32;
/** Raw control characters: invalid inside strings, and outside them whitespace that compact lines do not have. */
const CONTROL = /[\u0000-\u001f]/;

// The text being read, and the position of its next backslash at or after the last asked-for position (the text's
// length when there is none): found once, so that a string without escapes costs one indexOf for its close.
let text = '';
let backslash = -1;
/** Whether the last string stringEnd read holds an escape. */
let escaped = false;
/** Whether the last number numberEnd read has a fraction or an exponent. */
let fractional = false;
const stack = new Uint8Array(MAX_DEPTH);

function nextBackslash(i: number): number {
  if (backslash < i) {
    backslash = text.indexOf('\\', i);
    if (backslash < 0) backslash = text.length;
  }
  return backslash;
}

function space(i: number): number {
  while (text.charCodeAt(i) === SPACE) i++;
  return i;
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

/** The index past the string whose opening quote is at `i`, checking its escapes; -1 when invalid. */
function stringEnd(i: number): number {
  let from = i + 1;
  escaped = false;
  for (;;) {
    const close = text.indexOf('"', from);
    if (close < 0) return -1;
    const b = nextBackslash(from);
    if (b > close) return close + 1;
    escaped = true;
    const c = text.charCodeAt(b + 1);
    if (c === 117) {
      // \uXXXX
      if (
        !(isHex(text.charCodeAt(b + 2)) && isHex(text.charCodeAt(b + 3)) && isHex(text.charCodeAt(b + 4)) && isHex(text.charCodeAt(b + 5)))
      )
        return -1;
      from = b + 6;
    } else if (c === QUOTE || c === BACKSLASH || c === 47 || c === 98 || c === 102 || c === 110 || c === 114 || c === 116) {
      from = b + 2;
    } else return -1;
  }
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** The index past the number at `i` (JSON's grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?); -1 when none. */
function numberEnd(i: number): number {
  let j = i;
  fractional = false;
  if (text.charCodeAt(j) === 45) j++;
  const c = text.charCodeAt(j);
  if (c === 48) j++;
  else if (c >= 49 && c <= 57) while (isDigit(text.charCodeAt(++j)));
  else return -1;
  if (text.charCodeAt(j) === 46) {
    fractional = true;
    if (!isDigit(text.charCodeAt(++j))) return -1;
    while (isDigit(text.charCodeAt(++j)));
  }
  const e = text.charCodeAt(j);
  if (e === 101 || e === 69) {
    fractional = true;
    const s = text.charCodeAt(++j);
    if (s === 43 || s === 45) j++;
    if (!isDigit(text.charCodeAt(j))) return -1;
    while (isDigit(text.charCodeAt(++j)));
  }
  return j;
}

/** From a key's opening quote at `i`: the index of its value (past the colon and spaces); -1 when invalid. */
function pastKey(i: number): number {
  if (text.charCodeAt(i) !== QUOTE) return -1;
  const end = stringEnd(i);
  if (end < 0) return -1;
  i = space(end);
  return text.charCodeAt(i) === COLON ? space(i + 1) : -1;
}

/** The index past the JSON value at `i`, checked; -1 when invalid or deeper than MAX_DEPTH. Iterative. */
function skipValue(i: number): number {
  let depth = 0;
  for (;;) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i = stringEnd(i);
      if (i < 0) return -1;
    } else if (c === LBRACE || c === LBRACKET) {
      i = space(i + 1);
      if (text.charCodeAt(i) === (c === LBRACE ? RBRACE : RBRACKET)) i++;
      else {
        if (depth >= MAX_DEPTH) return -1;
        stack[depth++] = c;
        if (c === LBRACE && (i = pastKey(i)) < 0) return -1;
        continue;
      }
    } else if (c === 116) {
      if (!text.startsWith('true', i)) return -1;
      i += 4;
    } else if (c === 102) {
      if (!text.startsWith('false', i)) return -1;
      i += 5;
    } else if (c === 110) {
      if (!text.startsWith('null', i)) return -1;
      i += 4;
    } else if ((i = numberEnd(i)) < 0) return -1;
    // After a value: close containers, or go on to the next element or member.
    for (;;) {
      if (depth === 0) return i;
      i = space(i);
      const d = text.charCodeAt(i);
      const open = stack[depth - 1];
      if (d === COMMA) {
        i = space(i + 1);
        if (open === LBRACE && (i = pastKey(i)) < 0) return -1;
        break;
      }
      if (d !== (open === LBRACE ? RBRACE : RBRACKET)) return -1;
      depth--;
      i++;
    }
  }
}

/** What valueAt gives for a number whose literal it cannot stand for (see the file's comment). */
const UNSURE = Symbol('unsure');

/** The value of the checked JSON text text[a..b), as JSON.parse makes it (just read by skipValue); or UNSURE. */
function valueAt(a: number, b: number): unknown {
  const c = text.charCodeAt(a);
  // A slice of 13 characters or more would be a view that keeps the whole record alive as long as the value (an id
  // waits in a chunk of thousands of events): JSON.parse makes it a string of its own.
  if (c === QUOTE) return escaped || b - a > 14 ? JSON.parse(text.slice(a, b)) : text.slice(a + 1, b - 1);
  if (c === 116) return true;
  if (c === 102) return false;
  if (c === 110) return null;
  if (c === LBRACE || c === LBRACKET) return JSON.parse(text.slice(a, b));
  // A checked number: Number() reads JSON's number grammar exactly as JSON.parse does (the nearest double).
  const n = Number(text.slice(a, b));
  return fractional && Number.isInteger(n) ? UNSURE : n;
}

/**
 * The JSON object text `t` with only the `wanted` members built (see the file's comment), or null: use JSON.parse.
 * Texts that are not objects (arrays, scalars) are null too.
 */
export function sparseParse(t: string, wanted: Wanted): Record<string, unknown> | null {
  if (CONTROL.test(t)) return null;
  text = t;
  backslash = -1;
  try {
    return read(members(wanted));
  } finally {
    text = '';
  }
}

function read(wanted: Members): Record<string, unknown> | null {
  let i = space(0);
  if (text.charCodeAt(i) !== LBRACE) return null;
  // The objects being built, the members each builds, and the key each is built under in its parent.
  const objects: Array<Record<string, unknown>> = [];
  const wants: Members[] = [];
  const keys: string[] = [];
  let obj: Record<string, unknown> = {};
  let want = wanted;
  i = space(i + 1);
  let closed = text.charCodeAt(i) === RBRACE;
  if (closed) i++;
  for (;;) {
    if (closed) {
      // The object that just closed goes into its parent (or is the record).
      if (objects.length === 0) return space(i) === text.length ? obj : null;
      const child = obj;
      obj = objects.pop()!;
      want = wants.pop()!;
      obj[keys.pop()!] = child;
    } else {
      // A member starts at i.
      if (text.charCodeAt(i) !== QUOTE) return null;
      const end = stringEnd(i);
      if (end < 0 || escaped) return null;
      const found = member(want, i + 1, end - 1);
      i = space(end);
      if (text.charCodeAt(i) !== COLON) return null;
      i = space(i + 1);
      if (found === undefined) {
        if ((i = skipValue(i)) < 0) return null;
      } else {
        const [key, sub] = found;
        if (key === '__proto__' || Object.hasOwn(obj, key)) return null;
        if (sub !== null && text.charCodeAt(i) === LBRACE) {
          if (objects.length >= MAX_DEPTH) return null;
          objects.push(obj);
          wants.push(want);
          keys.push(key);
          obj = {};
          want = sub;
          i = space(i + 1);
          closed = text.charCodeAt(i) === RBRACE;
          if (closed) i++;
          continue;
        }
        const a = i;
        if ((i = skipValue(i)) < 0) return null;
        const v = valueAt(a, i);
        if (v === UNSURE) return null;
        obj[key] = v;
      }
    }
    // After a member: the next one, or the end of this object.
    i = space(i);
    const d = text.charCodeAt(i);
    if (d === COMMA) {
      i = space(i + 1);
      closed = false;
    } else if (d === RBRACE) {
      i++;
      closed = true;
    } else return null;
  }
}
