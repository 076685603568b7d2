/**
 * Reading one input: its bytes decoded (decode.ts) and split (split.ts) into candidate events with their positions,
 * in batches, in order. Opening inputs is open.ts; the items are items.ts.
 */
import { decodedBytes, GzipError, isSpace, type DecodeNotes } from './decode.js';
import type { InputItem, ReadOptions } from './items.js';
import { chooseSplitter, LF, type Splitter } from './split.js';

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
    end(out);
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
      // Text that ends where a complete member ends is read to its end, its last line included; a line cut
      // inside the broken member is part of what the problem reports.
      const out: InputItem[] = [];
      if (e.atMemberEnd) end(out);
      const after = out.length > 0 ? out[out.length - 1]!.line : lines;
      out.push({ line: after + 1, index: null, error: e.message, raw: '' });
      yield out;
      return;
    }
    throw e;
  }

  /** The end of the text: what is still held (a head shorter than one line, or a last line without LF) is split. */
  function end(out: InputItem[]): void {
    if (splitter === null && head.length > 0) {
      const all = Buffer.concat(head);
      const bom = all[0] === 0xef && all[1] === 0xbb && all[2] === 0xbf ? 3 : 0;
      splitter = chooseSplitter(all.subarray(bom), opts.maxEventBytes);
      splitter.push(all.subarray(bom), out);
    }
    splitter?.end(out);
  }
}
