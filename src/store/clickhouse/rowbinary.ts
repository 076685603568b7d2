/**
 * RowBinary: how event rows (and the key sets of look-ups) travel to the server. Binary and length-prefixed: no
 * text of an event is ever parsed as SQL or as a text format, so event content needs no escaping on this path.
 */
import type { FlatData } from './flatten.js';

const TWO32 = 4294967296;

/** A growing buffer of RowBinary values. */
export class RowBinaryWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(size = 1 << 16) {
    this.buf = Buffer.allocUnsafe(size);
  }

  get length(): number {
    return this.pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  varint(n: number): void {
    this.ensure(10);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.pos++] = n;
  }

  /** A 64-bit integer (Int64 or UInt64 column) from a safe integer, a bigint or decimal text. */
  int64(v: number | string | bigint): void {
    this.ensure(8);
    const b = this.buf;
    let p = this.pos;
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) throw new RangeError(`not a safe integer: ${v}`);
      const hi = Math.floor(v / TWO32);
      const lo = v - hi * TWO32;
      b[p++] = lo & 0xff;
      b[p++] = (lo >>> 8) & 0xff;
      b[p++] = (lo >>> 16) & 0xff;
      b[p++] = lo >>> 24;
      b[p++] = hi & 0xff;
      b[p++] = (hi >>> 8) & 0xff;
      b[p++] = (hi >>> 16) & 0xff;
      b[p++] = (hi >>> 24) & 0xff;
    } else {
      const big = BigInt(v);
      if (big < 0n) b.writeBigInt64LE(big, p);
      else b.writeBigUInt64LE(big, p);
    }
    this.pos += 8;
  }

  /**
   * A string: UTF-8 with a varint length. ASCII is copied by this loop (faster than Buffer#write for the short
   * strings of events); other text goes through Buffer#write.
   */
  str(s: string): void {
    const n = s.length;
    if (n < 16384) {
      const head = n < 128 ? 1 : 2;
      this.ensure(head + n);
      const b = this.buf;
      const start = this.pos + head;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[start + i] = c;
      }
      if (i === n) {
        if (head === 1) b[this.pos] = n;
        else {
          b[this.pos] = (n & 0x7f) | 0x80;
          b[this.pos + 1] = n >>> 7;
        }
        this.pos = start + n;
        return;
      }
    }
    const len = Buffer.byteLength(s, 'utf8');
    this.varint(len);
    this.ensure(len);
    this.buf.write(s, this.pos, len, 'utf8');
    this.pos += len;
  }

  strs(a: string[], count = a.length): void {
    this.varint(count);
    for (let i = 0; i < count; i++) this.str(a[i]!);
  }

  u8s(a: number[], count = a.length): void {
    this.varint(count);
    this.ensure(count);
    for (let i = 0; i < count; i++) this.buf[this.pos++] = a[i]!;
  }

  int64s(a: Array<number | string>, count = a.length): void {
    this.varint(count);
    for (let i = 0; i < count; i++) this.int64(a[i]!);
  }

  /** A view of written bytes (valid until this writer is written again). */
  view(start: number, end: number): Buffer {
    return this.buf.subarray(start, end);
  }

  /** The bytes written (a copy). */
  take(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}

/** The columns of `events` in the order encodeEventRow writes them (schema.ts creates the table). */
export const EVENT_COLUMNS = 'k, source, id, type, subject, time_ms, data, fp, ingested_ms, run, seq, jp, js, jk, np, nt, nk, ni, nf, nx';

/** One row of `events` in RowBinary, columns in EVENT_COLUMNS order. */
export function encodeEventRow(
  w: RowBinaryWriter,
  k: number | string,
  source: string,
  id: string,
  type: string,
  subject: string,
  timeMs: number | string,
  data: string | null,
  fp: number | string,
  ingestedMs: number | string,
  run: string,
  seq: number | string,
  f: FlatData,
): void {
  w.int64(k);
  w.str(source);
  w.str(id);
  w.str(type);
  w.str(subject);
  w.int64(timeMs);
  if (data === null) w.u8(1);
  else {
    w.u8(0);
    w.str(data);
  }
  w.int64(fp);
  w.int64(ingestedMs);
  w.int64(run);
  w.int64(seq);
  const j = f.jn,
    n = f.nn;
  w.strs(f.jp, j);
  w.strs(f.js, j);
  w.u8s(f.jk, j);
  w.strs(f.np, n);
  w.strs(f.nt, n);
  w.strs(f.nk, n);
  w.int64s(f.ni, n);
  w.int64s(f.nf, n);
  w.u8s(f.nx, n);
}
