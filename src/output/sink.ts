/** A text sink with backpressure, for streaming large results to stdout or a file. */
import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { once } from 'node:events';
import { MeterError, UsageError } from '../errors.js';
import { type KeptFile, refuseToOverwrite } from './overwrite.js';

const reason = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

export class Sink {
  private buffered: string[] = [];
  private size = 0;
  /** A write to the file failed (a full disk): the next write or close says so. */
  private failure: unknown = null;
  private stream: Writable | null;

  /** A sink writing to `out`; `--output` goes through open. */
  constructor(
    out: Writable | null,
    /** The file written, for messages; undefined for stdout. */
    private readonly file?: string,
  ) {
    this.stream = out;
  }

  /**
   * Opens `--output FILE` (created 0600 like the store: it holds customer usage) or stdout; never one of `kept`
   * (the store, the config: see overwrite.ts). The path is checked here, before anything runs, so a path that
   * cannot be written (a missing folder, a directory) is a usage error (exit 2) rather than a failure after the
   * query; the file itself is opened (and an old one truncated) at the first write, so that a run that fails
   * before it has any output (a usage error found while computing, such as overlapping prices) leaves the file
   * of an earlier run as it was.
   */
  static open(file: string | undefined, kept: KeptFile[] = []): Sink {
    if (file === undefined || file === '-') return new Sink(process.stdout);
    if (file === '') throw new UsageError('--output: empty; give a file, or - for standard output');
    refuseToOverwrite('--output', file, kept);
    try {
      if (fs.existsSync(file)) {
        if (fs.statSync(file).isDirectory()) throw Object.assign(new Error('EISDIR'), { code: 'EISDIR' });
        fs.accessSync(file, fs.constants.W_OK);
      } else {
        const dir = path.dirname(path.resolve(file));
        if (!fs.statSync(dir).isDirectory()) throw Object.assign(new Error('ENOTDIR'), { code: 'ENOTDIR' });
        fs.accessSync(dir, fs.constants.W_OK);
      }
    } catch (e) {
      throw new UsageError(`--output ${file}: cannot write (${reason(e)})`);
    }
    return new Sink(null, file);
  }

  /** The stream written: the file is opened at the first write (see open). */
  private out(): Writable {
    if (this.stream !== null) return this.stream;
    let fd: number;
    try {
      fd = fs.openSync(this.file!, 'w', 0o600);
    } catch (e) {
      throw new MeterError(`--output ${this.file}: cannot write (${reason(e)})`);
    }
    const out = fs.createWriteStream(this.file!, { fd });
    // Without a listener a failed write would end the process with a stack trace.
    out.on('error', (e) => (this.failure ??= e));
    this.stream = out;
    return out;
  }

  /**
   * Buffers `text`; a promise (to await) only when the buffer is flushed, so that a renderer of half a million rows
   * does not wait a turn of the event loop for each.
   */
  write(text: string): Promise<void> | undefined {
    this.buffered.push(text);
    this.size += text.length;
    return this.size >= 1 << 16 ? this.flush() : undefined;
  }

  async flush(): Promise<void> {
    this.check();
    const out = this.out();
    if (this.buffered.length === 0) return;
    const chunk = this.buffered.join('');
    this.buffered = [];
    this.size = 0;
    try {
      if (!out.write(chunk)) await once(out, 'drain');
    } catch (e) {
      this.failure ??= e;
    }
    this.check();
  }

  async close(): Promise<void> {
    await this.flush();
    const out = this.out();
    if (out !== process.stdout && out !== process.stderr) {
      await new Promise<void>((resolve) => out.end((e?: Error | null) => ((this.failure ??= e ?? null), resolve())));
      this.check();
    }
  }

  private check(): void {
    if (this.failure !== null) throw new MeterError(`--output ${this.file}: cannot write (${reason(this.failure)})`);
  }
}
