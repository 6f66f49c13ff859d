import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { HomeEntry } from '../../homes/home-log.ts';
import type { HistoryEntry, HomeRecords } from './home-store.ts';

/** Where a home's changes go as they are made (its HomeLog), for its backup. */
export interface ChangeSink {
  append(entry: HomeEntry): void;
}

/**
 * A user's records on her home node: namespaced key/value data, and per namespace an
 * append-only history of stored transactions (seed 000's store / restore of submissions).
 * Callers run writes inside a transaction (the critical inbox's), so effect and message
 * id commit together; each change is also handed to `changes` (the home's log, for its
 * backup) in that transaction. The row methods (putRow, delRow, historyRow) set rows as a
 * change says: what a backup applies.
 */
export class RecordStore implements HomeRecords {
  private readonly put_: StatementSync;
  private readonly get_: StatementSync;
  private readonly del_: StatementSync;
  private readonly keys_: StatementSync;
  private readonly dumpNs_: StatementSync;
  private readonly dumpAll_: StatementSync;
  private readonly store_: StatementSync;
  private readonly restore_: StatementSync;
  private readonly history_: StatementSync;
  private readonly userRows_: StatementSync;
  private readonly userHistory_: StatementSync;
  private readonly dropRecords_: StatementSync;
  private readonly dropHistory_: StatementSync;
  private readonly changes: ChangeSink | undefined;

  constructor(db: DatabaseSync, changes?: ChangeSink) {
    this.changes = changes;
    db.exec(`
      CREATE TABLE IF NOT EXISTS records (
        domain TEXT NOT NULL, user TEXT NOT NULL, ns TEXT NOT NULL, key TEXT NOT NULL,
        value TEXT NOT NULL, updated INTEGER NOT NULL,
        PRIMARY KEY (domain, user, ns, key)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS history (
        domain TEXT NOT NULL, user TEXT NOT NULL, ns TEXT NOT NULL, seq INTEGER NOT NULL,
        at INTEGER NOT NULL, data TEXT NOT NULL,
        PRIMARY KEY (domain, user, ns, seq)
      ) WITHOUT ROWID;
    `);
    this.put_ = db.prepare(`INSERT INTO records (domain, user, ns, key, value, updated) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (domain, user, ns, key) DO UPDATE SET value = excluded.value, updated = excluded.updated`);
    this.get_ = db.prepare('SELECT value FROM records WHERE domain = ? AND user = ? AND ns = ? AND key = ?');
    this.del_ = db.prepare('DELETE FROM records WHERE domain = ? AND user = ? AND ns = ? AND key = ?');
    this.keys_ = db.prepare('SELECT key FROM records WHERE domain = ? AND user = ? AND ns = ? ORDER BY key');
    this.dumpNs_ = db.prepare('SELECT ns, key, value FROM records WHERE domain = ? AND user = ? AND ns = ? ORDER BY key');
    this.dumpAll_ = db.prepare('SELECT ns, key, value FROM records WHERE domain = ? AND user = ? ORDER BY ns, key');
    this.store_ = db.prepare(`INSERT INTO history (domain, user, ns, seq, at, data)
      SELECT ?1, ?2, ?3, COALESCE(MAX(seq), 0) + 1, ?4, ?5 FROM history WHERE domain = ?1 AND user = ?2 AND ns = ?3 RETURNING seq`);
    this.restore_ = db.prepare('SELECT seq, at, data FROM history WHERE domain = ? AND user = ? AND ns = ? AND seq > ? ORDER BY seq LIMIT ?');
    this.history_ = db.prepare('INSERT OR REPLACE INTO history (domain, user, ns, seq, at, data) VALUES (?, ?, ?, ?, ?, ?)');
    this.userRows_ = db.prepare('SELECT ns, key, value, updated FROM records WHERE domain = ? AND user = ? ORDER BY ns, key');
    this.userHistory_ = db.prepare('SELECT ns, seq, at, data FROM history WHERE domain = ? AND user = ? ORDER BY ns, seq');
    this.dropRecords_ = db.prepare('DELETE FROM records WHERE domain = ? AND user = ?');
    this.dropHistory_ = db.prepare('DELETE FROM history WHERE domain = ? AND user = ?');
  }

  put(domain: string, user: string, ns: string, values: Record<string, unknown>): number {
    const now = Date.now();
    for (const [key, value] of Object.entries(values)) {
      const json = JSON.stringify(value);
      this.putRow(domain, user, ns, key, json, now);
      this.changes?.append(['put', domain, user, ns, key, value, now]);
    }
    return Object.keys(values).length;
  }

  putRow(domain: string, user: string, ns: string, key: string, valueJson: string, updated: number): void {
    this.put_.run(domain, user, ns, key, valueJson, updated);
  }

  get(domain: string, user: string, ns: string, keys: string[]): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const key of keys) {
      const row = this.get_.get(domain, user, ns, key) as { value: string } | undefined;
      if (row) out[key] = JSON.parse(row.value);
    }
    return out;
  }

  del(domain: string, user: string, ns: string, keys: string[]): number {
    let n = 0;
    for (const key of keys) {
      if (!this.delRow(domain, user, ns, key)) continue;
      n++;
      this.changes?.append(['del', domain, user, ns, key]);
    }
    return n;
  }

  /** False when there was no such key. */
  delRow(domain: string, user: string, ns: string, key: string): boolean {
    return Number(this.del_.run(domain, user, ns, key).changes) === 1;
  }

  keys(domain: string, user: string, ns: string): string[] {
    return (this.keys_.all(domain, user, ns) as { key: string }[]).map((r) => r.key);
  }

  /** Every namespace (or one) as { ns: { key: value } }. */
  dump(domain: string, user: string, ns?: string): Record<string, Record<string, unknown>> {
    const rows = (ns === undefined ? this.dumpAll_.all(domain, user) : this.dumpNs_.all(domain, user, ns)) as { ns: string; key: string; value: string }[];
    const out: Record<string, Record<string, unknown>> = {};
    for (const r of rows) (out[r.ns] ??= {})[r.key] = JSON.parse(r.value);
    return out;
  }

  store(domain: string, user: string, ns: string, data: unknown): number {
    const at = Date.now();
    const json = JSON.stringify(data);
    const { seq } = this.store_.get(domain, user, ns, at, json) as { seq: number };
    this.changes?.append(['history', domain, user, ns, seq, at, data]);
    return seq;
  }

  historyRow(domain: string, user: string, ns: string, seq: number, at: number, dataJson: string): void {
    this.history_.run(domain, user, ns, seq, at, dataJson);
  }

  restore(domain: string, user: string, ns: string, after: number, limit: number): HistoryEntry[] {
    return (this.restore_.all(domain, user, ns, after, limit) as { seq: number; at: number; data: string }[]).map((r) => ({ seq: r.seq, at: r.at, data: JSON.parse(r.data) }));
  }

  /** Every row of hers (records and history) as the entries that set them: what a move copies. */
  *userEntries(domain: string, user: string): Generator<HomeEntry> {
    for (const r of this.userRows_.iterate(domain, user) as Iterable<{ ns: string; key: string; value: string; updated: number }>) yield ['put', domain, user, r.ns, r.key, JSON.parse(r.value), r.updated];
    for (const r of this.userHistory_.iterate(domain, user) as Iterable<{ ns: string; seq: number; at: number; data: string }>) yield ['history', domain, user, r.ns, r.seq, r.at, JSON.parse(r.data)];
  }

  /** Her records and history go (she moved to another home). */
  deleteUserRows(domain: string, user: string): void {
    this.dropRecords_.run(domain, user);
    this.dropHistory_.run(domain, user);
  }
}
