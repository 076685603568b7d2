/**
 * The store file's neighbours: its -wal and -shm files kept owner-only and a large -wal emptied, and the private
 * copy a reader reads when SQLite cannot let it read the store in place.
 */
import fs from 'node:fs';
import type Database from 'better-sqlite3';
import os from 'node:os';
import path from 'node:path';
import { StoreError } from '../../errors.js';

/**
 * SQLite gives a store's -wal and -shm files the mode of the store file (a store made 0444 got a 0444 WAL); they
 * hold the same customer data, so they are made owner-only whatever the store's mode. Files of another user are
 * left as they are (they are not ours to change).
 */
export function ownerOnlyWal(file: string): void {
  for (const suffix of ['-wal', '-shm']) {
    try {
      const st = fs.statSync(file + suffix);
      if ((st.mode & 0o777) !== 0o600 && st.uid === process.getuid?.()) fs.chmodSync(file + suffix, 0o600);
    } catch {
      // absent, or not ours
    }
  }
}

/** Whether a SQLite file's header says WAL mode (its write version, byte 18, is 2): only such a file gets a -wal. */
function inWalMode(file: string): boolean {
  const head = Buffer.alloc(20);
  const fd = fs.openSync(file, 'r');
  try {
    return fs.readSync(fd, head, 0, 20, 0) === 20 && head[18] === 2;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Makes a writer's -wal and -shm owner-only from their first byte. SQLite creates each with the store file's mode
 * and chmods an empty one it opens to that mode, but leaves a non-empty one as it is; so, for a store whose mode is
 * not 0600, an absent -wal or -shm is created here (exclusively, 0600) holding one byte. SQLite reads a WAL shorter
 * than its 32-byte header as empty, and the first connection truncates and rebuilds the -shm, so the byte is never
 * read as data. ownerOnlyWal still mends files that another process created.
 */
export function precreateOwnerOnlyWal(file: string): void {
  const st = fs.statSync(file);
  if ((st.mode & 0o777) === 0o600 || st.uid !== process.getuid?.() || !inWalMode(file)) return;
  for (const suffix of ['-wal', '-shm']) {
    let fd: number;
    try {
      fd = fs.openSync(file + suffix, 'wx', 0o600);
    } catch {
      continue; // exists (another connection's), or the folder is not writable: SQLite decides
    }
    try {
      fs.fchmodSync(fd, 0o600); // whatever the umask
      fs.writeSync(fd, Buffer.of(0));
    } finally {
      fs.closeSync(fd);
    }
  }
}

/**
 * A copy of the store and its WAL in a private temporary folder (0700), for a reader that SQLite cannot let read
 * the store in place: in WAL mode every reader needs the -shm file, and in a read-only folder without one, or
 * with one it may not open, it has none. The copy is opened normally, so SQLite recovers the WAL into it and the
 * reader sees the last commit; the WAL is copied right after the store, and a commit made between the two copies
 * is either wholly in the copied WAL or not in it (frames count only up to a complete commit). The folder is
 * removed when the process exits. This costs a copy of the file on the temporary disk, not memory.
 */
export function readableCopy(file: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meter-ro-'));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const copy = path.join(dir, 'store.db');
  try {
    fs.copyFileSync(file, copy);
    fs.chmodSync(copy, 0o600);
    if (fs.existsSync(file + '-wal')) {
      fs.copyFileSync(file + '-wal', copy + '-wal');
      fs.chmodSync(copy + '-wal', 0o600);
    }
  } catch (e) {
    throw new StoreError(
      `${file}: cannot read the store (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); check the file's permissions`,
      e,
    );
  }
  return copy;
}

/** A -wal file from this size on is emptied by emptyLargeWal (a setting for tests). */
export const walLimits = { largeBytes: 64 * 1024 * 1024 };

/**
 * Empties the store's -wal file when it is large, through `db`, a writer that is about to close while another
 * connection of the process (a query's reader) stays open. SQLite checkpoints and deletes the WAL when its last
 * connection closes, but a reader cannot, and every later open reads the whole file: a query on the bench's 1M
 * store, after the catch-up that built its rollup, started 17-23 ms later with the 96 MB -wal it left than with
 * none (0.4 ms), about 0.2 ms a MB, on every query. Emptying it costs 0.1-0.2 s once; a smaller -wal is left as it
 * is. Best effort: never waits for another connection (a reader in another process keeps the file as it is).
 */
export function emptyLargeWal(db: Database.Database, file: string): void {
  try {
    // SQLite names the -wal after the file a symbolic link leads to.
    if (fs.statSync(`${fs.realpathSync(file)}-wal`).size < walLimits.largeBytes) return;
    db.pragma('busy_timeout = 0');
    db.pragma('wal_checkpoint(TRUNCATE)');
  } catch {
    // No -wal, or another connection in the way: the next writer's checkpoint or close takes care of it.
  }
}
