import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import type { HomeEntry } from './home-log.ts';

type Row = Record<string, SQLInputValue>;

/** A table read in key order, a page after the last key: its rows as the entries that set them. */
interface Source {
  page: StatementSync;
  /** The columns of its key, in order: the next page starts after the last row's. */
  key: string[];
  entry: (r: Row) => HomeEntry;
}

/**
 * A home's users and records read as log entries, a page at a time in key order (each page a
 * read of its own: writes go on between pages, and the log sent after the snapshot covers them).
 * It reads the tables UserStore and RecordStore make, and the critical inbox's (made before it).
 */
export class SnapshotReader {
  private readonly sources: Source[];

  constructor(db: DatabaseSync) {
    const source = (table: string, key: string[], columns: string, entry: Source['entry'], only = 'true'): Source => ({
      page: db.prepare(`SELECT ${columns} FROM ${table} WHERE ${only} AND (${key.join(', ')}) > (${key.map(() => '?').join(', ')}) ORDER BY ${key.join(', ')} LIMIT ?`),
      key,
      entry,
    });
    const exists = (table: string) => db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table) !== undefined;
    // A node's inbox marks the messages that changed users or records; a backup's copy keeps only those.
    const onlyHome = (db.prepare('SELECT name FROM pragma_table_info(?)').all('inbox') as { name: string }[]).some((c) => c.name === 'home') ? 'home = 1' : 'true';
    this.sources = [
      source('users', ['domain', 'name'], 'domain, name, password, created', (r) => ['user', String(r.domain), String(r.name), String(r.password), Number(r.created)]),
      source('records', ['domain', 'user', 'ns', 'key'], 'domain, user, ns, key, value, updated', (r) => ['put', String(r.domain), String(r.user), String(r.ns), String(r.key), JSON.parse(String(r.value)), Number(r.updated)]),
      source('history', ['domain', 'user', 'ns', 'seq'], 'domain, user, ns, seq, at, data', (r) => ['history', String(r.domain), String(r.user), String(r.ns), Number(r.seq), Number(r.at), JSON.parse(String(r.data))]),
      // Where its users moved (a table made with the home's own, but a store from before moves had none).
      ...(exists('moved_users') ? [source('moved_users', ['domain', 'user'], 'domain, user, to_node, state, at', (r) => ['moved', String(r.domain), String(r.user), String(r.to_node), String(r.state) as 'leaving' | 'gone', Number(r.at)])] : []),
      // The inbox's applied ids of the messages that changed users or records, as the log sends them (a node has an inbox, a bare home store need not).
      ...(exists('inbox') ? [source('inbox', ['sender', 'mid'], 'sender, mid, result, applied_at', (r) => ['applied', String(r.sender), String(r.mid), JSON.parse(String(r.result)), Number(r.applied_at)], onlyHome)] : []),
    ];
  }

  /** Every row as entries, in pages of at most `limit` entries and about `maxChars` of JSON. */
  *pages(limit: number, maxChars: number): Generator<HomeEntry[]> {
    let page: HomeEntry[] = [];
    let chars = 0;
    for (const { page: read, key, entry } of this.sources) {
      let after: SQLInputValue[] = key.map(() => '');
      for (;;) {
        const rows = read.all(...after, limit) as Row[];
        for (const r of rows) {
          const e = entry(r);
          page.push(e);
          chars += JSON.stringify(e).length;
          if (page.length >= limit || chars >= maxChars) {
            yield page;
            page = [];
            chars = 0;
          }
        }
        if (rows.length < limit) break;
        const last = rows[rows.length - 1];
        after = key.map((k) => last[k]);
      }
    }
    if (page.length) yield page;
  }
}
