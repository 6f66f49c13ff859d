import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { ChangeSink } from './record-store.ts';
import type { HomeUsers } from './home-store.ts';

/** The users whose home is this library node, with their password hashes. */
export class UserStore implements HomeUsers {
  private readonly insert_: StatementSync;
  private readonly get_: StatementSync;
  private readonly list_: StatementSync;
  private readonly row_: StatementSync;
  private readonly created_: StatementSync;
  private readonly delete_: StatementSync;
  private readonly full_: StatementSync;
  private readonly changes: ChangeSink | undefined;

  /** `changes`: where each change goes as it is made (the home's log, for its backup). */
  constructor(db: DatabaseSync, changes?: ChangeSink) {
    this.changes = changes;
    db.exec(`CREATE TABLE IF NOT EXISTS users (
      domain TEXT NOT NULL,
      name TEXT NOT NULL,
      password TEXT NOT NULL,
      created INTEGER NOT NULL,
      PRIMARY KEY (domain, name)
    ) WITHOUT ROWID`);
    this.insert_ = db.prepare('INSERT INTO users (domain, name, password, created) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING');
    this.get_ = db.prepare('SELECT password FROM users WHERE domain = ? AND name = ?');
    this.list_ = db.prepare('SELECT domain, name, created FROM users ORDER BY domain, name');
    this.row_ = db.prepare('INSERT OR REPLACE INTO users (domain, name, password, created) VALUES (?, ?, ?, ?)');
    this.created_ = db.prepare('SELECT created FROM users WHERE domain = ? AND name = ?');
    this.full_ = db.prepare('SELECT password, created FROM users WHERE domain = ? AND name = ?');
    this.delete_ = db.prepare('DELETE FROM users WHERE domain = ? AND name = ?');
  }

  /** False when she exists already. */
  create(domain: string, name: string, passwordHash: string): boolean {
    const created = Date.now();
    if (Number(this.insert_.run(domain, name, passwordHash, created).changes) !== 1) return false;
    this.changes?.append(['user', domain, name, passwordHash, created]);
    return true;
  }

  /** A new password hash for a user who lives here; false when she does not. */
  setPassword(domain: string, name: string, passwordHash: string): boolean {
    const row = this.created_.get(domain, name) as { created: number } | undefined;
    if (!row) return false;
    this.row_.run(domain, name, passwordHash, row.created);
    this.changes?.append(['user', domain, name, passwordHash, row.created]);
    return true;
  }

  /** Sets a user's row as a change says (a backup applying its home's log). */
  putRow(domain: string, name: string, passwordHash: string, created: number): void {
    this.row_.run(domain, name, passwordHash, created);
  }

  /** Her row goes (she moved to another home): what a 'moved' entry of state 'gone' does. */
  deleteRow(domain: string, name: string): void {
    this.delete_.run(domain, name);
  }

  /** Her row as the entry that sets it, if she lives here. */
  entry(domain: string, name: string): ['user', string, string, string, number] | undefined {
    const row = this.row(domain, name);
    return row && ['user', domain, name, row.password, row.created];
  }

  private row(domain: string, name: string): { password: string; created: number } | undefined {
    return this.full_.get(domain, name) as { password: string; created: number } | undefined;
  }

  passwordHash(domain: string, name: string): string | undefined {
    return (this.get_.get(domain, name) as { password: string } | undefined)?.password;
  }

  exists(domain: string, name: string): boolean {
    return this.passwordHash(domain, name) !== undefined;
  }

  list(): { domain: string; name: string; created: number }[] {
    return this.list_.all() as { domain: string; name: string; created: number }[];
  }
}
