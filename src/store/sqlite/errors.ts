/** SQLite failures as StoreErrors that name the file and say what to do. */
import { StoreBusyError, StoreError } from '../../errors.js';

/**
 * Whether an error has SQLite's result code `primary`, or one of its extended codes (SQLITE_READONLY_DBMOVED is a
 * SQLITE_READONLY). better-sqlite3 gives every SQLite failure its code; other errors (the file system's) have none
 * of these.
 */
function hasCode(code: string, primary: string): boolean {
  return code === primary || code.startsWith(primary + '_');
}

/** Turns a SQLite failure into a StoreError that names the file and says what to do. */
export function describeSqliteError(file: string, e: unknown): StoreError {
  const err = e as { code?: string; message?: string };
  const code = err.code ?? '';
  const msg = err.message ?? String(e);
  if (hasCode(code, 'SQLITE_NOTADB') || hasCode(code, 'SQLITE_CORRUPT')) {
    return new StoreError(`${file}: not a meter store or damaged (${msg}); restore it from a backup or use another --db`, e);
  }
  if (hasCode(code, 'SQLITE_READONLY')) {
    return new StoreError(`${file}: store is read-only (${msg}); check the file's and folder's permissions`, e);
  }
  if (hasCode(code, 'SQLITE_FULL')) {
    return new StoreError(`${file}: disk or store is full (${msg}); nothing of the failed batch was written`, e);
  }
  if (hasCode(code, 'SQLITE_CANTOPEN')) {
    return new StoreError(`${file}: cannot open store (${msg}); does the folder exist and is it writable?`, e);
  }
  if (hasCode(code, 'SQLITE_BUSY') || hasCode(code, 'SQLITE_LOCKED')) {
    return new StoreBusyError(`${file}: store is busy (another process held it too long: ${msg}); try again`, e);
  }
  return new StoreError(`${file}: ${msg}`, e);
}

/**
 * Whether SQLite's sum() went past 2^63 (then the query runs again in decimal): SQLite gives that failure no code
 * of its own (SQLITE_ERROR), only its message.
 */
export function isIntegerOverflow(e: unknown): boolean {
  const cause = (e instanceof StoreError ? e.cause : e) as { code?: string; message?: string } | undefined;
  return cause?.code === 'SQLITE_ERROR' && cause.message === 'integer overflow';
}

/** Thrown by meter_inexact: a 'fast' catch-up met a value that is not a JSON integer (see rollup-sql.ts). */
export class InexactValue extends Error {
  constructor() {
    super('a value that is not a JSON integer');
  }
}
