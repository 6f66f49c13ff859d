import type { DatabaseSync, StatementSync } from 'node:sqlite';

/** The users whose home is this library node, with their password hashes. */
export class UserStore {
  private readonly insert_: StatementSync;
  private readonly get_: StatementSync;
  private readonly list_: StatementSync;

  constructor(db: DatabaseSync) {
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
  }

  /** False when she exists already. */
  create(domain: string, name: string, passwordHash: string): boolean {
    return Number(this.insert_.run(domain, name, passwordHash, Date.now()).changes) === 1;
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
