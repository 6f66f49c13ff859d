import type { DatabaseSync } from 'node:sqlite';
import type { GroupCommit } from '../../store/group-commit.ts';
import type { HomeStore, Maybe, UserMoves } from './home-store.ts';
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
  readonly moves: UserMoves | undefined;
  private readonly commit: GroupCommit;

  /** `moves`: how its users move to another home (homes/sqlite-moves.ts), made from its users and records. */
  constructor(db: DatabaseSync, commit: GroupCommit, changes?: ChangeSink, moves?: (store: { users: UserStore; records: RecordStore }) => UserMoves) {
    this.commit = commit;
    this.users = new UserStore(db, changes);
    this.records = new RecordStore(db, changes);
    this.moves = moves?.(this);
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
