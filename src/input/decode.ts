/**
 * Bytes to text: gzip undone (detected by its magic bytes, every member of a concatenation) and UTF-8 checked.
 */
import { isUtf8 } from 'node:buffer';
import zlib from 'node:zlib';

const GZIP_MAGIC_0 = 0x1f,
  GZIP_MAGIC_1 = 0x8b;

/** What reading an input noticed without stopping: trailing garbage after the last gzip member. */
export interface DecodeNotes {
  trailingGarbage: { offset: number; preview: string } | null;
}

/**
 * Raw bytes of an input with gzip undone (detected by its magic bytes). Gzip is decoded as `gzip -dc` does:
 * every member of a concatenation, then trailing zero bytes and whitespace ignored silently, and anything else
 * after the last complete member noted in `notes` (every byte decoded before it is still yielded).
 */
export async function* decodedBytes(name: string, source: AsyncIterable<Buffer>, notes: DecodeNotes): AsyncGenerator<Buffer> {
  const it = source[Symbol.asyncIterator]();
  let head: Buffer = Buffer.alloc(0);
  while (head.length < 2) {
    const n = await it.next();
    if (n.done) break;
    head = head.length === 0 ? n.value : Buffer.concat([head, n.value]);
  }
  const gzip = head.length >= 2 && head[0] === GZIP_MAGIC_0 && head[1] === GZIP_MAGIC_1;
  if (!gzip) {
    if (name.endsWith('.gz') && head.length > 0) {
      throw new GzipError('named .gz but is not gzip data (no gzip header): file skipped');
    }
    if (head.length > 0) yield head;
    for (let n = await it.next(); !n.done; n = await it.next()) yield n.value;
    return;
  }
  const member = { gaveText: false };
  try {
    yield* gunzipMembers(head, it, notes, member);
  } catch (e) {
    if (e instanceof GzipError && !member.gaveText) e.atMemberEnd = true;
    throw e;
  }
}

/** Zero bytes and whitespace: the padding tools leave after gzip data, ignored as gzip -dc ignores it. */
function isPadding(b: number): boolean {
  return b === 0 || isSpace(b);
}

/**
 * Gzip members one after another (RFC 1952). zlib's own gunzip stream cannot be used: it treats whatever follows
 * a member as the next member, and when that fails it drops the output of the whole last write (up to 16 KiB of
 * decoded events). Here each member's header and trailer are read by hand and its deflate data goes through a
 * raw inflate stream, which stops where the data ends and says how many input bytes it took (`bytesWritten`).
 */
async function* gunzipMembers(
  first: Buffer,
  it: AsyncIterator<Buffer>,
  notes: DecodeNotes,
  /** Whether the member being read has given any text yet. */
  current: { gaveText: boolean },
): AsyncGenerator<Buffer> {
  let input = first; // bytes read but not yet consumed
  let offset = 0; // offset of input[0] in the file
  let eof = false;
  const more = async (): Promise<boolean> => {
    if (eof) return false;
    const n = await it.next();
    if (n.done) {
      eof = true;
      return false;
    }
    input = input.length === 0 ? n.value : Buffer.concat([input, n.value]);
    return true;
  };
  const consume = (n: number) => {
    input = input.subarray(n);
    offset += n;
  };
  const need = async (n: number): Promise<void> => {
    while (input.length < n) if (!(await more())) throw new GzipError('gzip data is corrupt or truncated (unexpected end of file)');
  };
  for (let member = 0; ; member++) {
    current.gaveText = false;
    if (member > 0) {
      // Between members: another member, padding, or garbage. Padding ends the data, as in gzip -dc: a member after
      // it is trailing garbage too.
      let padded = false;
      for (;;) {
        let p = 0;
        while (p < input.length && isPadding(input[p]!)) p++;
        consume(p);
        padded ||= p > 0;
        if (input.length > 0 || !(await more())) break;
      }
      if (input.length === 0) return;
      if (input.length < 2) await more();
      if (padded || input[0] !== GZIP_MAGIC_0 || input[1] !== GZIP_MAGIC_1) {
        while (input.length < 16 && (await more()));
        notes.trailingGarbage = { offset, preview: input.subarray(0, 16).toString('hex') };
        return;
      }
    }
    // The header: magic, CM 8 (deflate), flags, mtime, xfl, os, then the optional fields the flags announce.
    await need(10);
    const flags = input[3]!;
    if (input[2] !== 8 || (flags & 0xe0) !== 0)
      throw new GzipError('gzip data is corrupt or truncated (unknown compression method or header flags)');
    let h = 10;
    if (flags & 4) {
      await need(h + 2);
      h += 2 + input.readUInt16LE(h);
    }
    for (const bit of [8, 16]) {
      if (!(flags & bit)) continue;
      for (;;) {
        await need(h + 1);
        const z = input.indexOf(0, h);
        if (z !== -1) {
          h = z + 1;
          break;
        }
        await need(input.length + 1);
      }
    }
    if (flags & 2) h += 2;
    await need(h);
    consume(h);
    // The deflate data: fed one chunk at a time; after each, bytesWritten < fed means the data ended inside it.
    const inflate = zlib.createInflateRaw();
    const out: Buffer[] = [];
    let size = 0,
      crc = 0,
      fed = 0,
      last: Buffer = input;
    let writing = false,
      ended = false,
      flushed = false,
      failed: Error | null = null;
    let wake: (() => void) | null = null;
    const notify = () => {
      const w = wake;
      wake = null;
      w?.();
    };
    inflate.on('data', (d: Buffer) => {
      out.push(d);
      notify();
    });
    inflate.on('end', () => {
      ended = true;
      notify();
    });
    inflate.on('error', (e) => {
      failed = e;
      notify();
    });
    const written = () => {
      writing = false;
      notify();
    };
    try {
      for (;;) {
        while (out.length > 0) {
          const d = out.shift()!;
          size += d.length;
          crc = zlib.crc32(d, crc);
          current.gaveText = true;
          yield d;
        }
        if (failed) throw new GzipError(`gzip data is corrupt or truncated (${(failed as Error).message})`);
        if (ended) break;
        if (!writing && fed === inflate.bytesWritten) {
          if (input.length === 0 && !eof) await more();
          if (input.length > 0) {
            last = input;
            fed += input.length;
            input = Buffer.alloc(0);
            writing = true;
            inflate.write(last, written);
          } else if (!flushed) {
            // The file ends inside the member: decode what there is, then report the truncation.
            flushed = writing = true;
            inflate.flush(zlib.constants.Z_SYNC_FLUSH, written);
          } else {
            await new Promise((r) => setImmediate(r)); // output of the flush that is still on its way
            if (out.length > 0) continue;
            throw new GzipError('gzip data is corrupt or truncated (unexpected end of file)');
          }
          continue;
        }
        await new Promise<void>((r) => (wake = r));
      }
      // What the inflate stream did not take is the trailer and whatever follows.
      const left = fed - inflate.bytesWritten;
      offset += inflate.bytesWritten;
      input = left > 0 ? last.subarray(last.length - left) : Buffer.alloc(0);
    } finally {
      inflate.destroy();
    }
    await need(8);
    if (input.readUInt32LE(0) !== crc || input.readUInt32LE(4) !== size % 2 ** 32) {
      throw new GzipError('gzip data is corrupt or truncated (incorrect data check)');
    }
    consume(8);
  }
}

/**
 * A gzip stream broke off: what came before it is kept, the rest of the file is reported. `atMemberEnd`: nothing
 * of the broken member was decoded, so the text so far ends where a complete member ends and its last line is
 * whole (as `gzip -dc` prints it); otherwise the text ends inside the broken member, in a line that was cut.
 */
export class GzipError extends Error {
  atMemberEnd = false;
}

/** JSON whitespace (space, tab, LF, CR). */
export function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
}

export const INVALID_UTF8 = 'invalid UTF-8 (the input must be UTF-8 text)';

/** Decodes event bytes buf[start, end); null for invalid UTF-8, which is reported instead of silently replaced. */
export function utf8Text(buf: Buffer, start = 0, end = buf.length): string | null {
  const text = buf.toString('utf8', start, end);
  return text.includes('\uFFFD') && !isUtf8(buf.subarray(start, end)) ? null : text;
}
