import type { DatabaseSync, StatementSync } from 'node:sqlite';

export interface JournalEntry {
  seq: number;
  from: string;
  at: number;
  entry: unknown;
}

/**
 * Named append-only streams in the node's database: the simplest durable effect a
 * critical message can have (an event log, an audit trail), and what the delivery
 * tests read back to check that nothing was lost, repeated or reordered.
 */
export class Journal {
  private readonly append_: StatementSync;
  private readonly read_: StatementSync;
  private readonly streams_: StatementSync;

  constructor(db: DatabaseSync) {
    db.exec(`CREATE TABLE IF NOT EXISTS journal (
      stream TEXT NOT NULL,
      seq INTEGER NOT NULL,
      from_node TEXT NOT NULL,
      at INTEGER NOT NULL,
      entry TEXT NOT NULL,
      PRIMARY KEY (stream, seq)
    ) WITHOUT ROWID`);
    this.append_ = db.prepare(`INSERT INTO journal (stream, seq, from_node, at, entry)
      SELECT ?1, COALESCE(MAX(seq), 0) + 1, ?2, ?3, ?4 FROM journal WHERE stream = ?1 RETURNING seq`);
    this.read_ = db.prepare('SELECT seq, from_node, at, entry FROM journal WHERE stream = ? AND seq > ? ORDER BY seq LIMIT ?');
    this.streams_ = db.prepare('SELECT stream, COUNT(*) AS entries, MAX(seq) AS last FROM journal GROUP BY stream ORDER BY stream');
  }

  append(stream: string, from: string, entry: unknown): number {
    const row = this.append_.get(stream, from, Date.now(), JSON.stringify(entry)) as { seq: number };
    return row.seq;
  }

  read(stream: string, after: number, limit: number): JournalEntry[] {
    const rows = this.read_.all(stream, after, limit) as { seq: number; from_node: string; at: number; entry: string }[];
    return rows.map((r) => ({ seq: r.seq, from: r.from_node, at: r.at, entry: JSON.parse(r.entry) }));
  }

  streams(): { stream: string; entries: number; last: number }[] {
    return this.streams_.all() as { stream: string; entries: number; last: number }[];
  }
}
