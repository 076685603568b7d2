/**
 * Raw JSON text helpers. `JSON.parse` turns every number into a double, so 9007199254740993 would be stored as
 * ...992; the stored `data` is therefore cut from the event's own text (minified), which keeps every digit.
 */

const QUOTE = 34, BACKSLASH = 92, LBRACE = 123, RBRACE = 125, LBRACKET = 91, RBRACKET = 93, COLON = 58, COMMA = 44;

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

/** End (exclusive) of the string starting at the quote at `i`. */
function stringEnd(t: string, i: number): number {
  for (let j = i + 1; j < t.length; j++) {
    const c = t.charCodeAt(j);
    if (c === BACKSLASH) j++;
    else if (c === QUOTE) return j + 1;
  }
  return -1;
}

/** End (exclusive) of the JSON value starting at `i` (which is not whitespace). */
function valueEnd(t: string, i: number): number {
  const c = t.charCodeAt(i);
  if (c === QUOTE) return stringEnd(t, i);
  if (c === LBRACE || c === LBRACKET) {
    let depth = 0;
    for (let j = i; j < t.length; j++) {
      const d = t.charCodeAt(j);
      if (d === QUOTE) {
        j = stringEnd(t, j) - 1;
        if (j < 0) return -1;
      } else if (d === LBRACE || d === LBRACKET) depth++;
      else if (d === RBRACE || d === RBRACKET) {
        if (--depth === 0) return j + 1;
      }
    }
    return -1;
  }
  let j = i;
  while (j < t.length) {
    const d = t.charCodeAt(j);
    if (d === COMMA || d === RBRACE || d === RBRACKET || isSpace(d)) break;
    j++;
  }
  return j;
}

/** The text without whitespace outside strings. */
export function minifyJson(t: string): string {
  let hasSpace = false;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c === QUOTE) i = stringEnd(t, i) - 1;
    else if (isSpace(c)) {
      hasSpace = true;
      break;
    }
    if (i < 0) return t;
  }
  if (!hasSpace) return t;
  let out = '';
  let from = 0;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c === QUOTE) i = stringEnd(t, i) - 1;
    else if (isSpace(c)) {
      out += t.slice(from, i);
      from = i + 1;
    }
  }
  return out + t.slice(from);
}

/**
 * The minified text of the value of top-level member `key` of the JSON object text `t` (the last one, as
 * JSON.parse keeps), or undefined. `t` must be valid JSON (it was parsed already).
 */
export function rawMember(t: string, key: string): string | undefined {
  let i = 0;
  while (i < t.length && isSpace(t.charCodeAt(i))) i++;
  if (t.charCodeAt(i) !== LBRACE) return undefined;
  i++;
  let found: [number, number] | undefined;
  for (;;) {
    while (i < t.length && (isSpace(t.charCodeAt(i)) || t.charCodeAt(i) === COMMA)) i++;
    if (i >= t.length || t.charCodeAt(i) !== QUOTE) break;
    const keyEnd = stringEnd(t, i);
    if (keyEnd < 0) return undefined;
    const rawKey = t.slice(i + 1, keyEnd - 1);
    const name = rawKey.includes('\\') ? (JSON.parse(t.slice(i, keyEnd)) as string) : rawKey;
    i = keyEnd;
    while (i < t.length && (isSpace(t.charCodeAt(i)) || t.charCodeAt(i) === COLON)) i++;
    const end = valueEnd(t, i);
    if (end < 0) return undefined;
    if (name === key) found = [i, end];
    i = end;
  }
  return found === undefined ? undefined : minifyJson(t.slice(found[0], found[1]));
}
