import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { CohortError, movedError } from '../../errors.ts';

/**
 * Where a user moved to (`cohort user move`, issue 28): 'leaving' while her records are copied
 * to her new home (her writes wait here: they would be missing there), 'gone' once the new home
 * holds her (what comes here for her is sent on there). A home's row goes to its backup with
 * the rest of its log, so a promoted backup answers for her as the home would.
 */
export type MoveState = 'leaving' | 'gone';

export interface MoveMark {
  to: string;
  state: MoveState;
  at: number;
}

/** The users who moved away from this home, or are moving: one row each. */
export class MovedUsers {
  private readonly get_: StatementSync;
  private readonly set_: StatementSync;
  private readonly del_: StatementSync;
  private readonly leaving_: StatementSync;

  constructor(db: DatabaseSync) {
    db.exec(`CREATE TABLE IF NOT EXISTS moved_users (
      domain TEXT NOT NULL, user TEXT NOT NULL, to_node TEXT NOT NULL, state TEXT NOT NULL, at INTEGER NOT NULL,
      PRIMARY KEY (domain, user)
    ) WITHOUT ROWID`);
    this.get_ = db.prepare('SELECT to_node AS "to", state, at FROM moved_users WHERE domain = ? AND user = ?');
    this.set_ = db.prepare('INSERT OR REPLACE INTO moved_users (domain, user, to_node, state, at) VALUES (?, ?, ?, ?, ?)');
    this.del_ = db.prepare('DELETE FROM moved_users WHERE domain = ? AND user = ?');
    this.leaving_ = db.prepare("SELECT domain, user, to_node AS \"to\" FROM moved_users WHERE state = 'leaving' ORDER BY at");
  }

  mark(domain: string, user: string): MoveMark | undefined {
    return this.get_.get(domain, user) as MoveMark | undefined;
  }

  setRow(domain: string, user: string, to: string, state: MoveState, at: number): void {
    this.set_.run(domain, user, to, state, at);
  }

  /** She lives here again (moved back): the old mark goes. */
  clear(domain: string, user: string): void {
    this.del_.run(domain, user);
  }

  /** Moves under way (their copy to the new home not yet confirmed). */
  leaving(): { domain: string; user: string; to: string }[] {
    return this.leaving_.all() as { domain: string; user: string; to: string }[];
  }

  /**
   * Throws unless a command on her may run here: 'moved' once she lives elsewhere; con_lost for a
   * write while she is leaving (the sender keeps it and sends it again; it then goes on to her new home).
   */
  check(domain: string, user: string, write: boolean, what: string): void {
    const mark = this.mark(domain, user);
    if (!mark) return;
    if (mark.state === 'gone') throw movedError(domain, user, mark.to);
    if (write) throw new CohortError('con_lost', `${user}@${domain} is moving to ${mark.to}: ${what} waits until she is there; try again`);
  }
}
