/** Opening inputs by name: files, and stdin (`-`) read as this process's stdin allows. */
import fs from 'node:fs';
import net from 'node:net';
import type { Readable } from 'node:stream';
import { InputError, UsageError } from '../errors.js';

/** The name shown for stdin. */
export const STDIN_NAME = '-';

/** The inputs a command reads: the files named, or stdin when none is; each checked as `checkInputs` does. */
export function inputsOf(files: string[]): string[] {
  const inputs = files.length === 0 ? [STDIN_NAME] : files;
  if (inputs.filter((f) => f === STDIN_NAME).length > 1) throw new UsageError('stdin (-) can be read only once');
  checkInputs(inputs);
  // A terminal on stdin would otherwise wait in silence for input the user does not know is expected.
  if (inputs.includes(STDIN_NAME) && process.stdin.isTTY)
    process.stderr.write('meter: reading events from standard input (the terminal); end with Ctrl-D, or name files\n');
  return inputs;
}

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
 * spares the main thread, busy writing, from forwarding every chunk (see the README's Performance section). The
 * main thread decides once and tells the worker.
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
