import type { DatabaseSync, StatementSync } from 'node:sqlite';

/**
 * Counts failures per key in a sliding window; past the limit, the key is blocked until
 * its oldest failure in the window ages out. Kept in the node's database, so restarting
 * the home node does not hand a password guesser a fresh allowance.
 */
export class FailureLimiter {
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly recent_: StatementSync;
  private readonly add_: StatementSync;
  private readonly clear_: StatementSync;
  private readonly prune_: StatementSync;

  constructor(db: DatabaseSync, limit: number, windowMs: number) {
    this.limit = limit;
    this.windowMs = windowMs;
    db.exec('CREATE TABLE IF NOT EXISTS login_failures (key TEXT NOT NULL, at INTEGER NOT NULL)');
    db.exec('CREATE INDEX IF NOT EXISTS login_failures_key ON login_failures (key, at)');
    this.recent_ = db.prepare('SELECT at FROM login_failures WHERE key = ? AND at > ? ORDER BY at LIMIT ?');
    this.add_ = db.prepare('INSERT INTO login_failures (key, at) VALUES (?, ?)');
    this.clear_ = db.prepare('DELETE FROM login_failures WHERE key = ?');
    this.prune_ = db.prepare('DELETE FROM login_failures WHERE at <= ?');
  }

  /** Milliseconds until `key` may try again; 0 when it may now. */
  retryAfter(key: string, now = Date.now()): number {
    const recent = this.recent_.all(key, now - this.windowMs, this.limit) as { at: number }[];
    return recent.length < this.limit ? 0 : recent[0].at + this.windowMs - now;
  }

  fail(key: string, now = Date.now()): void {
    this.prune_.run(now - this.windowMs);
    this.add_.run(key, now);
  }

  succeed(key: string): void {
    this.clear_.run(key);
  }
}
