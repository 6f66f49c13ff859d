import type { DatabaseSync } from 'node:sqlite';
import type { UserMoves } from '../records/stores/home-store.ts';
import { MovedUsers } from '../records/stores/moved-users.ts';
import type { ChangeSink, RecordStore } from '../records/stores/record-store.ts';
import type { UserStore } from '../records/stores/user-store.ts';
import { EntryWriter } from './entry-writer.ts';
import type { HomeEntry } from './home-log.ts';

/**
 * Moving users of a home kept in the node's SQLite file (`cohort user move`, issue 28): her rows
 * read as the entries that set them, and set as a backup sets its home's (one EntryWriter), each
 * logged for this home's backup.
 */
export function sqliteUserMoves(db: DatabaseSync, store: { users: UserStore; records: RecordStore }, changes?: ChangeSink): UserMoves {
  const writer = new EntryWriter(db, { users: store.users, records: store.records, moves: new MovedUsers(db), marksHome: true });
  return {
    marks: writer.moves,
    entries: (domain, user) => {
      const row = store.users.entry(domain, user);
      return row ? [row, ...store.records.userEntries(domain, user)] : [];
    },
    apply: (entries: HomeEntry[]) => {
      for (const e of entries) {
        writer.apply(e);
        changes?.append(e);
      }
    },
  };
}
