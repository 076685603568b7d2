/**
 * The files a command must never write over: its store (with its -wal and -shm files), its config and price files,
 * its inputs. An `--output` or `--rejects` path is compared with each by identity (device and inode, so another
 * spelling or a link of the same file is caught too) before it is opened, which would empty it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.js';

/** A file that must not be written over, and what it is (for the message). */
export type KeptFile = [path: string, what: string];

/**
 * Standard input, when a command reads it (`-`): `--rejects /dev/stdin` (or /proc/self/fd/0) would open the write
 * end of the command's own input pipe, which then never ends.
 */
export const STDIN_KEPT: KeptFile = ['/dev/stdin', 'the standard input (-), which the command reads'];

/** The store file (a SQLite path; a ClickHouse URL names no local file) and the files SQLite keeps beside it. */
export function storeFiles(db: string): KeptFile[] {
  return ['', '-wal', '-shm'].map((suffix) => [db + suffix, 'the store (--db)']);
}

/** Throws a UsageError when `file` (given as `flag`) is one of `kept`: the same path, or the same existing file. */
export function refuseToOverwrite(flag: string, file: string, kept: KeptFile[]): void {
  const out = identity(file);
  for (const [p, what] of kept) {
    // By name too: a store's -wal file that does not exist at this moment may exist the next.
    if (path.resolve(p) === path.resolve(file) || (out !== null && identity(p) === out)) {
      throw new UsageError(`${flag} ${file}: is ${what}; writing to it would destroy it (choose another file)`);
    }
  }
}

function identity(file: string): string | null {
  try {
    const s = fs.statSync(file);
    return `${s.dev}:${s.ino}`;
  } catch {
    return null;
  }
}
