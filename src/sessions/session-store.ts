import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { GroupCommit } from '../store/group-commit.ts';
import { applyWrite, dropOldTombstones, EMPTY, LOGIN_KEY, mergeStates, type SessionState, type SessionWrite } from './session-state.ts';

/** Expired sessions are kept this long past their expiry (late writes still find their tombstones), then dropped. */
const KEEP_EXPIRED_MS = 3_600_000;

/** This node's copies of sessions, one row each, in its sessions database (openSessionsDatabase). */
export class SessionStore {
  private readonly select: StatementSync;
  private readonly upsert: StatementSync;
  private readonly prune: StatementSync;
  private readonly countSince: StatementSync;
  private readonly addMissed: StatementSync;
  private readonly listMissed: StatementSync;
  private readonly dropMissed: StatementSync;
  private readonly upsertMerged: StatementSync;
  private readonly lastWritten: StatementSync;
  private readonly countAnonymous: StatementSync;
  private readonly dropAnonymous: StatementSync;

  private readonly db: DatabaseSync;
  private readonly commits: GroupCommit;
  /** Rows this store has added since it opened (writes and merges of sessions it had no copy of). */
  created = 0;

  constructor(db: DatabaseSync) {
    this.db = db;
    this.commits = new GroupCommit(db);
    db.exec(`CREATE TABLE IF NOT EXISTS sessions (
      id TEXT PRIMARY KEY,
      state TEXT NOT NULL,
      expires INTEGER NOT NULL,
      touched INTEGER NOT NULL
    )`);
    db.exec('CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires)');
    // Live sessions without a live login: what the anonymous bound counts. Destroyed ones are not
    // dropped for room (their tombstones keep late writes from bringing them back) but expire.
    const columns = db.prepare('PRAGMA table_xinfo(sessions)').all() as { name: string }[];
    if (!columns.some((c) => c.name === 'anonymous')) {
      db.exec(`ALTER TABLE sessions ADD COLUMN anonymous INTEGER GENERATED ALWAYS AS
        (json_extract(state, '$.destroyedAt') = 0 AND coalesce(json_type(state, '$.fields.${LOGIN_KEY}[1]'), 'null') IN ('null', 'false')) VIRTUAL`);
    }
    db.exec('CREATE INDEX IF NOT EXISTS sessions_anonymous ON sessions (anonymous, touched)');
    // Copies elsewhere that missed a write (their node was down): brought up to date when back.
    db.exec('CREATE TABLE IF NOT EXISTS sessions_missed (id TEXT NOT NULL, node TEXT NOT NULL, PRIMARY KEY (id, node))');
    this.addMissed = db.prepare('INSERT OR IGNORE INTO sessions_missed (id, node) VALUES (?, ?)');
    // A cursor over rowids: rows that keep failing do not hold up the others.
    this.listMissed = db.prepare('SELECT rowid, id, node FROM sessions_missed WHERE rowid > ? ORDER BY rowid LIMIT ?');
    this.dropMissed = db.prepare('DELETE FROM sessions_missed WHERE id = ? AND node = ?');
    this.select = db.prepare('SELECT state FROM sessions WHERE id = ?');
    this.upsert = db.prepare(`INSERT INTO sessions (id, state, expires, touched) VALUES (?, ?, ?, ?)
      ON CONFLICT (id) DO UPDATE SET state = excluded.state, expires = excluded.expires, touched = excluded.touched`);
    this.prune = db.prepare('DELETE FROM sessions WHERE rowid IN (SELECT rowid FROM sessions WHERE expires < ? LIMIT ?)');
    // Ids a node made start with `<node>~` (newSessionId): a range scan of the primary key.
    // Only logged-in sessions (LOGIN_KEY live, neither null nor false): anonymous ones are not users.
    this.countSince = db.prepare(`SELECT count(*) AS n FROM sessions WHERE id >= ? AND id < ? AND touched >= ? AND expires > ?
      AND json_extract(state, '$.destroyedAt') = 0 AND json_type(state, '$.fields.${LOGIN_KEY}[1]') NOT IN ('null', 'false')`);
    this.lastWritten = db.prepare('SELECT id FROM sessions WHERE touched >= (SELECT max(touched) FROM sessions) - ? ORDER BY touched DESC LIMIT ?');
    this.countAnonymous = db.prepare('SELECT count(*) AS n FROM sessions WHERE anonymous = 1');
    this.dropAnonymous = db.prepare('DELETE FROM sessions WHERE rowid IN (SELECT rowid FROM sessions WHERE anonymous = 1 ORDER BY touched LIMIT ?)');
    this.upsertMerged = db.prepare(`INSERT INTO sessions (id, state, expires, touched) VALUES (?, ?, ?, 0)
      ON CONFLICT (id) DO UPDATE SET state = excluded.state, expires = excluded.expires`);
  }

  /** This copy's state of a session (empty if it has none). */
  state(id: string): SessionState {
    const row = this.select.get(id) as { state: string } | undefined;
    return row ? { ...EMPTY, ...(JSON.parse(row.state) as SessionState) } : EMPTY;
  }

  /** The state a write or merge starts from; a session this copy has no row of is counted in `created`. */
  private current(id: string): SessionState {
    const state = this.state(id);
    if (state === EMPTY) this.created++;
    return state;
  }

  /** Applies a write (one statement: all of it or nothing). */
  apply(id: string, w: SessionWrite, now = Date.now()): SessionState {
    const next = applyWrite(this.current(id), w);
    this.upsert.run(id, JSON.stringify(next), next.expires, now);
    return next;
  }

  /**
   * Applies a write with the others made in this turn of the event loop, in one transaction
   * (store/group-commit.ts: one commit's cost for them all, each write in its own savepoint):
   * resolves once it is committed; a refused write (too_large) rejects alone, a failed commit
   * rejects them all.
   */
  commit(id: string, w: SessionWrite): Promise<void> {
    return this.commits.run(() => {
      this.apply(id, w);
    });
  }

  /** Runs `work` in one transaction (one commit for a batch of writes); rolled back if it throws. */
  transaction<T>(work: () => T): T {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const out = work();
      this.db.exec('COMMIT');
      return out;
    } catch (err) {
      // SQLite may have rolled back already (disk full, I/O error): keep the first error.
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      throw err;
    }
  }

  /** Merges another copy's state into this one (a copy catching up); not a use of the session, so `touched` stays. */
  merge(id: string, other: SessionState): void {
    const next = dropOldTombstones(mergeStates(this.current(id), other));
    this.upsertMerged.run(id, JSON.stringify(next), next.expires);
  }

  /** Up to `limit` ids of the sessions this copy keeps, after the row `after` (a cursor; 0 from the start). */
  idsAfter(after: number, limit: number): { rowid: number; id: string }[] {
    return this.db.prepare('SELECT rowid, id FROM sessions WHERE rowid > ? ORDER BY rowid LIMIT ?').all(after, limit) as { rowid: number; id: string }[];
  }

  /** Copies elsewhere owed a catch-up. */
  missedCount(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM sessions_missed').get() as { n: number }).n;
  }

  missed(id: string, node: string): void {
    this.addMissed.run(id, node);
  }

  /** Up to `limit` copies owed a catch-up, after the row `after` (a cursor; 0 from the start). */
  missedList(after: number, limit: number): { rowid: number; id: string; node: string }[] {
    return this.listMissed.all(after, limit) as { rowid: number; id: string; node: string }[];
  }

  caughtUp(id: string, node: string): void {
    this.dropMissed.run(id, node);
  }

  /** Sessions written to this copy (by this node or a peer) within `windowMs` of the last such write (at most `limit`, newest first). */
  writtenLast(windowMs: number, limit: number): string[] {
    return (this.lastWritten.all(windowMs, limit) as { id: string }[]).map((r) => r.id);
  }

  /** Drops sessions expired long enough ago; at most `limit` a call. */
  pruneExpired(now = Date.now(), limit = 1000): number {
    return Number(this.prune.run(now - KEEP_EXPIRED_MS, limit).changes);
  }

  /** Copies of sessions without a live login. */
  anonymousCount(): number {
    return (this.countAnonymous.get() as { n: number }).n;
  }

  /** Drops the `limit` least recently written copies of sessions without a live login. */
  dropOldestAnonymous(limit: number): number {
    return Number(this.dropAnonymous.run(limit).changes);
  }

  /** Logged-in sessions node `node` made, written since `since` and not expired: its user load. */
  madeHereActiveSince(node: string, since: number, now = Date.now()): number {
    return (this.countSince.get(`${node}~`, `${node}~\x7f`, since, now) as { n: number }).n;
  }
}
