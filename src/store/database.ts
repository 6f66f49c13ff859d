import { existsSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';

const WAL_HEADER_BYTES = 32;
const WAL_FRAME_HEADER_BYTES = 24;

/**
 * Looks at the write-ahead log a crashed process left behind, before SQLite opens it:
 * a file that ends inside a frame was cut short (a torn write, a truncated disk image).
 * SQLite itself then drops the incomplete frames silently; this lets the node say so.
 */
export function inspectWal(dbFile: string): { tornBytes: number } | undefined {
  const wal = `${dbFile}-wal`;
  if (!existsSync(wal)) return undefined;
  const size = statSync(wal).size;
  if (size < WAL_HEADER_BYTES) return size === 0 ? undefined : { tornBytes: size };
  const header = Buffer.alloc(WAL_HEADER_BYTES);
  const fd = openSync(wal, 'r');
  try {
    readSync(fd, header, 0, WAL_HEADER_BYTES, 0);
  } finally {
    closeSync(fd);
  }
  const pageSize = header.readUInt32BE(8) || 65536;
  const tornBytes = (size - WAL_HEADER_BYTES) % (WAL_FRAME_HEADER_BYTES + pageSize);
  return tornBytes ? { tornBytes } : undefined;
}

/**
 * The node's one SQLite database (outbox, inbox ids, journal, and later records).
 * WAL with synchronous=FULL: a committed transaction is on disk before we say so.
 * One connection, used from the event loop only; each module creates its own tables.
 */
export function nodeDatabasePath(dataDir: string): string {
  return join(dataDir, 'node.db');
}

export function openNodeDatabase(dataDir: string): DatabaseSync {
  return openDurableDatabase(nodeDatabasePath(dataDir));
}

/** A database whose commits are on disk before they are answered (the node's, a backup's copy of a home). */
export function openDurableDatabase(file: string): DatabaseSync {
  const db = new DatabaseSync(file);
  db.exec(`
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = FULL;
    PRAGMA busy_timeout = 5000;
    PRAGMA foreign_keys = ON;
  `);
  return db;
}

/**
 * The node's sessions (src/sessions/): WAL with synchronous=NORMAL, a file of its own. A commit
 * is in the OS's hands at once, so it survives the node's death (kill -9), not the machine's;
 * the session's other copy covers that. Without an fsync per write, a session write costs
 * what a Redis one does.
 */
export function openSessionsDatabase(dataDir: string): DatabaseSync {
  const db = new DatabaseSync(join(dataDir, 'sessions.db'));
  db.exec(`
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = NORMAL;
    PRAGMA busy_timeout = 5000;
  `);
  return db;
}

/** SQLite's own consistency check; returns the problems it found (empty when sound). */
export function quickCheck(db: DatabaseSync): string[] {
  const rows = db.prepare('PRAGMA quick_check').all() as { quick_check: string }[];
  return rows.map((r) => r.quick_check).filter((r) => r !== 'ok');
}

/**
 * Runs `work` in a transaction of its own (one commit, one fsync), or inside the one already
 * open on `db` (it then commits with it). Rolled back if `work` throws.
 */
export function inTransaction<T>(db: DatabaseSync, work: () => T, begin: 'BEGIN' | 'BEGIN IMMEDIATE' = 'BEGIN'): T {
  if (db.isTransaction) return work();
  db.exec(begin);
  try {
    const out = work();
    db.exec('COMMIT');
    return out;
  } catch (err) {
    if (db.isOpen && db.isTransaction) db.exec('ROLLBACK');
    throw err;
  }
}
