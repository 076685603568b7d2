/**
 * Write groups: the events a writer has stored between two commits, with an index from dedupe key to entry, so
 * a later batch of the same group finds its duplicates without asking the server, and the race check
 * (races.ts) can map a losing copy back to the writeBatch call and index that reported it.
 */
import type { StreamedInsert } from './http.js';

/** One write group: rows kept until the next commit, and its (source, id)s in parallel arrays. */
export interface Group {
  /** The INSERT of the group's rows, streamed while the group fills; the rows become visible when it ends. */
  insert: StreamedInsert | null;
  rows: number;
  /** Date.now() when the group began: groups are committed after GROUP_MAX_MS (writer.ts) even without being asked. */
  openedMs: number;
  /** Key -> its latest entry; `next` chains entries of equal keys (hash collisions). */
  first: KeyIndex;
  next: number[];
  src: string[];
  eid: string[];
  fp: number[];
  seq: number[];
  /** The writeBatch call of the group and the index in it. */
  call: number[];
  index: number[];
  calls: number;
  batch: number;
  /** Server time (epoch s) before the group's first lookup. */
  startedAt: number;
}

export function newGroup(batch: number, startedAt: number): Group {
  return {
    insert: null,
    rows: 0,
    openedMs: Date.now(),
    first: new KeyIndex(),
    next: [],
    src: [],
    eid: [],
    fp: [],
    seq: [],
    call: [],
    index: [],
    calls: 0,
    batch,
    startedAt,
  };
}

/**
 * A map from 53-bit keys to entry numbers (open addressing on typed arrays): a Map keyed by such numbers boxes
 * every key, and groups hold hundreds of thousands.
 */
export class KeyIndex {
  private keys = new Float64Array(1024);
  private vals = new Int32Array(1024).fill(-1);
  private count = 0;

  get size(): number {
    return this.count;
  }

  private slot(k: number): number {
    const mask = this.keys.length - 1;
    let i = (Math.imul((k % 4294967296) | 0, 0x9e3779b1) ^ Math.floor(k / 4294967296)) & mask;
    while (this.vals[i] !== -1 && this.keys[i] !== k) i = (i + 1) & mask;
    return i;
  }

  get(k: number): number | undefined {
    const i = this.slot(k);
    return this.vals[i] === -1 ? undefined : this.vals[i];
  }

  has(k: number): boolean {
    return this.vals[this.slot(k)] !== -1;
  }

  set(k: number, v: number): void {
    let i = this.slot(k);
    if (this.vals[i] === -1) {
      if ((this.count + 1) * 2 > this.keys.length) {
        this.grow();
        i = this.slot(k);
      }
      this.count++;
      this.keys[i] = k;
    }
    this.vals[i] = v;
  }

  /** Every key. */
  allKeys(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.vals.length; i++) if (this.vals[i] !== -1) out.push(this.keys[i]!);
    return out;
  }

  private grow(): void {
    const { keys, vals } = this;
    this.keys = new Float64Array(keys.length * 2);
    this.vals = new Int32Array(keys.length * 2).fill(-1);
    this.count = 0;
    for (let i = 0; i < vals.length; i++) if (vals[i] !== -1) this.set(keys[i]!, vals[i]!);
  }
}

/** The entry of (source, id) in the group, or -1 (entries of the key `k` are compared by source and id). */
export function findInGroup(g: Group, k: number, source: string, id: string): number {
  for (let j = g.first.get(k) ?? -1; j >= 0; j = g.next[j]!) if (g.src[j] === source && g.eid[j] === id) return j;
  return -1;
}

/** Adds an inserted event to the group: its key, (source, id), fingerprint, seq and where it was reported. */
export function addToGroup(g: Group, k: number, source: string, id: string, fp: number, seq: number, call: number, index: number): void {
  const j = g.src.length;
  g.next.push(g.first.get(k) ?? -1);
  g.first.set(k, j);
  g.src.push(source);
  g.eid.push(id);
  g.fp.push(fp);
  g.seq.push(seq);
  g.call.push(call);
  g.index.push(index);
}
