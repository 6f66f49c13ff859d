import { randomBytes } from 'node:crypto';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { z } from 'zod';
import { domainName, MAX_KEYS_PER_CALL, namespace, recordKey, recordValue, userName } from '../records/names.ts';

/**
 * One change to a home's users and records, as the rows it leaves (not the command that made
 * it): applied in order at the backup, it leaves the same rows there, and applying it twice
 * leaves them too (a snapshot read while writes went on, then the log from its start). Values
 * travel as values (not as their JSON text inside JSON), so an entry is no larger than the
 * command that made it.
 */
export type HomeEntry =
  | ['user', domain: string, name: string, passwordHash: string, created: number]
  | ['put', domain: string, user: string, ns: string, key: string, value: unknown, updated: number]
  | ['del', domain: string, user: string, ns: string, key: string]
  | ['history', domain: string, user: string, ns: string, seq: number, at: number, data: unknown]
  // A critical message whose command changed the home's users or records: its id and first answer,
  // as the inbox keeps them (a sender that sends it again is answered with it, not applied again).
  | ['applied', sender: string, mid: string, result: unknown, at: number]
  // A user moving away (issue 28): 'leaving' while her rows are copied to `to`, 'gone' once `to` holds them (her rows go here),
  // 'here' once she lives here again (a mark of an earlier move away goes).
  | ['moved', domain: string, user: string, to: string, state: 'leaving' | 'gone' | 'here', at: number];

/** The first entry that sets a row of another domain than `domain` (a home's users are of its own domain), if any. */
export function entryOfOtherDomain(entries: HomeEntry[], domain: string): HomeEntry | undefined {
  return entries.find((e) => e[0] !== 'applied' && e[1] !== domain);
}

/** Entries one critical message's job leaves at most: a put of as many keys as a call may carry, and its applied id. */
export const MAX_JOB_ENTRIES = MAX_KEYS_PER_CALL + 1;

const int = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
/** Who sent an applied message: a node id, or `<node>@<home>` for a home's lane (names of at most 64 characters). */
const MAX_SENDER = 64 + 1 + 64;
/** An entry from a peer: checked as the record commands check their arguments (a peer's bug must not write rows no home could). */
export const homeEntrySchema = z.union([
  z.tuple([z.literal('user'), domainName, userName, z.string().regex(/^scrypt\$/, 'a password hash').max(512), int]),
  z.tuple([z.literal('put'), domainName, userName, namespace, recordKey, recordValue, int]),
  z.tuple([z.literal('del'), domainName, userName, namespace, recordKey]),
  z.tuple([z.literal('history'), domainName, userName, namespace, int.min(1), int, recordValue]),
  // What the inbox took (a link's sender and message id are 1-64 characters; any answer of a command).
  z.tuple([z.literal('moved'), domainName, userName, z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/, 'a node id'), z.enum(['leaving', 'gone', 'here']), int]),
  z.tuple([z.literal('applied'), z.string().min(1).max(MAX_SENDER), z.string().min(1).max(64), z.unknown().refine((v) => v !== undefined, 'a result is required'), int]),
]);

/** An entry as the log keeps it: its number, and the critical message's job it belongs to (0: none). */
export interface LoggedEntry {
  lsn: number;
  job: number;
  entry: HomeEntry;
}

/** Log kept for a backup that is behind, in entries and in bytes; past either, the oldest go and it gets a snapshot instead. */
export const MAX_LOG_ENTRIES = 100_000;
export const MAX_LOG_BYTES = 256 * 1024 * 1024;

/**
 * A home's change log, in the node's database: each change to its users and records is
 * appended in the transaction that makes it (the stores call append), numbered by a log
 * sequence number that only grows. The backup's shipper (home-shipper.ts) sends it in order
 * and drops what the backup has acknowledged. Off (append does nothing) on a node without a
 * backup. Each run of logging has an id, new when the log starts and when it comes back on
 * after being off: a backup's copy made from another id than the current one missed what was
 * not logged, and one made from an id this home never had is not a copy of this home's history.
 */
export class HomeLog {
  /** This log's id (its current run of logging). */
  get id(): string {
    return this.id_;
  }
  private id_: string;
  private readonly db: DatabaseSync;
  /** Entries appended by this process: a transaction that added some waits for the backup. */
  appended = 0;
  private readonly on: boolean;
  private readonly bounds: { entries: number; bytes: number };
  private readonly insert_: StatementSync;
  private readonly since_: StatementSync;
  private readonly last_: StatementSync;
  private readonly first_: StatementSync;
  private readonly drop_: StatementSync;
  private readonly size_: StatementSync;
  private readonly known_: StatementSync;
  private readonly jobOf_: StatementSync;
  private readonly jobEntries_: StatementSync;
  /** The critical message's job under way (its entries go to the backup in one batch), 0 when none. */
  private job = 0;
  private jobs: number;

  constructor(db: DatabaseSync, on: boolean, bounds = { entries: MAX_LOG_ENTRIES, bytes: MAX_LOG_BYTES }) {
    this.on = on;
    this.bounds = bounds;
    // AUTOINCREMENT: numbers are never reused, even once every row up to the last is dropped.
    // The index on (lsn, bytes) lets the bound be checked without reading the entries.
    db.exec(`CREATE TABLE IF NOT EXISTS home_log (lsn INTEGER PRIMARY KEY AUTOINCREMENT, entry TEXT NOT NULL, bytes INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS home_log_bytes ON home_log (lsn, bytes);
      CREATE TABLE IF NOT EXISTS home_log_ids (id TEXT PRIMARY KEY, since INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS home_log_state (one INTEGER PRIMARY KEY CHECK (one = 1), id TEXT NOT NULL, logging INTEGER NOT NULL)`);
    // job: the entries of one critical message's job share it (a log from before it had none).
    if (!(db.prepare('SELECT name FROM pragma_table_info(?)').all('home_log') as { name: string }[]).some((c) => c.name === 'job')) db.exec('ALTER TABLE home_log ADD COLUMN job INTEGER NOT NULL DEFAULT 0');
    this.jobs = (db.prepare('SELECT coalesce(max(job), 0) AS job FROM home_log').get() as { job: number }).job;
    const state = db.prepare('SELECT id, logging FROM home_log_state').get() as { id: string; logging: number } | undefined;
    this.db = db;
    if (state && (state.logging === 1 || !on)) this.id_ = state.id;
    else this.id_ = this.newId();
    db.prepare('INSERT OR REPLACE INTO home_log_state (one, id, logging) VALUES (1, ?, ?)').run(this.id_, on ? 1 : 0);
    this.insert_ = db.prepare('INSERT INTO home_log (entry, bytes, job) VALUES (?, ?, ?)');
    this.since_ = db.prepare('SELECT lsn, job, entry FROM home_log WHERE lsn > ? ORDER BY lsn LIMIT ?');
    this.jobOf_ = db.prepare('SELECT job FROM home_log WHERE lsn = ?');
    this.jobEntries_ = db.prepare('SELECT lsn, job, entry FROM home_log WHERE lsn > ? AND job = ? ORDER BY lsn LIMIT ?');
    this.last_ = db.prepare("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'home_log'), 0) AS lsn");
    this.first_ = db.prepare('SELECT min(lsn) AS lsn FROM home_log');
    this.drop_ = db.prepare('DELETE FROM home_log WHERE lsn <= ?');
    this.size_ = db.prepare('SELECT count(*) AS n, coalesce(sum(bytes), 0) AS bytes FROM home_log');
    this.known_ = db.prepare('SELECT 1 FROM home_log_ids WHERE id = ?');
  }

  private newId(): string {
    const id = randomBytes(9).toString('base64url');
    this.db.prepare('INSERT INTO home_log_ids (id, since) VALUES (?, ?)').run(id, Date.now());
    return id;
  }

  /**
   * A new run of logging, its entries gone: the home's users and records were replaced whole (its
   * promoted backup handed them back, issue 27), so what it logged before describes rows it no
   * longer has. Its backup's copy, of the earlier run, is then sent whole.
   */
  restart(): void {
    this.db.exec('DELETE FROM home_log');
    this.id_ = this.newId();
    this.db.prepare('UPDATE home_log_state SET id = ?').run(this.id_);
  }

  get enabled(): boolean {
    return this.on;
  }

  append(entry: HomeEntry): void {
    if (!this.on) return;
    const json = JSON.stringify(entry);
    this.insert_.run(json, Buffer.byteLength(json), this.job);
    this.appended++;
  }

  /**
   * A critical message's job begins: what it appends, up to endJob(), goes to the backup in one
   * batch, with its applied id, so a backup never holds its effect without its id (or its id
   * without its effect), whatever it holds when its home dies. Synchronous jobs: no other
   * entries come in between.
   */
  beginJob(): void {
    this.job = ++this.jobs;
  }

  endJob(): void {
    this.job = 0;
  }

  /** The job of entry `lsn` (0: none), undefined when there is no such entry (yet). */
  jobOf(lsn: number): number | undefined {
    return (this.jobOf_.get(lsn) as { job: number } | undefined)?.job;
  }

  /** Every entry of `job` after `lsn`, oldest first (at most MAX_JOB_ENTRIES); undefined when they are more than `maxChars` of JSON. */
  jobEntries(job: number, lsn: number, maxChars: number): LoggedEntry[] | undefined {
    const rows = this.jobEntries_.all(lsn, job, MAX_JOB_ENTRIES) as { lsn: number; job: number; entry: string }[];
    if (rows.reduce((n, r) => n + r.entry.length, 0) > maxChars) return undefined;
    return rows.map((r) => ({ lsn: r.lsn, job: r.job, entry: JSON.parse(r.entry) as HomeEntry }));
  }

  /** Was `id` ever this home's log id (a copy made from it is of this home's history)? */
  knows(id: string): boolean {
    return this.known_.get(id) !== undefined;
  }

  /** The newest committed entry's number (0: none yet). Outside a transaction, what is durable. */
  last(): number {
    return (this.last_.get() as { lsn: number }).lsn;
  }

  /** The oldest entry still kept, if any. */
  first(): number | undefined {
    return ((this.first_.get() as { lsn: number | null }).lsn ?? undefined) as number | undefined;
  }

  /** Entries after `lsn`, oldest first, up to `limit` of them and about `maxChars` of JSON (at least one). */
  since(lsn: number, limit: number, maxChars: number): LoggedEntry[] {
    const out: LoggedEntry[] = [];
    let chars = 0;
    for (const row of this.since_.iterate(lsn, limit) as Iterable<{ lsn: number; job: number; entry: string }>) {
      if (out.length && chars + row.entry.length > maxChars) break;
      chars += row.entry.length;
      out.push({ lsn: row.lsn, job: row.job, entry: JSON.parse(row.entry) as HomeEntry });
    }
    return out;
  }

  /** Drops entries up to `lsn` (the backup has them). */
  drop(lsn: number): void {
    this.drop_.run(lsn);
  }

  /**
   * Keeps the log within its bounds (MAX_LOG_ENTRIES, MAX_LOG_BYTES) while its backup is away
   * (an app rewriting one key would otherwise grow it without bound): the oldest go first, and
   * the backup then gets a snapshot. Returns how many went.
   */
  trim(): number {
    const { n, bytes } = this.size_.get() as { n: number; bytes: number };
    const { entries, bytes: maxBytes } = this.bounds;
    if (n <= entries && bytes <= maxBytes) return 0;
    // Over the bytes: the older half goes (entries vary in size; another pass follows if need be).
    const keep = bytes > maxBytes ? Math.floor(Math.min(n, entries) / 2) : entries;
    return Number(this.drop_.run(this.last() - keep).changes);
  }
}
