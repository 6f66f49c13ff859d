// Tells a failing disk from a failing command. node:sqlite throws a plain Error with
// code 'ERR_SQLITE_ERROR', errcode (SQLite's extended result code) and errstr (checked on
// Node 24). The low byte of errcode is the primary result code.

/**
 * Primary result codes that say the storage failed, not the statement: trying the same
 * work again later may well succeed (space freed, lock released, disk replaced, database
 * repaired). Constraint, type and SQL errors are left out: those are the command's own
 * doing, and repeating it would fail the same way.
 */
const STORAGE_CODES = new Set([
  5, // SQLITE_BUSY (SQLITE_LOCKED, 6, is left out: on one connection it is a bug, not the disk)
  7, // SQLITE_NOMEM
  8, // SQLITE_READONLY (a file or file system turned read-only)
  10, // SQLITE_IOERR and its extended codes (_FSYNC, _WRITE, ...)
  11, // SQLITE_CORRUPT: the receiver's file, not the message; keep it until the file is repaired
  13, // SQLITE_FULL
  14, // SQLITE_CANTOPEN
  15, // SQLITE_PROTOCOL
  26, // SQLITE_NOTADB
]);

/** True for an SQLite error raised by the storage under a statement rather than by the statement. */
export function isStorageFault(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const { code, errcode } = err as { code?: unknown; errcode?: unknown };
  return code === 'ERR_SQLITE_ERROR' && typeof errcode === 'number' && STORAGE_CODES.has(errcode & 0xff);
}
