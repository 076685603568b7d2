/**
 * Where rejected inputs go (ingest's and map's): every one to `--rejects FILE` as an NDJSON line, else the first
 * SHOWN_REJECTS on stderr with file, line and reason, and afterwards a line saying how many more there were.
 */
import fs from 'node:fs';
import { MeterError, UsageError } from '../errors.js';
import { type KeptFile, refuseToOverwrite } from './overwrite.js';
import type { RejectRecord } from '../ingest/parse.js';
import { count } from './summary.js';
import { messageSafe } from './table.js';

/** How many rejects are shown on stderr without --rejects. */
export const SHOWN_REJECTS = 10;

export class RejectReport {
  private buffered = '';
  private shown = 0;
  private readonly toFile: boolean;

  private constructor(
    /** The --rejects file (null once closed, or without one). */
    private fd: number | null,
    private readonly quiet: boolean,
    /** Its name, for messages. */
    private readonly file = '',
  ) {
    this.toFile = fd !== null;
  }

  /** Opens `--rejects FILE` (created 0600: rejected input holds customer usage too), or reports on stderr. */
  static open(file: string | undefined, quiet: boolean, kept: KeptFile[] = []): RejectReport {
    if (file === undefined) return new RejectReport(null, quiet);
    if (file === '') throw new UsageError('--rejects: empty; give a file');
    refuseToOverwrite('--rejects', file, kept);
    try {
      return new RejectReport(fs.openSync(file, 'w', 0o600), quiet, file);
    } catch (e) {
      throw new UsageError(`--rejects ${file}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }

  add(r: RejectRecord): void {
    if (this.fd !== null) {
      this.buffered += JSON.stringify(r) + '\n';
      if (this.buffered.length >= 1 << 16) this.flush();
    } else if (!this.quiet && this.shown < SHOWN_REJECTS) {
      this.shown++;
      process.stderr.write(messageSafe(`${r.file}:${r.line}${r.index !== undefined ? `[${r.index}]` : ''}: ${r.error}`) + '\n');
    }
  }

  /** Writes what is buffered and closes the file. */
  close(): void {
    if (this.fd === null) return;
    try {
      this.flush();
    } finally {
      fs.closeSync(this.fd);
      this.fd = null;
    }
  }

  /** After the run: says how many rejects stderr did not show, when it did not show them all. */
  reportRest(rejected: number): void {
    // Quiet, a run that rejected input (exit 3) still says so: the reasons are what the user must act on.
    if (this.quiet && !this.toFile && rejected > 0) {
      process.stderr.write(`${count(rejected)} rejected; --rejects FILE writes them with their reasons\n`);
    } else if (!this.quiet && !this.toFile && rejected > this.shown) {
      process.stderr.write(`... ${count(rejected - this.shown)} more rejected; --rejects FILE writes them all\n`);
    }
  }

  private flush(): void {
    if (this.buffered === '' || this.fd === null) return;
    try {
      fs.writeSync(this.fd, this.buffered);
    } catch (e) {
      // Exit 1, as a failing --output: the events of the run are stored, its rejects are not all written.
      throw new MeterError(`--rejects ${this.file}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    this.buffered = '';
  }
}
