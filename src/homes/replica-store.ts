import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { RecordStore } from '../records/record-store.ts';
import { UserStore } from '../records/user-store.ts';
import { openDurableDatabase } from '../store/database.ts';
import type { HomeEntry } from './home-log.ts';

/** What a backup answers a batch or a snapshot part: the log number it now holds (-1: a new copy, or a snapshot under way or cut short). */
export interface ReplicaAnswer {
  lsn: number;
}

/**
 * A backup's copy of one home's users and records (issue 27), in a database file of its own
 * (data/<node>/replicas/<home>.db), so the home's users never mix with this node's own: the
 * same tables as the home's, the same row methods, and the log number it holds. Batches apply
 * in order only: a batch that does not start right after what is held changes nothing and is
 * answered with what is held, and the home sends from there (or a snapshot).
 */
export class ReplicaStore {
  readonly home: string;
  readonly users: UserStore;
  readonly records: RecordStore;
  private readonly db: DatabaseSync;
  private readonly held_: StatementSync;
  private readonly setHeld_: StatementSync;

  constructor(dataDir: string, home: string) {
    this.home = home;
    const dir = join(dataDir, 'replicas');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.db = openDurableDatabase(join(dir, `${home}.db`));
    this.users = new UserStore(this.db);
    this.records = new RecordStore(this.db);
    this.db.exec('CREATE TABLE IF NOT EXISTS replica_state (one INTEGER PRIMARY KEY CHECK (one = 1), lsn INTEGER NOT NULL)');
    // -1 until a first snapshot ends: a new copy holds nothing yet, not even "nothing since 0" (the home may have had users before it logged).
    this.db.exec('INSERT OR IGNORE INTO replica_state (one, lsn) VALUES (1, -1)');
    this.held_ = this.db.prepare('SELECT lsn FROM replica_state');
    this.setHeld_ = this.db.prepare('UPDATE replica_state SET lsn = ?');
  }

  /** The home's log number this copy holds: every change up to it, none after (-1: a new copy, or an unfinished snapshot). */
  held(): number {
    return (this.held_.get() as { lsn: number }).lsn;
  }

  /** Applies entries numbered from+1, from+2, ... in one transaction, if they follow what is held. */
  apply(from: number, entries: HomeEntry[]): ReplicaAnswer {
    const held = this.held();
    if (held !== from) return { lsn: held };
    this.transaction(() => {
      for (const e of entries) this.applyEntry(e);
      this.setHeld_.run(from + entries.length);
    });
    return { lsn: from + entries.length };
  }

  /**
   * A snapshot of the home, in parts: `begin` empties this copy (held -1 until `end`), `rows`
   * applies entries as they are, `end` says which log number the snapshot started at: the home
   * then sends its log from there, and entries it read already are applied again, to the same rows.
   */
  snapshot(part: 'begin' | 'rows' | 'end', entries: HomeEntry[], lsn: number): ReplicaAnswer {
    this.transaction(() => {
      if (part === 'begin') {
        this.db.exec('DELETE FROM users; DELETE FROM records; DELETE FROM history');
        this.setHeld_.run(-1);
      } else if (this.held() !== -1) {
        throw new Error('a snapshot part without its beginning');
      }
      for (const e of entries) this.applyEntry(e);
      if (part === 'end') this.setHeld_.run(lsn);
    });
    return { lsn: this.held() };
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }

  private applyEntry(e: HomeEntry): void {
    switch (e[0]) {
      case 'user':
        return this.users.putRow(e[1], e[2], e[3], e[4]);
      case 'put':
        return this.records.putRow(e[1], e[2], e[3], e[4], e[5], e[6]);
      case 'del':
        return void this.records.delRow(e[1], e[2], e[3], e[4]);
      case 'history':
        return this.records.historyRow(e[1], e[2], e[3], e[4], e[5], e[6]);
    }
  }

  private transaction(work: () => void): void {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      work();
      this.db.exec('COMMIT');
    } catch (err) {
      if (this.db.isOpen && this.db.isTransaction) this.db.exec('ROLLBACK');
      throw err;
    }
  }
}
