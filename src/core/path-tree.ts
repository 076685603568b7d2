/**
 * The members a mapping reads of a record, as a tree of its paths, and the check that a record gives none of them
 * twice (mapping.ts and the built-in maps reject such a record). Pure: no I/O.
 */
import { hasBackslash, skipSpace, stringClose, valueEnd } from './json.js';

const LBRACE = 123,
  RBRACE = 125,
  LBRACKET = 91,
  RBRACKET = 93,
  COMMA = 44;

/** The members a mapping reads, as a tree: each key's (or array index's) members read inside it, null for none. */
export type PathTree = Map<string | number, PathTree | null>;

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

/**
 * The path (`$.usage`, `$.usage.prompt_tokens`) of a member of `tree` that the JSON text `t` gives twice in one
 * object, or null when there is none: JSON.parse keeps the last of duplicate keys, and which of two customers or
 * counts a record means is not a guess to make. Only members on the tree's paths are looked at (a key given twice
 * elsewhere is never read). `t` is valid JSON (JSON.parse accepted it); the walk is iterative.
 */
export function duplicatedMember(t: string, tree: PathTree): string | null {
  // Containers still to look at: where each starts, its tree, and its path.
  const starts = [skipSpace(t, 0)];
  const trees = [tree];
  const paths = ['$'];
  while (starts.length > 0) {
    const start = starts.pop()!,
      node = trees.pop()!,
      path = paths.pop()!;
    const open = t.charCodeAt(start);
    if (open !== LBRACE && open !== LBRACKET) continue;
    let i = skipSpace(t, start + 1);
    if (t.charCodeAt(i) === (open === LBRACE ? RBRACE : RBRACKET)) continue;
    const seen: string[] = [];
    for (let n = 0; ; n++) {
      let step: string | number = n;
      if (open === LBRACE) {
        const close = stringClose(t, i);
        if (close < 0) return null;
        step = hasBackslash(t, i, close) ? (JSON.parse(t.slice(i, close + 1)) as string) : t.slice(i + 1, close);
        i = skipSpace(t, skipSpace(t, close + 1) + 1); // past the colon
      }
      const sub = node.get(step);
      if (sub !== undefined) {
        const at = typeof step === 'number' ? `${path}[${step}]` : `${path}.${step}`;
        if (typeof step === 'string') {
          if (seen.includes(step)) return at;
          seen.push(step);
        }
        if (sub !== null) {
          starts.push(i);
          trees.push(sub);
          paths.push(at);
        }
      }
      const end = valueEnd(t, i);
      if (end < 0) return null;
      i = skipSpace(t, end);
      if (t.charCodeAt(i) !== COMMA) break;
      i = skipSpace(t, i + 1);
    }
  }
  return null;
}
