/** A text sink with backpressure, for streaming large results to stdout or a file. */
import fs from 'node:fs';
import type { Writable } from 'node:stream';
import { once } from 'node:events';

export class Sink {
  private buffered: string[] = [];
  private size = 0;
  constructor(private readonly out: Writable) {}

  /** Opens `--output FILE` (created 0600 like the store: it holds customer usage) or stdout. */
  static open(file: string | undefined): Sink {
    if (file === undefined || file === '-') return new Sink(process.stdout);
    return new Sink(fs.createWriteStream(file, { mode: 0o600 }));
  }

  async write(text: string): Promise<void> {
    this.buffered.push(text);
    this.size += text.length;
    if (this.size >= 1 << 16) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.buffered.length === 0) return;
    const chunk = this.buffered.join('');
    this.buffered = [];
    this.size = 0;
    if (!this.out.write(chunk)) await once(this.out, 'drain');
  }

  async close(): Promise<void> {
    await this.flush();
    if (this.out !== process.stdout && this.out !== process.stderr) {
      await new Promise<void>((resolve, reject) => this.out.end((e?: Error | null) => (e ? reject(e) : resolve())));
    }
  }
}
