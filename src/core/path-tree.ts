/**
 * The members a mapping reads of a record, as a tree of its paths, and what a record's text says on them that its
 * JSON.parse value does not: a member given twice (mapping.ts and the built-in maps reject such a record), and the
 * literals of its numbers that are not written as integers. Pure: no I/O.
 */
import { skipSpace, stringClose, valueEnd } from './json.js';

const LBRACE = 123,
  RBRACE = 125,
  LBRACKET = 91,
  RBRACKET = 93,
  COMMA = 44;

/** The members a mapping reads, as a tree: each key's (or array index's) members read inside it, null for none. */
export type PathTree = Map<string | number, PathTree | null>;

/** A path's text in one spelling (`$.a.b[0]`), as readPaths names the members it reads. */
export function pathKey(steps: ReadonlyArray<string | number>): string {
  let key = '$';
  for (const step of steps) key += typeof step === 'number' ? `[${step}]` : `.${step}`;
  return key;
}

/** The tree of the paths given as steps (object keys and array indexes). */
export function pathTree(paths: Iterable<ReadonlyArray<string | number>>): PathTree {
  const root: PathTree = new Map();
  for (const steps of paths) {
    let at = root;
    for (let k = 0; k < steps.length; k++) {
      const step = steps[k]!;
      let next = at.get(step);
      if (k === steps.length - 1) {
        if (next === undefined) at.set(step, null);
        break;
      }
      if (next === undefined || next === null) at.set(step, (next = new Map()));
      at = next;
    }
  }
  return root;
}

/** A tree node's object keys by length, to match a key in place in the text (no string made for other keys). */
type Keys = Array<Array<[string, PathTree | null]> | undefined>;
const keysOf = new WeakMap<PathTree, Keys>();

function keys(node: PathTree): Keys {
  let k = keysOf.get(node);
  if (k === undefined) {
    keysOf.set(node, (k = []));
    for (const [step, sub] of node) if (typeof step === 'string') (k[step.length] ??= []).push([step, sub]);
  }
  return k;
}

/** What a record's text says on a mapping's paths that its JSON.parse value does not (see readPaths). */
export interface PathFacts {
  /** The path (`$.usage`, `$.usage.prompt_tokens`) of a member on the paths given twice in one object, or null. */
  duplicate: string | null;
  /** The literal of each number on the paths written with a fraction or an exponent, by its path (pathKey). */
  literals: ReadonlyMap<string, string>;
}

/** No literals: the numbers on the paths are written as integers. */
export const NO_LITERALS: ReadonlyMap<string, string> = new Map();

/**
 * Reads the JSON text `t` along the paths of `tree`, in one walk: a member on them given twice (JSON.parse keeps the
 * last, and which of two customers or counts a record means is not a guess to make), and the numbers on them not
 * written as integers, with their literals (any other that JSON.parse makes a safe integer is exactly its literal;
 * it makes 10 of 10.0000000000000001 and 0 of 1e-400). Members off the paths are only skipped: a key given twice
 * there, or a `1.0` in a response's `temperature`, is never read. `t` is valid JSON (JSON.parse accepted it);
 * iterative.
 */
export function readPaths(t: string, tree: PathTree): PathFacts {
  let literals: Map<string, string> | null = null;
  // The first backslash at or after the key being read (-1: none): found once, not searched for from every key.
  let backslash = t.indexOf('\\');
  let i = skipSpace(t, 0);
  const first = t.charCodeAt(i);
  if (first !== LBRACE && first !== LBRACKET) return { duplicate: null, literals: NO_LITERALS };
  // The container being read (its tree, path, keys on the tree seen so far, kind and next index), and its parents'.
  let node = tree,
    path = '$',
    seen: string[] | null = null,
    object = first === LBRACE,
    n = 0;
  const parents: Array<[PathTree, string, string[] | null, boolean, number]> = [];
  i = skipSpace(t, i + 1);
  if (t.charCodeAt(i) === (object ? RBRACE : RBRACKET)) return { duplicate: null, literals: NO_LITERALS };
  for (;;) {
    // A member (or an element) starts at i.
    let step: string | number = n++;
    let sub: PathTree | null | undefined;
    if (object) {
      const close = stringClose(t, i);
      if (close < 0) break;
      if (backslash >= 0 && backslash < i) backslash = t.indexOf('\\', i);
      if (backslash >= 0 && backslash < close) {
        step = JSON.parse(t.slice(i, close + 1)) as string;
        sub = node.get(step);
      } else {
        const list = keys(node)[close - i - 1];
        if (list !== undefined)
          for (const [key, s] of list)
            if (t.startsWith(key, i + 1)) {
              step = key;
              sub = s;
              break;
            }
      }
      i = skipSpace(t, skipSpace(t, close + 1) + 1); // past the colon
    } else sub = node.get(step);
    let end = -1;
    if (sub !== undefined) {
      if (typeof step === 'string') {
        if (seen?.includes(step)) return { duplicate: `${path}.${step}`, literals: NO_LITERALS };
        (seen ??= []).push(step);
      }
      const c = t.charCodeAt(i);
      if (c === LBRACE || c === LBRACKET) {
        const inner = skipSpace(t, i + 1);
        if (sub !== null && t.charCodeAt(inner) !== (c === LBRACE ? RBRACE : RBRACKET)) {
          // Members on the paths inside: read them now, then go on here.
          parents.push([node, path, seen, object, n]);
          node = sub;
          path = typeof step === 'number' ? `${path}[${step}]` : `${path}.${step}`;
          seen = null;
          object = c === LBRACE;
          n = 0;
          i = inner;
          continue;
        }
      } else if (c === 45 || (c >= 48 && c <= 57)) {
        end = i;
        for (let d = c; d === 45 || (d >= 48 && d <= 57); d = t.charCodeAt(++end));
        const d = t.charCodeAt(end);
        if (d === 46 || d === 101 || d === 69) {
          end = valueEnd(t, end);
          const key = typeof step === 'number' ? `${path}[${step}]` : `${path}.${step}`;
          (literals ??= new Map()).set(key, t.slice(i, end));
        }
      }
    }
    if (end < 0 && (end = valueEnd(t, i)) < 0) break;
    i = skipSpace(t, end);
    // After a value: the next member, or the end of this container (and of those it closes).
    while (t.charCodeAt(i) !== COMMA) {
      const parent = parents.pop();
      if (parent === undefined) return { duplicate: null, literals: literals ?? NO_LITERALS };
      [node, path, seen, object, n] = parent;
      i = skipSpace(t, i + 1);
    }
    i = skipSpace(t, i + 1);
  }
  return { duplicate: null, literals: literals ?? NO_LITERALS };
}
