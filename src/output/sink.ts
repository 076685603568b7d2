/** A text sink with backpressure, for streaming large results to stdout or a file. */
import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { once } from 'node:events';
import { MeterError, UsageError } from '../errors.js';
import { type KeptFile, refuseToOverwrite } from './overwrite.js';

/** A path in /dev or /proc (/dev/stdout, /proc/self/fd/1): a rename over it would not reach what it stands for. */
const DEVICE_PATH = /^\/(dev|proc)\//;

/** Whether a new file can be made in `dir`. */
function writable(dir: string): boolean {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

const reason = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

export class Sink {
  private buffered: string[] = [];
  private size = 0;
  /** A write to the file failed (a full disk): the next write or close says so. */
  private failure: unknown = null;
  private stream: Writable | null;

  /** The file being written in place of `target` until close renames it over `target` (see open). */
  private partial: string | null = null;
  private readonly cleanUp = () => {
    if (this.partial === null) return;
    try {
      fs.unlinkSync(this.partial);
    } catch {
      // Gone already.
    }
    this.partial = null;
  };
  private readonly onSignal = (sig: NodeJS.Signals) => {
    this.cleanUp();
    this.unlisten();
    process.kill(process.pid, sig);
  };

  /** A sink writing to `out`; `--output` goes through open. */
  constructor(
    out: Writable | null,
    /** The file written, for messages; undefined for stdout. */
    private readonly file?: string,
    /** The regular file (or the path of a new one) that `file` names, written whole or not at all; null: in place. */
    private readonly target: string | null = null,
    /** The mode of the file `target` replaces (0600 for a new one). */
    private readonly mode = 0o600,
  ) {
    this.stream = out;
  }

  /**
   * Opens `--output FILE` (created 0600 like the store: it holds customer usage) or stdout; never one of `kept`
   * (the store, the config: see overwrite.ts). The path is checked here, before anything runs, so a path that
   * cannot be written (a missing folder, a directory) is a usage error (exit 2) rather than a failure after the
   * query. A regular file (or a new one) is written whole or not at all: the output goes to a file beside it
   * (`.meter-PID.partial`, opened at the first write, with the old file's mode), renamed over it when complete, so
   * that a run that fails or is stopped (Ctrl-C, SIGTERM, a full disk) leaves the file of an earlier run as it was,
   * never a shorter copy that reads as complete. Written in place, as a rename cannot replace them: anything but a
   * regular file (a pipe), a path in /dev or /proc (/dev/stdout, even when it leads to a file), a file with other
   * hard links, a symbolic link to nothing yet, and a file in a folder that takes no new file.
   */
  static open(file: string | undefined, kept: KeptFile[] = []): Sink {
    if (file === undefined || file === '-') return new Sink(process.stdout);
    if (file === '') throw new UsageError('--output: empty; give a file, or - for standard output');
    refuseToOverwrite('--output', file, kept);
    let target: string | null;
    let mode = 0o600;
    try {
      const special = DEVICE_PATH.test(path.resolve(file));
      if (fs.existsSync(file)) {
        const st = fs.statSync(file);
        if (st.isDirectory()) throw Object.assign(new Error('EISDIR'), { code: 'EISDIR' });
        fs.accessSync(file, fs.constants.W_OK);
        // Through a symbolic link, the file it points to is replaced (the link stays).
        target = st.isFile() && st.nlink === 1 && !special ? fs.realpathSync(file) : null;
        if (target !== null && (DEVICE_PATH.test(target) || !writable(path.dirname(target)))) target = null;
        mode = st.mode & 0o7777;
      } else {
        let dangling = false;
        try {
          dangling = fs.lstatSync(file).isSymbolicLink();
        } catch {
          // No such path: a new file.
        }
        target = dangling || special ? null : path.resolve(file);
        const dir = path.dirname(path.resolve(file));
        if (!fs.statSync(dir).isDirectory()) throw Object.assign(new Error('ENOTDIR'), { code: 'ENOTDIR' });
        fs.accessSync(dir, fs.constants.W_OK);
      }
    } catch (e) {
      throw new UsageError(`--output ${file}: cannot write (${reason(e)})`);
    }
    return new Sink(null, file, target, mode);
  }

  private unlisten(): void {
    process.off('exit', this.cleanUp);
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }

  /** The stream written: the file is opened at the first write (see open). */
  private out(): Writable {
    if (this.stream !== null) return this.stream;
    let fd: number;
    try {
      if (this.target === null) fd = fs.openSync(this.file!, 'w', 0o600);
      else {
        // A short name: one made from the file's own could pass the 255-byte limit of a name.
        const partial = path.join(path.dirname(this.target), `.meter-${process.pid}.partial`);
        fd = fs.openSync(partial, 'w', 0o600);
        this.partial = partial;
        if (this.mode !== 0o600) fs.fchmodSync(fd, this.mode);
        // Removed on any exit before the rename. A signal ends these commands as it would without a handler (see
        // README, exit codes) once the file is removed; a command that handles signals itself keeps its handling.
        process.on('exit', this.cleanUp);
        for (const sig of ['SIGINT', 'SIGTERM'] as const) if (process.listenerCount(sig) === 0) process.on(sig, this.onSignal);
      }
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
      if (this.partial !== null) {
        try {
          fs.renameSync(this.partial, this.target!);
        } catch (e) {
          this.failure ??= e;
        }
        if (this.failure === null) this.partial = null;
        this.unlisten();
        this.check();
      }
    }
  }

  private check(): void {
    if (this.failure === null) return;
    this.cleanUp();
    this.unlisten();
    throw new MeterError(`--output ${this.file}: cannot write (${reason(this.failure)})`);
  }
}
