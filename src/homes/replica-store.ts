import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { FailureLimiter, LOGIN_FAILURE_LIMIT, LOGIN_FAILURE_WINDOW_MS, type FailureSink } from '../records/rate-limit.ts';
import { RecordStore } from '../records/stores/record-store.ts';
import { UserStore } from '../records/stores/user-store.ts';
import { inTransaction, openDurableDatabase } from '../store/database.ts';
import { EntryWriter } from './entry-writer.ts';
import type { MovedUsers } from '../records/stores/moved-users.ts';
import type { HomeEntry } from './home-log.ts';

/**
 * What a backup holds of a home: every change of the home's log `logId` up to `lsn`, none after.
 * -1 (and no logId): a new copy, or a snapshot under way or cut short.
 */
export interface ReplicaAnswer {
  lsn: number;
  logId: string | null;
}

/**
 * A backup's copy of one home's users and records (issue 27), in a database file of its own
 * (data/<node>/replicas/<home>.db), so the home's users never mix with this node's own: the
 * same tables as the home's, the same row methods, and what it holds of the home's log. Batches
 * apply in order only: one that is not of the log held, or does not start right after what is
 * held, changes nothing and is answered with what is held (the home sends from there, or a
 * snapshot). A snapshot's parts carry its id: a late part of an earlier one changes nothing.
 */
export class ReplicaStore {
  readonly home: string;
  readonly users: UserStore;
  readonly records: RecordStore;
  /** The home's failed logins (its LoginRelay tells them) and this copy's own (told to the home): a login checked here counts both. */
  readonly logins: FailureLimiter;
  private readonly db: DatabaseSync;
  private readonly writer: EntryWriter;
  private readonly held_: StatementSync;
  private readonly setHeld_: StatementSync;
  private readonly begin_: StatementSync;
  private readonly applied_: StatementSync;
  private readonly seen_: StatementSync;
  private readonly pruneApplied_: StatementSync;

  /** `logins`: where the logins checked on this copy are told (the home, once it is back). */
  constructor(dataDir: string, home: string, logins?: FailureSink) {
    this.home = home;
    const dir = join(dataDir, 'replicas');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.db = openDurableDatabase(join(dir, `${home}.db`));
    this.users = new UserStore(this.db);
    this.records = new RecordStore(this.db);
    this.writer = new EntryWriter(this.db, { users: this.users, records: this.records, marksHome: false });
    this.logins = new FailureLimiter(this.db, LOGIN_FAILURE_LIMIT, LOGIN_FAILURE_WINDOW_MS, { sink: logins });
    // The home's inbox as far as its users and records go: the ids (and first answers) of the
    // critical messages whose changes this copy holds, the same table as the inbox's.
    this.db.exec(`CREATE TABLE IF NOT EXISTS inbox (
      sender TEXT NOT NULL, mid TEXT NOT NULL, result TEXT NOT NULL, applied_at INTEGER NOT NULL,
      PRIMARY KEY (sender, mid)
    ) WITHOUT ROWID`);
    this.applied_ = this.db.prepare('INSERT OR REPLACE INTO inbox (sender, mid, result, applied_at) VALUES (?, ?, ?, ?)');
    this.pruneApplied_ = this.db.prepare('DELETE FROM inbox WHERE applied_at < ?');
    this.seen_ = this.db.prepare('SELECT result FROM inbox WHERE sender = ? AND mid = ?');
    this.db.exec('CREATE TABLE IF NOT EXISTS replica_state (one INTEGER PRIMARY KEY CHECK (one = 1), lsn INTEGER NOT NULL, log_id TEXT, snapshot TEXT)');
    // -1 until a first snapshot ends: a new copy holds nothing yet, not even "nothing since 0" (the home may have had users before it logged).
    this.db.exec('INSERT OR IGNORE INTO replica_state (one, lsn) VALUES (1, -1)');
    this.held_ = this.db.prepare('SELECT lsn, log_id AS logId, snapshot FROM replica_state');
    this.setHeld_ = this.db.prepare('UPDATE replica_state SET lsn = ?, log_id = ?, snapshot = NULL');
    this.begin_ = this.db.prepare('UPDATE replica_state SET lsn = -1, log_id = NULL, snapshot = ?');
  }

  /** What this copy holds of its home's log. */
  held(): ReplicaAnswer {
    const { lsn, logId } = this.state();
    return { lsn, logId };
  }

  /** Where the home's users moved (a promoted backup answers for them as the home would). */
  get moves(): MovedUsers {
    return this.writer.moves;
  }

  /** Holds a whole copy of some run of the home's log (not new, not in the middle of a snapshot). */
  whole(): boolean {
    return this.state().lsn >= 0;
  }

  /** Applies entries numbered from+1, from+2, ... of log `logId` in one transaction, if they follow what is held. */
  apply(logId: string, from: number, entries: HomeEntry[]): ReplicaAnswer {
    const held = this.held();
    if (held.logId !== logId || held.lsn !== from || from < 0) return held;
    this.transaction(() => {
      for (const e of entries) this.applyEntry(e);
      this.setHeld_.run(from + entries.length, logId);
    });
    return { lsn: from + entries.length, logId };
  }

  /**
   * A snapshot of the home, in parts with one id: `begin` empties this copy (it holds -1 until
   * `end`), `rows` applies entries as they are, `end` says at which number of which log the
   * snapshot started: the home then sends its log from there, and entries it read already are
   * applied again, to the same rows.
   */
  snapshot(part: 'begin' | 'rows' | 'end', id: string, logId: string, entries: HomeEntry[], lsn: number): ReplicaAnswer {
    this.transaction(() => {
      if (part === 'begin') {
        // A late beginning of an earlier snapshot must not empty a copy that holds more of the same log.
        const held = this.state();
        if (held.logId === logId && held.lsn > lsn) throw new Error(`a snapshot from ${lsn} of log ${logId}, which this copy holds to ${held.lsn}`);
        this.writer.empty();
        this.begin_.run(id);
      } else if (this.state().snapshot !== id) {
        throw new Error(`snapshot ${id} is not the one under way`);
      }
      for (const e of entries) this.applyEntry(e);
      if (part === 'end') this.setHeld_.run(lsn, logId);
    });
    return this.held();
  }

  /**
   * A critical write to the home's users taken here while this node holds the home's lease
   * (promoted, issue 27): applied once per message id, the id and first answer recorded with
   * the effect in one transaction (the home's own applied ids are here already, so a message it
   * applied before it died is answered, not applied again).
   */
  applyOnce(sender: string, mid: string, work: () => unknown): unknown {
    let out: unknown = null;
    this.transaction(() => {
      const seen = this.seen_.get(sender, mid) as { result: string } | undefined;
      if (seen) return void (out = JSON.parse(seen.result));
      out = work() ?? null;
      this.applied_.run(sender, mid, JSON.stringify(out), Date.now());
    });
    return out;
  }

  /** The database file, for a snapshot of it (handing the home's writes back). */
  get database(): DatabaseSync {
    return this.db;
  }

  /** This copy no longer follows the home's log (it took writes of its own, then handed them back): the home sends it whole again. */
  forget(): void {
    this.db.exec('UPDATE replica_state SET lsn = -1, log_id = NULL, snapshot = NULL');
  }

  /** Forgets applied ids older than `before`, as the home's inbox does (a sender re-sends only until its ack arrives). */
  pruneApplied(before: number): number {
    return Number(this.pruneApplied_.run(before).changes);
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }

  private state(): { lsn: number; logId: string | null; snapshot: string | null } {
    return this.held_.get() as { lsn: number; logId: string | null; snapshot: string | null };
  }

  private applyEntry(e: HomeEntry): void {
    this.writer.apply(e);
  }

  private transaction(work: () => void): void {
    inTransaction(this.db, work, 'BEGIN IMMEDIATE');
  }
}
