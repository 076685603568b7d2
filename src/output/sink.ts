/** A text sink with backpressure, for streaming large results to stdout or a file. */
import fs from 'node:fs';
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

  constructor(
    private readonly out: Writable,
    /** The file written, for messages; undefined for stdout. */
    private readonly file?: string,
  ) {
    // Without a listener a failed write would end the process with a stack trace.
    if (file !== undefined) out.on('error', (e) => (this.failure ??= e));
  }

  /**
   * Opens `--output FILE` (created 0600 like the store: it holds customer usage) or stdout; never one of `kept`
   * (the store, the config: see overwrite.ts). The file is opened here,
   * before anything runs, so a path that cannot be written (a missing folder, a directory) is a usage error (exit 2)
   * rather than a failure after the query.
   */
  static open(file: string | undefined, kept: KeptFile[] = []): Sink {
    if (file === undefined || file === '-') return new Sink(process.stdout);
    refuseToOverwrite('--output', file, kept);
    let fd: number;
    try {
      fd = fs.openSync(file, 'w', 0o600);
    } catch (e) {
      throw new UsageError(`--output ${file}: cannot write (${reason(e)})`);
    }
    return new Sink(fs.createWriteStream(file, { fd }), file);
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
    if (this.buffered.length === 0) return;
    const chunk = this.buffered.join('');
    this.buffered = [];
    this.size = 0;
    try {
      if (!this.out.write(chunk)) await once(this.out, 'drain');
    } catch (e) {
      this.failure ??= e;
    }
    this.check();
  }

  async close(): Promise<void> {
    await this.flush();
    if (this.out !== process.stdout && this.out !== process.stderr) {
      await new Promise<void>((resolve) => this.out.end((e?: Error | null) => ((this.failure ??= e ?? null), resolve())));
      this.check();
    }
  }

  private check(): void {
    if (this.failure !== null) throw new MeterError(`--output ${this.file}: cannot write (${reason(this.failure)})`);
  }
}
