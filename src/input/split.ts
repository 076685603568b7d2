/**
 * Splitting decoded bytes into candidate events. Three forms are recognised from the first line: newline-delimited
 * JSON (one event per line), JSON arrays of events, and pretty-printed objects (a first line holding only `{`).
 * Memory is bounded by the largest event (a Collector keeps only a prefix of a larger one), not the input.
 */
import { INVALID_UTF8, isSpace, utf8Text } from './decode.js';
import { clip, MAX_RAW_CHARS, type InputItem } from './items.js';

export const LF = 0x0a;
const COMMA = 0x2c;
const LBRACE = 0x7b,
  RBRACE = 0x7d,
  LBRACKET = 0x5b,
  RBRACKET = 0x5d,
  QUOTE = 0x22,
  BACKSLASH = 0x5c;

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
      this.parts = [
        kept.length < MAX_RAW_CHARS
          ? Buffer.concat([kept, buf.subarray(from, Math.min(to, from + MAX_RAW_CHARS - kept.length))])
          : kept.subarray(0, MAX_RAW_CHARS),
      ];
      return;
    }
    this.parts.push(buf.subarray(from, to));
  }
  /** Counts `n` more bytes that are not kept (only their number matters: they are past the limit). */
  grow(n: number): void {
    this.length += n;
    if (!this.oversize && this.length > this.max) {
      this.oversize = true;
      this.parts = [Buffer.concat(this.parts).subarray(0, MAX_RAW_CHARS)];
    }
  }
  take(): Buffer {
    const b = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    this.parts = [];
    this.length = 0;
    this.oversize = false;
    return b;
  }
}

export interface Splitter {
  push(chunk: Buffer, out: InputItem[]): void;
  end(out: InputItem[]): void;
}

/** The event on a line, bytes[from, to) without the blanks (a CR among them) around it: --max-event-size bounds it. */
function eventBounds(bytes: Buffer, from: number, to: number): [start: number, end: number] {
  let end = to;
  while (end > from && isSpace(bytes[end - 1]!)) end--;
  let start = from;
  while (start < end && isSpace(bytes[start]!)) start++;
  return [start, end];
}

/** Newline-delimited JSON: one event per line; CRLF and blank lines accepted. */
class LineSplitter implements Splitter {
  private line = 0;
  private readonly pending: Collector;
  /**
   * Blanks at the end of the part of a line read so far (it goes on in the next chunk), held back: they are part of
   * the line only if something other than blanks follows them on it, so that blanks around an event count towards
   * --max-event-size the same wherever the chunks of the input end (see eventBounds). Kept up to the limit; past it
   * only counted, since anything after them makes the line too large anyway.
   */
  private held: Buffer[] = [];
  private heldLength = 0;
  constructor(private readonly max: number) {
    // One byte more than an event may take: a line's CR is no part of its event.
    this.pending = new Collector(max + 1);
  }
  private get hasPending(): boolean {
    return this.pending.length > 0 || this.pending.oversize || this.heldLength > 0;
  }
  /** Adds bytes[from, to) to the line that spans chunks: blanks before its first other byte are dropped. */
  private addPending(bytes: Buffer, from: number, to: number): void {
    if (this.pending.length === 0 && !this.pending.oversize) {
      this.held = [];
      this.heldLength = 0;
      while (from < to && isSpace(bytes[from]!)) from++;
    }
    let end = to;
    while (end > from && isSpace(bytes[end - 1]!)) end--;
    if (end > from) {
      for (const h of this.held) this.pending.add(h, 0, h.length);
      const kept = this.held.reduce((n, h) => n + h.length, 0);
      if (this.heldLength > kept) this.pending.grow(this.heldLength - kept);
      this.held = [];
      this.heldLength = 0;
      this.pending.add(bytes, from, end);
    }
    if (to > end) {
      // Kept up to what a reject's raw text shows too, so that text is the line's own first characters.
      const room = Math.max(0, Math.max(this.max + 1, MAX_RAW_CHARS) - this.pending.length - this.heldLength);
      if (room > 0) this.held.push(bytes.subarray(end, Math.min(to, end + room)));
      this.heldLength += to - end;
    }
  }
  /**
   * Ends the line that spanned chunks. Its bytes are its event (the blanks before it were dropped, those after it
   * are held), so their number is the event's length.
   */
  private emitPending(out: InputItem[]): void {
    const total = this.pending.length;
    const oversize = this.pending.oversize || total > this.max;
    this.held = [];
    this.heldLength = 0;
    this.emit(this.pending.take(), oversize, total, out);
  }
  /**
   * One line: bytes[from, to) (no subarray per line: a Buffer view is an allocation on the hottest path). An
   * oversize one comes as the start of its event, without the blanks around it, to report as it is.
   */
  private emit(bytes: Buffer, oversize: boolean, totalLength: number, out: InputItem[], from = 0, to = bytes.length): void {
    this.line++;
    if (oversize) {
      out.push({
        line: this.line,
        index: null,
        error: `event too large: ${totalLength} bytes (the limit is ${this.max}, see --max-event-size)`,
        raw: clip(bytes.toString('utf8', from, Math.min(to, from + MAX_RAW_CHARS))),
      });
      return;
    }
    // The event without the blanks around it, whatever the chunks (see addPending): eventBounds inline, as this
    // runs once per line.
    let end = to;
    while (end > from && isSpace(bytes[end - 1]!)) end--;
    let start = from;
    while (start < end && isSpace(bytes[start]!)) start++;
    if (start === end) return;
    const text = utf8Text(bytes, start, end);
    if (text === null) out.push({ line: this.line, index: null, error: INVALID_UTF8, raw: clip(bytes.toString('utf8', start, end)) });
    else {
      const odd = oddLine(text);
      out.push(odd === null ? { line: this.line, index: null, text } : { line: this.line, index: null, error: odd, raw: clip(text) });
    }
  }
  push(chunk: Buffer, out: InputItem[]): void {
    let pos = 0;
    for (let nl = chunk.indexOf(LF, pos); nl !== -1; nl = chunk.indexOf(LF, pos)) {
      if (!this.hasPending) {
        let oversize = false;
        if (nl - pos > this.max) {
          // The report's text is the event's first characters, as that of a line that spans chunks (addPending).
          const [start, end] = eventBounds(chunk, pos, nl);
          oversize = end - start > this.max;
          if (oversize) this.emit(chunk.subarray(start, Math.min(end, start + MAX_RAW_CHARS)), true, end - start, out);
        }
        if (!oversize) this.emit(chunk, false, nl - pos, out, pos, nl);
      } else {
        this.addPending(chunk, pos, nl);
        this.emitPending(out);
      }
      pos = nl + 1;
    }
    // A line that goes on in the next chunk (blanks only so far are not kept: they add nothing).
    if (pos < chunk.length) this.addPending(chunk, pos, chunk.length);
  }
  end(out: InputItem[]): void {
    if (this.hasPending) this.emitPending(out);
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
  /** In an array: what may come next between elements (JSON's own grammar, so `[{..}{..}]` is no array). */
  private expect: 'first' | 'comma' | 'element' = 'first';
  /** Whether anything but blanks came yet: a byte order mark after that is in the middle of the input. */
  private started = false;
  private endsWithNewline = false;
  private readonly elem: Collector;
  constructor(private readonly max: number) {
    this.elem = new Collector(max);
  }
  /** A fault between elements: reported where it is, and the elements around it are still read. */
  private fault(out: InputItem[], error: string, raw = ''): void {
    out.push({ line: this.line, index: null, error, raw });
  }
  private finish(out: InputItem[]): void {
    const oversize = this.elem.oversize;
    const bytes = this.elem.take();
    this.collecting = false;
    this.scalar = false;
    this.expect = 'comma';
    const base = { line: this.startLine, index: this.startIndex };
    if (oversize) {
      out.push({
        ...base,
        error: `event too large: more than ${this.max} bytes (see --max-event-size)`,
        raw: clip(bytes.toString('utf8')),
      });
      return;
    }
    const text = utf8Text(bytes);
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
      if (isSpace(b)) continue;
      if (b === 0xef && chunk[i + 1] === 0xbb && chunk[i + 2] === 0xbf) {
        i += 2; // a byte order mark: only the input's first bytes may be one
        if (this.started) this.fault(out, MID_BOM, '\ufeff');
        continue;
      }
      this.started = true;
      if (b === COMMA) {
        if (this.inArray && this.expect === 'comma') this.expect = 'element';
        else
          this.fault(
            out,
            this.inArray
              ? 'invalid JSON: unexpected "," (an array element is missing)'
              : 'invalid JSON: unexpected "," between top-level values',
            ',',
          );
        continue;
      }
      if (b === LBRACKET && !this.inArray) {
        this.inArray = true;
        this.arrayIndex = 0;
        this.expect = 'first';
        continue;
      }
      if (b === RBRACKET && this.inArray) {
        if (this.expect === 'element') this.fault(out, 'invalid JSON: "," before "]" (a trailing comma)', ',]');
        this.inArray = false;
        continue;
      }
      if (b === RBRACE || b === RBRACKET) {
        this.fault(out, `invalid JSON: unexpected "${String.fromCharCode(b)}"`, String.fromCharCode(b));
        continue;
      }
      if (this.inArray && this.expect === 'comma') this.fault(out, 'invalid JSON: missing "," between array elements');
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
    if (chunk.length > 0) this.endsWithNewline = chunk[chunk.length - 1] === LF;
  }
  /** The last line of the input, not the empty one after its final newline. */
  private lastLine(): number {
    return this.endsWithNewline ? this.line - 1 : this.line;
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
        // A missing quote or brace makes the rest of the input part of this element: say how much was not read.
        const rest =
          this.lastLine() > this.startLine
            ? `: lines ${this.startLine}-${this.lastLine()} were read as this one element, so no event in them is stored; fix it and run again`
            : '';
        out.push({
          line: this.startLine,
          index: this.startIndex,
          error: `invalid JSON: unexpected end of input (unclosed object, array or string)${rest}`,
          raw: clip(bytes.toString('utf8')),
        });
      }
    }
    if (this.inArray) {
      out.push({ line: this.lastLine(), index: null, error: 'invalid JSON: array not closed at end of input (missing "]")', raw: '' });
    }
  }
}

/** Picks the splitter from the first line: `[` opens arrays, a lone `{` a pretty-printed object, else NDJSON. */
export function chooseSplitter(firstLine: Buffer, max: number): Splitter {
  let s = 0;
  if (firstLine[0] === 0xef && firstLine[1] === 0xbb && firstLine[2] === 0xbf) s = 3;
  let e = firstLine.length;
  while (s < e && isSpace(firstLine[s]!)) s++;
  while (e > s && isSpace(firstLine[e - 1]!)) e--;
  if (firstLine[s] === LBRACKET) return new ValueSplitter(max);
  if (e - s === 1 && firstLine[s] === LBRACE) return new ValueSplitter(max);
  return new LineSplitter(max);
}
