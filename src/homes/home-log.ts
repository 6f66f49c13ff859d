import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { z } from 'zod';
import { domainName, MAX_KEY_BYTES, MAX_VALUE_BYTES, namespace, userName } from '../records/names.ts';

/**
 * One change to a home's users or records, as the rows it leaves (not the command that made
 * it): applied in order at the backup, it leaves the same rows there, and applying it twice
 * leaves them too (a snapshot read while writes went on, then the log from its start).
 */
export type HomeEntry =
  | ['user', domain: string, name: string, passwordHash: string, created: number]
  | ['put', domain: string, user: string, ns: string, key: string, valueJson: string, updated: number]
  | ['del', domain: string, user: string, ns: string, key: string]
  | ['history', domain: string, user: string, ns: string, seq: number, at: number, dataJson: string];

const int = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const key = z.string().min(1).refine((k) => Buffer.byteLength(k) <= MAX_KEY_BYTES, 'a key too long');
const json = z.string().max(MAX_VALUE_BYTES); // a value's JSON, as the home stored it
/** An entry from a peer: checked as any input (a peer's bug must not write rows no home could). */
export const homeEntrySchema = z.union([
  z.tuple([z.literal('user'), domainName, userName, z.string().min(1).max(512), int]),
  z.tuple([z.literal('put'), domainName, userName, namespace, key, json, int]),
  z.tuple([z.literal('del'), domainName, userName, namespace, key]),
  z.tuple([z.literal('history'), domainName, userName, namespace, int.min(1), int, json]),
]);

/** Log entries kept for a backup that is behind; past this, the oldest go and it gets a snapshot instead. */
export const MAX_LOG_ENTRIES = 100_000;

/**
 * A home's change log, in the node's database: each change to its users and records is
 * appended in the transaction that makes it (the stores call append), numbered by a log
 * sequence number that only grows. The backup's shipper (home-shipper.ts) sends it in order
 * and drops what the backup has acknowledged. Off (append does nothing) on a node without a
 * backup.
 */
export class HomeLog {
  private readonly on: boolean;
  private readonly insert_: StatementSync;
  private readonly since_: StatementSync;
  private readonly last_: StatementSync;
  private readonly first_: StatementSync;
  private readonly drop_: StatementSync;
  private readonly count_: StatementSync;

  constructor(db: DatabaseSync, on: boolean) {
    this.on = on;
    // AUTOINCREMENT: numbers are never reused, even once every row up to the last is dropped.
    db.exec('CREATE TABLE IF NOT EXISTS home_log (lsn INTEGER PRIMARY KEY AUTOINCREMENT, entry TEXT NOT NULL)');
    this.insert_ = db.prepare('INSERT INTO home_log (entry) VALUES (?)');
    this.since_ = db.prepare('SELECT lsn, entry FROM home_log WHERE lsn > ? ORDER BY lsn LIMIT ?');
    this.last_ = db.prepare("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'home_log'), 0) AS lsn");
    this.first_ = db.prepare('SELECT min(lsn) AS lsn FROM home_log');
    this.drop_ = db.prepare('DELETE FROM home_log WHERE lsn <= ?');
    this.count_ = db.prepare('SELECT count(*) AS n FROM home_log');
  }

  get enabled(): boolean {
    return this.on;
  }

  append(entry: HomeEntry): void {
    if (this.on) this.insert_.run(JSON.stringify(entry));
  }

  /** The newest committed entry's number (0: none yet). Outside a transaction, what is durable. */
  last(): number {
    return (this.last_.get() as { lsn: number }).lsn;
  }

  /** The oldest entry still kept, if any. */
  first(): number | undefined {
    return ((this.first_.get() as { lsn: number | null }).lsn ?? undefined) as number | undefined;
  }

  /** Entries after `lsn`, oldest first, up to `limit` of them and about `maxChars` of JSON. */
  since(lsn: number, limit: number, maxChars: number): { lsn: number; entry: HomeEntry }[] {
    const out: { lsn: number; entry: HomeEntry }[] = [];
    let chars = 0;
    for (const row of this.since_.iterate(lsn, limit) as Iterable<{ lsn: number; entry: string }>) {
      if (out.length && chars + row.entry.length > maxChars) break;
      chars += row.entry.length;
      out.push({ lsn: row.lsn, entry: JSON.parse(row.entry) as HomeEntry });
    }
    return out;
  }

  /** Drops entries up to `lsn` (the backup has them), and past MAX_LOG_ENTRIES the oldest. */
  drop(lsn: number): void {
    this.drop_.run(lsn);
    const { n } = this.count_.get() as { n: number };
    if (n > MAX_LOG_ENTRIES) this.drop_.run(this.last() - MAX_LOG_ENTRIES);
  }
}
