import type { DatabaseSync, StatementSync } from 'node:sqlite';

/**
 * Short-lived claims on user names, kept by every library node of a domain. A library node
 * creates a user only after it holds the claim on itself and on every other library node of
 * her domain: two nodes creating one name at once each find the other's claim, so at most
 * one succeeds (usually neither, and the operator tries again). A claim lapses after its
 * time, so a creator that crashed half-way blocks nothing for long.
 *
 * Names are client-supplied. A claim is dropped when its creation ends, but a lapsed one
 * whose drop never came (its creator crashed, or the unclaim was lost with a link) would
 * stay; each claim() first deletes the lapsed ones, so the table holds the claims of the
 * creations begun in the last ttlMs, and lapsed ones only until the next claim.
 */
export class NameClaims {
  private readonly get_: StatementSync;
  private readonly put_: StatementSync;
  private readonly del_: StatementSync;
  private readonly lapsed_: StatementSync;
  private readonly ttlMs: number;

  constructor(db: DatabaseSync, ttlMs = 60_000) {
    db.exec(`CREATE TABLE IF NOT EXISTS user_claims (
      domain TEXT NOT NULL, name TEXT NOT NULL, home TEXT NOT NULL, expires INTEGER NOT NULL,
      PRIMARY KEY (domain, name)
    ) WITHOUT ROWID`);
    this.get_ = db.prepare('SELECT home, expires FROM user_claims WHERE domain = ? AND name = ?');
    this.put_ = db.prepare('INSERT OR REPLACE INTO user_claims (domain, name, home, expires) VALUES (?, ?, ?, ?)');
    this.del_ = db.prepare('DELETE FROM user_claims WHERE domain = ? AND name = ? AND home = ?');
    this.lapsed_ = db.prepare('DELETE FROM user_claims WHERE expires <= ?');
    this.ttlMs = ttlMs;
  }

  /** Claims the name for `home`; returns the other home whose live claim stands in the way, if any. */
  claim(domain: string, name: string, home: string, now = Date.now()): string | undefined {
    this.lapsed_.run(now);
    const held = this.get_.get(domain, name) as { home: string; expires: number } | undefined;
    if (held && held.home !== home && held.expires > now) return held.home;
    this.put_.run(domain, name, home, now + this.ttlMs);
    return undefined;
  }

  release(domain: string, name: string, home: string): void {
    this.del_.run(domain, name, home);
  }
}
