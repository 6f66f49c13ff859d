import type { DatabaseSync } from 'node:sqlite';
import type { GroupCommit } from '../../store/group-commit.ts';
import { EntryWriter } from '../../homes/entry-writer.ts';
import type { HomeEntry } from '../../homes/home-log.ts';
import type { HomeStore, Maybe, UserMoves } from './home-store.ts';
import { MovedUsers } from './moved-users.ts';
import { RecordStore, type ChangeSink } from './record-store.ts';
import { UserStore } from './user-store.ts';

/**
 * A home's users and records in the node's own SQLite file (the default): each change goes to
 * the home's log for its backup, and critical messages are applied once by the node's inbox,
 * in its transaction.
 */
export class SqliteHome implements HomeStore {
  readonly kind = 'sqlite';
  readonly users: UserStore;
  readonly records: RecordStore;
  readonly moves: UserMoves;
  private readonly commit: GroupCommit;

  constructor(db: DatabaseSync, commit: GroupCommit, changes?: ChangeSink) {
    this.commit = commit;
    this.users = new UserStore(db, changes);
    this.records = new RecordStore(db, changes);
    // A move's rows are set as a backup sets its home's (one EntryWriter), and logged for this home's backup.
    const writer = new EntryWriter(db, { users: this.users, records: this.records, moves: new MovedUsers(db), marksHome: true });
    this.moves = {
      marks: writer.moves,
      entries: (domain, user) => {
        const row = this.users.entry(domain, user);
        return row ? [row, ...this.records.userEntries(domain, user)] : [];
      },
      apply: (entries: HomeEntry[]) => {
        for (const e of entries) {
          writer.apply(e);
          changes?.append(e);
        }
      },
    };
  }

  write<T>(work: () => Maybe<T>): Promise<T> {
    // SQLite's work is synchronous: it runs inside the batch's transaction (what it left for later would not be in it).
    return this.commit.run(() => {
      const out = work();
      if (out instanceof Promise) throw new Error('SqliteHome.write: the work must be synchronous');
      return out;
    });
  }

  async prepare(): Promise<void> {}

  status(): { ok: boolean; detail: string } {
    return { ok: true, detail: 'SQLite' };
  }

  async close(): Promise<void> {}
}
