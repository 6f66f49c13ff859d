import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';

/**
 * The node's one SQLite database (outbox, inbox ids, journal, and later records).
 * WAL with synchronous=FULL: a committed transaction is on disk before we say so.
 * One connection, used from the event loop only; each module creates its own tables.
 */
export function openNodeDatabase(dataDir: string): DatabaseSync {
  const db = new DatabaseSync(join(dataDir, 'node.db'));
  db.exec(`
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = FULL;
    PRAGMA busy_timeout = 5000;
    PRAGMA foreign_keys = ON;
  `);
  return db;
}

/** SQLite's own consistency check; returns the problems it found (empty when sound). */
export function quickCheck(db: DatabaseSync): string[] {
  const rows = db.prepare('PRAGMA quick_check').all() as { quick_check: string }[];
  return rows.map((r) => r.quick_check).filter((r) => r !== 'ok');
}
