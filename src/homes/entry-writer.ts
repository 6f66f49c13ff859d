import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { RecordStore } from '../records/stores/record-store.ts';
import { UserStore } from '../records/stores/user-store.ts';
import { MovedUsers } from '../records/stores/moved-users.ts';
import type { HomeEntry } from './home-log.ts';

/**
 * Sets the rows a home's log entry leaves (issue 27), in a database with the home's tables: a
 * backup's copy applying its home's log, or a home taking back what its promoted backup held.
 * Applying one twice leaves the same rows. Nothing it writes is logged again.
 */
export class EntryWriter {
  readonly users: UserStore;
  readonly records: RecordStore;
  readonly moves: MovedUsers;
  private readonly db: DatabaseSync;
  /** A node's inbox marks the ids of messages that changed users or records (`home`); a copy's inbox keeps only those. */
  private readonly marksHome: boolean;
  private applied_: StatementSync | undefined;

  constructor(db: DatabaseSync, opts: { users?: UserStore; records?: RecordStore; moves?: MovedUsers; marksHome: boolean }) {
    this.db = db;
    this.users = opts.users ?? new UserStore(db);
    this.records = opts.records ?? new RecordStore(db);
    this.moves = opts.moves ?? new MovedUsers(db);
    this.marksHome = opts.marksHome;
  }

  apply(e: HomeEntry): void {
    switch (e[0]) {
      case 'user':
        return this.users.putRow(e[1], e[2], e[3], e[4]);
      case 'put':
        return this.records.putRow(e[1], e[2], e[3], e[4], JSON.stringify(e[5]), e[6]);
      case 'del':
        return void this.records.delRow(e[1], e[2], e[3], e[4]);
      case 'history':
        return this.records.historyRow(e[1], e[2], e[3], e[4], e[5], JSON.stringify(e[6]));
      case 'moved': {
        const [, domain, user, to, state, at] = e;
        if (state === 'here') return this.moves.clear(domain, user);
        if (state === 'gone') {
          // Her new home holds her: nothing of hers stays here but where she went.
          this.users.deleteRow(domain, user);
          this.records.deleteUserRows(domain, user);
        }
        return this.moves.setRow(domain, user, to, state, at);
      }
      case 'applied':
        // Prepared at first use: a node's inbox table is made by the critical part, after the homes part.
        this.applied_ ??= this.db.prepare(this.marksHome ? 'INSERT OR REPLACE INTO inbox (sender, mid, result, applied_at, home) VALUES (?, ?, ?, ?, 1)' : 'INSERT OR REPLACE INTO inbox (sender, mid, result, applied_at) VALUES (?, ?, ?, ?)');
        return void this.applied_.run(e[1], e[2], JSON.stringify(e[3]), e[4]);
    }
  }

  /** Empties the home's users, records and history, where its users moved, and the applied ids that go with them. */
  empty(): void {
    this.db.exec(`DELETE FROM users; DELETE FROM records; DELETE FROM history; DELETE FROM moved_users; DELETE FROM inbox${this.marksHome ? ' WHERE home = 1' : ''}`);
  }
}
