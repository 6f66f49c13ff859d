import { inTransaction } from '../store/database.ts';
import type { DatabaseSync, StatementSync } from 'node:sqlite';

/** An attempt the limiter has let through and already counted; say how it ended. */
export interface Attempt {
  /** The password was right: the key's failures before it are forgotten (attempts still in flight, or begun since, stay counted). */
  succeed(): void;
  /** The password was wrong (or could not be checked): the attempt stays counted as a failure. */
  fail(): void;
}

export type Reservation = { ok: true; attempt: Attempt } | { ok: false; retryAfterMs: number };

/** Logins: 5 failures per user in 5 minutes, at the home and at its backup alike (issue 27). */
export const LOGIN_FAILURE_LIMIT = 5;
export const LOGIN_FAILURE_WINDOW_MS = 5 * 60_000;

/**
 * Where a limiter tells its failures, and the forgiving of them, as they happen: the other copy
 * of a home's users (its LoginRelay), so that a backup checking logins while the home is down,
 * and the home once it is back, count the failures the other saw.
 */
export interface FailureSink {
  failed(key: string, at: number): void;
  forgiven(key: string, at: number): void;
}

/**
 * Counts attempts per key in a sliding window; at the limit, the key is blocked until its
 * oldest attempt in the window ages out. Kept in the node's database, so restarting the home
 * node does not hand a password guesser a fresh allowance.
 *
 * An attempt is counted when it is let through, before the (slow, asynchronous) password
 * check: reserve() checks and inserts its row in one synchronous step, so no other request
 * can run in between, and N concurrent guesses get at most `limit` checks. A failure keeps
 * its row; a success deletes the key's rows except those of other attempts still in flight
 * (which count until they end). Rows of attempts in flight when the node stops stay, and
 * count as failures after a restart.
 *
 * Bound: keys are client-controlled (any user name, existing or not), so the table holds
 * at most `maxRows` rows: each insert deletes the rows inserted more than `maxRows` inserts
 * ago (by rowid: a new row's is above every row present), besides those older than the window. Counting unknown
 * names under one shared key would bound it too, but would tell a guesser which names exist
 * (an unknown one would be rate_limited while a real one was not), which login must not tell.
 * Pushing a user's failures out early takes `maxRows` attempts in one window, each of which
 * queues a full scrypt check ahead of the guesser's next guesses, far slower than waiting the
 * window out. A key is at most 97 bytes, so a row with its two index entries is some 250
 * bytes: the cap is about 25 MB of disk at most.
 */
export class FailureLimiter {
  private readonly db: DatabaseSync;
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly maxRows: number;
  /**
   * The attempts let through whose check has not ended, by a key of their own (a rowid can be
   * reused once the table empties): their key and row. As many as checks in flight.
   */
  private readonly inFlight = new Map<number, { key: string; row: number }>();
  private attempts = 0;
  private readonly recent_: StatementSync;
  private readonly add_: StatementSync;
  private readonly clear_: StatementSync;
  private readonly prune_: StatementSync;
  private readonly cap_: StatementSync;
  private readonly forgive_: StatementSync;
  private readonly sink: FailureSink | undefined;

  constructor(db: DatabaseSync, limit: number, windowMs: number, opts: { maxRows?: number; sink?: FailureSink } = {}) {
    const { maxRows = 100_000, sink } = opts;
    this.sink = sink;
    this.db = db;
    this.limit = limit;
    this.windowMs = windowMs;
    this.maxRows = maxRows;
    db.exec('CREATE TABLE IF NOT EXISTS login_failures (key TEXT NOT NULL, at INTEGER NOT NULL)');
    db.exec('CREATE INDEX IF NOT EXISTS login_failures_key ON login_failures (key, at)');
    db.exec('CREATE INDEX IF NOT EXISTS login_failures_at ON login_failures (at)');
    // Rows stamped ahead of the clock (it was set back) count for no more than one window.
    this.recent_ = db.prepare('SELECT min(at, ?) AS at FROM login_failures WHERE key = ? AND at > ? ORDER BY at LIMIT ?');
    this.add_ = db.prepare('INSERT INTO login_failures (key, at) VALUES (?, ?)');
    this.clear_ = db.prepare('DELETE FROM login_failures WHERE key = ? AND rowid <= ? AND rowid NOT IN (SELECT value FROM json_each(?))');
    this.prune_ = db.prepare('DELETE FROM login_failures WHERE at <= ? OR at > ?');
    this.cap_ = db.prepare('DELETE FROM login_failures WHERE rowid <= ?');
    this.forgive_ = db.prepare('DELETE FROM login_failures WHERE key = ? AND at <= ?');
  }

  /**
   * What the other copy of these users counted (issue 27: a home and its backup tell each
   * other), in one transaction: its failures count here too, and a right login there forgives
   * the failures before it here too. `domain` is the home's: the events name users of it.
   */
  told(domain: string, events: readonly (readonly ['fail' | 'forgive', string, number])[]): void {
    inTransaction(this.db, () => {
      for (const [what, user, at] of events) {
        if (what === 'fail') this.addFailure(`${domain}/${user}`, at);
        else this.forgive_.run(`${domain}/${user}`, at);
      }
    });
  }

  private addFailure(key: string, at: number): number {
    const row = Number(this.add_.run(key, at).lastInsertRowid);
    if (row > this.maxRows) this.cap_.run(row - this.maxRows);
    return row;
  }

  /** Milliseconds until `key` may try again; 0 when it may now. */
  retryAfter(key: string, now = Date.now()): number {
    const recent = this.recent_.all(now, key, now - this.windowMs, this.limit) as { at: number }[];
    return recent.length < this.limit ? 0 : Math.max(1, recent[0].at + this.windowMs - now);
  }

  /**
   * Lets an attempt for `key` through and counts it at once, or says how long to wait.
   * Synchronous on purpose: the check and the count must not be split by an await.
   */
  reserve(key: string, now = Date.now()): Reservation {
    const wait = this.retryAfter(key, now);
    if (wait > 0) return { ok: false, retryAfterMs: wait };
    // One transaction, one fsync: prune, count, cap (nothing else holds one between turns).
    const row = inTransaction(this.db, () => {
      this.prune_.run(now - this.windowMs, now + this.windowMs);
      return this.addFailure(key, now);
    });
    const id = ++this.attempts;
    this.inFlight.set(id, { key, row });
    let ended = false;
    return {
      ok: true,
      attempt: {
        succeed: () => {
          if (ended) return;
          ended = true;
          this.inFlight.delete(id);
          // Only failures before this attempt are forgiven; guesses made while it was checked stay.
          const stillChecking = [...this.inFlight.values()].flatMap((a) => (a.key === key ? [a.row] : []));
          // More than its own row went: there were failures, which the sink's copy forgets too.
          if (Number(this.clear_.run(key, row, JSON.stringify(stillChecking)).changes) > 1) this.sink?.forgiven(key, now);
        },
        fail: () => {
          if (ended) return;
          ended = true;
          this.inFlight.delete(id);
          this.sink?.failed(key, now);
        },
      },
    };
  }
}
