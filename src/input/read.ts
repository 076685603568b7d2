/**
 * Input reading: files, gzip files and stdin -> the JSON text of each candidate event with its position. Three forms
 * are recognised from the first bytes: newline-delimited JSON (one event per line), JSON arrays of events, and
 * pretty-printed objects (a first line holding only `{`). Memory is bounded by the largest event, not the input.
 */
import fs from 'node:fs';
import net from 'node:net';
import { isUtf8 } from 'node:buffer';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { InputError } from '../errors.js';

/** One candidate event: its JSON text and where it came from. */
export interface InputRecord {
  line: number;
  /** Position in a JSON array (0-based), null for NDJSON lines and top-level objects. */
  index: number | null;
  text: string;
}

/** Something that could not even be cut out as an event (too large, invalid UTF-8, corrupt gzip...). */
export interface InputProblem {
  line: number;
  index: number | null;
  error: string;
  raw: string;
}

export type InputItem = InputRecord | InputProblem;

export function isProblem(item: InputItem): item is InputProblem {
  return (item as InputProblem).error !== undefined;
}

export interface ReadOptions {
  /** Largest accepted event in bytes; larger ones are rejected without being held in memory. */
  maxEventBytes: number;
}

/** How much of a rejected input is kept in the rejects file. */
export const MAX_RAW_CHARS = 10_000;

export function clip(text: string): string {
  return text.length > MAX_RAW_CHARS ? text.slice(0, MAX_RAW_CHARS) + '...' : text;
}

/** The name shown for stdin. */
export const STDIN_NAME = '-';

/** Checks up front that every named input can be opened, so a typo fails before anything is stored. */
export function checkInputs(names: string[]): void {
  for (const name of names) {
    if (name === STDIN_NAME) continue;
    let stat: fs.Stats;
    try {
      stat = fs.statSync(name);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new InputError(`${name}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
    }
    if (stat.isDirectory()) throw new InputError(`${name}: is a directory, not a file of events`);
    try {
      fs.accessSync(name, fs.constants.R_OK);
    } catch {
      throw new InputError(`${name}: cannot be read (permission denied)`);
    }
  }
}

/**
 * How the parse worker reads stdin: a file or a pipe (or socket) it reads itself, from fd 0 (a pipe without
 * blocking, so stopping the worker while the pipe is idle still works); anything else (a terminal) through
 * process.stdin, which in the worker is a stream the main thread feeds from its own stdin. Reading a pipe directly
 * spares the main thread, busy writing, from forwarding every chunk: a piped 1M-event log went from about 7.1 to
 * 4 s. The main thread decides once and tells the worker.
 */
export type StdinMode = 'file' | 'pipe' | 'forwarded';

/** The StdinMode of this process's stdin. */
export function stdinMode(): StdinMode {
  try {
    const st = fs.fstatSync(0);
    if (st.isFile()) return 'file';
    return st.isFIFO() || st.isSocket() ? 'pipe' : 'forwarded';
  } catch {
    return 'forwarded';
  }
}

/** Opens an input by name: `-` is stdin, read as `stdin` says. */
export function openInput(name: string, stdin: StdinMode = 'forwarded'): Readable {
  if (name !== STDIN_NAME) return fs.createReadStream(name, { highWaterMark: 1 << 18 });
  if (stdin === 'file') return fs.createReadStream('', { fd: 0, autoClose: false, highWaterMark: 1 << 18 });
  if (stdin === 'pipe') return new net.Socket({ fd: 0, readable: true, writable: false });
  return process.stdin;
}

const GZIP_MAGIC_0 = 0x1f, GZIP_MAGIC_1 = 0x8b;

/** What reading an input noticed without stopping: trailing garbage after the last gzip member. */
export interface DecodeNotes {
  trailingGarbage: { offset: number; preview: string } | null;
}

/**
 * Raw bytes of an input with gzip undone (detected by its magic bytes). Gzip is decoded as `gzip -dc` does:
 * every member of a concatenation, then trailing zero bytes and whitespace ignored silently, and anything else
 * after the last complete member noted in `notes` (every byte decoded before it is still yielded).
 */
async function* decodedBytes(name: string, source: AsyncIterable<Buffer>, notes: DecodeNotes): AsyncGenerator<Buffer> {
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
  yield* gunzipMembers(head, it, notes);
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
async function* gunzipMembers(first: Buffer, it: AsyncIterator<Buffer>, notes: DecodeNotes): AsyncGenerator<Buffer> {
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
    if (member > 0) {
      // Between members: another member, padding, or garbage.
      for (;;) {
        let p = 0;
        while (p < input.length && isPadding(input[p]!)) p++;
        consume(p);
        if (input.length > 0 || !(await more())) break;
      }
      if (input.length === 0) return;
      if (input.length < 2) await more();
      if (input[0] !== GZIP_MAGIC_0 || input[1] !== GZIP_MAGIC_1) {
        while (input.length < 16 && (await more()));
        notes.trailingGarbage = { offset, preview: input.subarray(0, 16).toString('hex') };
        return;
      }
    }
    // The header: magic, CM 8 (deflate), flags, mtime, xfl, os, then the optional fields the flags announce.
    await need(10);
    const flags = input[3]!;
    if (input[2] !== 8 || (flags & 0xe0) !== 0) throw new GzipError('gzip data is corrupt or truncated (unknown compression method or header flags)');
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
    let size = 0, crc = 0, fed = 0, last: Buffer = input;
    let writing = false, ended = false, flushed = false, failed: Error | null = null;
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
/** A gzip stream broke off: what came before it is kept, the rest of the file is reported. */
export class GzipError extends Error {}

const SPACE = 0x20, TAB = 0x09, LF = 0x0a, CR = 0x0d, COMMA = 0x2c;
const LBRACE = 0x7b, RBRACE = 0x7d, LBRACKET = 0x5b, RBRACKET = 0x5d, QUOTE = 0x22, BACKSLASH = 0x5c;

function isSpace(b: number): boolean {
  return b === SPACE || b === TAB || b === LF || b === CR;
}

const INVALID_UTF8 = 'invalid UTF-8 (the input must be UTF-8 text)';

/** Decodes event bytes buf[start, end); null for invalid UTF-8, which is reported instead of silently replaced. */
function decode(buf: Buffer, start = 0, end = buf.length): string | null {
  const text = buf.toString('utf8', start, end);
  return text.includes('\uFFFD') && !isUtf8(buf.subarray(start, end)) ? null : text;
}

export const CR_ONLY = "lines end with CR only (old Mac line endings), so several events are on one line; convert with tr '\\r' '\\n'";
export const MID_BOM = 'a UTF-8 byte order mark (U+FEFF) in the middle of the input (files with BOMs concatenated?); remove it';

/**
 * Why an NDJSON line is not an event for a reason worth naming, else null: events separated by CR alone (a CR
 * between `}` and `{`: inside JSON text a raw CR can only be whitespace), or a byte order mark starting a line
 * other than the first (JSON.parse would call it an unexpected character).
 */
function oddLine(text: string): string | null {
  if (text.charCodeAt(0) === 0xfeff) return MID_BOM;
  const cr = text.indexOf('\r');
  if (cr !== -1 && /\}[ \t]*\r[ \t\r]*\{/.test(text)) return CR_ONLY;
  return null;
}

/** Collects the bytes of one element up to a size limit. */
class Collector {
  parts: Buffer[] = [];
  length = 0;
  oversize = false;
  constructor(private readonly max: number) {}
  add(buf: Buffer, from: number, to: number): void {
    if (to <= from) return;
    this.length += to - from;
    if (this.oversize || this.length > this.max) {
      // Keep a prefix of MAX_RAW_CHARS bytes for the reject report (whatever the chunking), drop the rest.
      const kept = this.oversize ? this.parts[0]! : Buffer.concat(this.parts);
      this.oversize = true;
      this.parts = [kept.length < MAX_RAW_CHARS ? Buffer.concat([kept, buf.subarray(from, Math.min(to, from + MAX_RAW_CHARS - kept.length))]) : kept.subarray(0, MAX_RAW_CHARS)];
      return;
    }
    this.parts.push(buf.subarray(from, to));
  }
  take(): Buffer {
    const b = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    this.parts = [];
    this.length = 0;
    this.oversize = false;
    return b;
  }
}

interface Splitter {
  push(chunk: Buffer, out: InputItem[]): void;
  end(out: InputItem[]): void;
}

/** Newline-delimited JSON: one event per line; CRLF and blank lines accepted. */
class LineSplitter implements Splitter {
  private line = 0;
  private readonly pending: Collector;
  constructor(private readonly max: number) {
    this.pending = new Collector(max);
  }
  /** One line: bytes[from, to) (no subarray per line: a Buffer view is an allocation on the hottest path). */
  private emit(bytes: Buffer, oversize: boolean, totalLength: number, out: InputItem[], from = 0, to = bytes.length): void {
    this.line++;
    let end = to;
    if (end > from && bytes[end - 1] === CR) end--;
    let start = from;
    while (start < end && isSpace(bytes[start]!)) start++;
    if (start === end) return;
    if (oversize) {
      out.push({
        line: this.line,
        index: null,
        error: `event too large: ${totalLength} bytes (the limit is ${this.max}, see --max-event-size)`,
        raw: clip(bytes.toString('utf8', start, Math.min(end, start + MAX_RAW_CHARS))),
      });
      return;
    }
    const text = decode(bytes, start, end);
    if (text === null) out.push({ line: this.line, index: null, error: INVALID_UTF8, raw: clip(bytes.toString('utf8', start, end)) });
    else {
      const odd = oddLine(text);
      out.push(odd === null ? { line: this.line, index: null, text } : { line: this.line, index: null, error: odd, raw: clip(text) });
    }
  }
  push(chunk: Buffer, out: InputItem[]): void {
    let pos = 0;
    for (let nl = chunk.indexOf(LF, pos); nl !== -1; nl = chunk.indexOf(LF, pos)) {
      if (this.pending.length === 0 && !this.pending.oversize) {
        if (nl - pos > this.max) this.emit(chunk.subarray(pos, Math.min(nl, pos + MAX_RAW_CHARS)), true, nl - pos, out);
        else this.emit(chunk, false, nl - pos, out, pos, nl);
      } else {
        this.pending.add(chunk, pos, nl);
        const total = this.pending.length;
        const oversize = this.pending.oversize;
        this.emit(this.pending.take(), oversize, total, out);
      }
      pos = nl + 1;
    }
    if (pos < chunk.length) this.pending.add(chunk, pos, chunk.length);
  }
  end(out: InputItem[]): void {
    if (this.pending.length > 0 || this.pending.oversize) {
      const total = this.pending.length;
      const oversize = this.pending.oversize;
      this.emit(this.pending.take(), oversize, total, out);
    }
  }
}

/**
 * A stream of JSON values: arrays are opened and their elements are the events, top-level objects are events.
 * Only structure is tracked here (strings, escapes, nesting); each element is then parsed by JSON.parse.
 */
class ValueSplitter implements Splitter {
  private line = 1;
  private inArray = false;
  private arrayIndex = 0;
  private collecting = false;
  private scalar = false;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private startLine = 0;
  private startIndex: number | null = null;
  private readonly elem: Collector;
  constructor(private readonly max: number) {
    this.elem = new Collector(max);
  }
  private finish(out: InputItem[]): void {
    const oversize = this.elem.oversize;
    const bytes = this.elem.take();
    this.collecting = false;
    this.scalar = false;
    const base = { line: this.startLine, index: this.startIndex };
    if (oversize) {
      out.push({ ...base, error: `event too large: more than ${this.max} bytes (see --max-event-size)`, raw: clip(bytes.toString('utf8')) });
      return;
    }
    const text = decode(bytes);
    if (text === null) out.push({ ...base, error: INVALID_UTF8, raw: clip(bytes.toString('utf8')) });
    else out.push({ ...base, text });
  }
  private begin(): void {
    this.collecting = true;
    this.startLine = this.line;
    this.startIndex = this.inArray ? this.arrayIndex++ : null;
  }
  push(chunk: Buffer, out: InputItem[]): void {
    let from = 0; // start of the part of chunk belonging to the current element
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (this.collecting) {
        if (this.scalar) {
          if (isSpace(b) || b === COMMA || b === RBRACKET || b === RBRACE || b === LBRACE || b === LBRACKET || b === QUOTE) {
            this.elem.add(chunk, from, i);
            this.finish(out);
            // fall through: b belongs to the outer level
          } else continue;
        } else {
          if (b === LF) this.line++;
          if (this.inString) {
            if (this.escaped) this.escaped = false;
            else if (b === BACKSLASH) this.escaped = true;
            else if (b === QUOTE) {
              this.inString = false;
              if (this.depth === 0) {
                this.elem.add(chunk, from, i + 1);
                this.finish(out);
              }
            }
          } else if (b === QUOTE) this.inString = true;
          else if (b === LBRACE || b === LBRACKET) this.depth++;
          else if (b === RBRACE || b === RBRACKET) {
            this.depth--;
            if (this.depth === 0) {
              this.elem.add(chunk, from, i + 1);
              this.finish(out);
            }
          }
          continue;
        }
      }
      // Outer level: between elements.
      if (b === LF) {
        this.line++;
        continue;
      }
      if (isSpace(b) || b === COMMA) continue;
      if (b === LBRACKET && !this.inArray) {
        this.inArray = true;
        this.arrayIndex = 0;
        continue;
      }
      if (b === RBRACKET && this.inArray) {
        this.inArray = false;
        continue;
      }
      if (b === RBRACE || b === RBRACKET) {
        out.push({ line: this.line, index: null, error: `invalid JSON: unexpected "${String.fromCharCode(b)}"`, raw: String.fromCharCode(b) });
        continue;
      }
      if (b === 0xef && chunk[i + 1] === 0xbb && chunk[i + 2] === 0xbf) {
        i += 2; // a byte order mark
        continue;
      }
      this.begin();
      from = i;
      if (b === LBRACE || b === LBRACKET) {
        this.depth = 1;
      } else if (b === QUOTE) {
        this.depth = 0;
        this.inString = true;
      } else {
        this.scalar = true;
      }
    }
    if (this.collecting) this.elem.add(chunk, from, chunk.length);
  }
  end(out: InputItem[]): void {
    if (this.collecting) {
      const bytes = this.elem.take();
      this.collecting = false;
      if (this.scalar) {
        this.elem.add(bytes, 0, bytes.length);
        this.collecting = true;
        this.finish(out);
      } else {
        out.push({
          line: this.startLine,
          index: this.startIndex,
          error: 'invalid JSON: unexpected end of input (unclosed object, array or string)',
          raw: clip(bytes.toString('utf8')),
        });
      }
    }
    if (this.inArray) {
      out.push({ line: this.line, index: null, error: 'invalid JSON: array not closed at end of input (missing "]")', raw: '' });
    }
  }
}

/** Picks the splitter from the first line: `[` opens arrays, a lone `{` a pretty-printed object, else NDJSON. */
function chooseSplitter(firstLine: Buffer, max: number): Splitter {
  let s = 0;
  if (firstLine[0] === 0xef && firstLine[1] === 0xbb && firstLine[2] === 0xbf) s = 3;
  let e = firstLine.length;
  while (s < e && isSpace(firstLine[s]!)) s++;
  while (e > s && isSpace(firstLine[e - 1]!)) e--;
  if (firstLine[s] === LBRACKET) return new ValueSplitter(max);
  if (e - s === 1 && firstLine[s] === LBRACE) return new ValueSplitter(max);
  return new LineSplitter(max);
}

/**
 * Reads one input as batches of items, in order. A gzip stream that breaks off yields a problem for the rest
 * of the file after the events before it; trailing garbage after complete gzip data yields one problem after
 * every event of the data.
 */
export async function* readItems(name: string, source: AsyncIterable<Buffer>, opts: ReadOptions): AsyncGenerator<InputItem[]> {
  let splitter: Splitter | null = null;
  let head: Buffer[] = [];
  let lines = 0;
  const notes: DecodeNotes = { trailingGarbage: null };
  try {
    for await (const chunk of decodedBytes(name, source, notes)) {
      const out: InputItem[] = [];
      if (splitter === null) {
        head.push(chunk);
        // Decide once the first non-blank line is complete (or the head is large).
        const all = Buffer.concat(head);
        let s = 0;
        if (all[0] === 0xef && all[1] === 0xbb && all[2] === 0xbf) s = 3;
        while (s < all.length && isSpace(all[s]!)) s++;
        const nl = all.indexOf(LF, s);
        if (nl === -1 && all.length < 1 << 16) continue;
        splitter = chooseSplitter(all.subarray(0, nl === -1 ? all.length : nl), opts.maxEventBytes);
        head = [];
        const bom = all[0] === 0xef && all[1] === 0xbb && all[2] === 0xbf ? 3 : 0;
        splitter.push(all.subarray(bom), out);
      } else {
        splitter.push(chunk, out);
      }
      if (out.length > 0) {
        lines = out[out.length - 1]!.line;
        yield out;
      }
    }
    const out: InputItem[] = [];
    if (splitter === null && head.length > 0) {
      const all = Buffer.concat(head);
      const bom = all[0] === 0xef && all[1] === 0xbb && all[2] === 0xbf ? 3 : 0;
      splitter = chooseSplitter(all.subarray(bom), opts.maxEventBytes);
      splitter.push(all.subarray(bom), out);
    }
    splitter?.end(out);
    if (notes.trailingGarbage !== null) {
      const g = notes.trailingGarbage;
      const after = out.length > 0 ? out[out.length - 1]!.line : lines;
      out.push({
        line: after + 1,
        index: null,
        error: `trailing garbage after gzip data ignored (from byte ${g.offset} of the compressed input; every event before it was read)`,
        raw: `hex: ${g.preview}`,
      });
    }
    if (out.length > 0) yield out;
  } catch (e) {
    if (e instanceof GzipError) {
      yield [{ line: lines + 1, index: null, error: e.message, raw: '' }];
      return;
    }
    throw e;
  }
}
