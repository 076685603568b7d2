/**
 * Opening a SQLite store file: checks that it is a meter store (never adding our tables to another SQLite file),
 * the settings every connection gets, and the upgrade of an older schema.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { StoreError } from '../../errors.js';
import { describeSqliteError } from './errors.js';
import { ownerOnlyWal, precreateOwnerOnlyWal, readableCopy } from './files.js';
import { migrate, SCHEMA_VERSION } from './schema.js';

/** Options of opening a SQLite store. */
export interface SqliteOptions {
  /** Open for reading only: never creates the file. */
  readonly?: boolean;
  /** Milliseconds to wait for another writer before failing. */
  busyTimeoutMs?: number;
}

/**
 * Opens (creating when allowed) the store at `file`, upgraded to SCHEMA_VERSION unless it is opened read-only: an
 * older store opened read-only is read as it is, and `version` says which it is.
 */
export function openDatabase(file: string, opts: SqliteOptions = {}): { db: Database.Database; version: number } {
  const exists = fs.existsSync(file);
  // SQLite reports a folder as a "disk I/O error".
  if (exists && fs.statSync(file).isDirectory())
    throw new StoreError(`${file}: is a directory, not a store file; pass --db <folder>/meter.db`);
  if (!exists) {
    if (opts.readonly) throw new StoreError(`${file}: no store here yet (run \`meter ingest\` first, or pass --db)`);
    const dir = path.dirname(path.resolve(file));
    if (!fs.existsSync(dir)) throw new StoreError(`${file}: folder ${dir} does not exist`);
    try {
      // Customer usage data: owner-only from the first byte (SQLite gives its -wal and -shm files the same mode).
      fs.closeSync(fs.openSync(file, 'a', 0o600));
    } catch (e) {
      throw describeSqliteError(file, e);
    }
  }
  let db: Database.Database;
  let version = 0;
  try {
    try {
      if (!opts.readonly) precreateOwnerOnlyWal(file);
      db = new Database(file, { readonly: opts.readonly ?? false, fileMustExist: true });
      if (opts.readonly) db.pragma('user_version');
    } catch (e) {
      // A reader that cannot use the store's -shm file (a read-only folder without one, or one it may not open:
      // another user's 0600 file) reads a private copy instead: see readableCopy.
      const code = (e as { code?: string }).code ?? '';
      if (!opts.readonly || !/^SQLITE_(CANTOPEN|READONLY|IOERR)/.test(code)) throw e;
      db = new Database(readableCopy(file), { readonly: false, fileMustExist: true });
    }
    db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 60_000}`);
    // Before anything that writes (even journal_mode changes the file header): is this our store? The version
    // and the tables are read in one statement, so from one state of the file: another meter creating the store
    // at this moment is seen either before its schema or after it, never half-way.
    const head = db
      .prepare("SELECT user_version, (SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%') FROM pragma_user_version")
      .raw(true)
      .get() as [number, number];
    version = head[0];
    if (version > SCHEMA_VERSION) {
      throw new StoreError(`${file}: store schema version ${version} is newer than this meter (${SCHEMA_VERSION}); upgrade meter`);
    }
    // A SQLite file of something else: never add our tables to it.
    if (version === 0 && head[1] > 0) {
      throw new StoreError(`${file}: not a meter store (a SQLite database with other tables); use another --db`);
    }
    // 64 KiB pages: fewer, larger B-tree pages make random key inserts and scans cheaper. Set on every store without
    // tables yet, a file that exists included (empty, or created by another meter a moment ago): it takes effect
    // only before the file's first write, whoever makes it.
    if (version === 0 && head[1] === 0 && !opts.readonly) db.pragma('page_size = 65536');
    if (!opts.readonly) {
      db.pragma('journal_mode = WAL');
      // NORMAL in WAL: a commit survives a crash of the process; SqliteStore.sync makes a run's commits durable.
      db.pragma('synchronous = NORMAL');
      const maxPages = process.env.METER_SQLITE_MAX_PAGE_COUNT;
      if (maxPages) db.pragma(`max_page_count = ${Number(maxPages) | 0}`);
    }
    // 128 MiB: holds the key index of a few million events and the pages being appended to, and keeps a whole
    // ingest (both threads) under 400 MB of memory at 10M events.
    db.pragma('cache_size = -131072');
    // Queries read through a memory map: a subject's rows lie scattered over the file, and copying a 64 KiB page
    // per row fetched (pread) made a one-subject month at 10M events 5x slower. Writers keep plain I/O.
    if (opts.readonly) db.pragma('mmap_size = 17179869184');
    if (version < SCHEMA_VERSION && !(opts.readonly && version >= 1)) {
      // An empty file: another meter creating the store a moment ago (its schema not committed yet), or nothing.
      if (opts.readonly && version === 0 && head[1] === 0)
        throw new StoreError(`${file}: no store here yet (an empty file: run \`meter ingest\` first, or pass --db)`);
      if (opts.readonly) throw new StoreError(`${file}: not a meter store (schema version ${version})`);
      migrate(db);
      version = SCHEMA_VERSION;
    }
  } catch (e) {
    if (e instanceof StoreError) throw e;
    throw describeSqliteError(file, e);
  }
  // The -wal and -shm files exist by now: the store was read (and written when new or upgraded).
  ownerOnlyWal(file);
  return { db, version };
}
