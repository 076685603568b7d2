/** SQLite failures as StoreErrors that name the file and say what to do. */
import { StoreError } from '../../errors.js';

/** Turns a SQLite failure into a StoreError that names the file and says what to do. */
export function describeSqliteError(file: string, e: unknown): StoreError {
  const err = e as { code?: string; message?: string };
  const code = err.code ?? '';
  const msg = err.message ?? String(e);
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT' || /not a database|malformed/.test(msg)) {
    return new StoreError(`${file}: not a meter store or damaged (${msg}); restore it from a backup or use another --db`, e);
  }
  if (code === 'SQLITE_READONLY' || code.startsWith('SQLITE_READONLY') || /readonly/.test(msg)) {
    return new StoreError(`${file}: store is read-only (${msg}); check the file's and folder's permissions`, e);
  }
  if (code === 'SQLITE_FULL' || /full/.test(msg)) {
    return new StoreError(`${file}: disk or store is full (${msg}); nothing of the failed batch was written`, e);
  }
  if (code === 'SQLITE_CANTOPEN' || /unable to open/.test(msg)) {
    return new StoreError(`${file}: cannot open store (${msg}); does the folder exist and is it writable?`, e);
  }
  if (code === 'SQLITE_BUSY' || /locked|busy/.test(msg)) {
    return new StoreError(`${file}: store is busy (another process held it too long: ${msg}); try again`, e);
  }
  return new StoreError(`${file}: ${msg}`, e);
}
