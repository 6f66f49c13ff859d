import { randomBytes } from 'node:crypto';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { crc32 } from 'node:zlib';

/** A critical message waiting on the sending node for its peer's acknowledgement. */
export interface OutboxEntry {
  seq: number;
  /** Unique across the cluster: the receiver's key for applying it once. */
  mid: string;
  peer: string;
  cmd: string;
  args: unknown;
  created: number;
}

/** A critical message a peer rejected for good, kept with the reason. */
export interface DeadLetter extends OutboxEntry {
  failedAt: number;
  code: string;
  reason: string;
}

/** A queued row whose checksum or content is wrong: it is never sent. */
export interface CorruptRow {
  seq: number;
  peer: string;
  why: string;
}

interface OutboxRow {
  seq: number;
  peer: string;
  cmd: string;
  args: string;
  created: number;
  crc: number;
}

/** Sender's incarnation and outbox sequence number of a message id made by mid(); else undefined. */
export function parseMid(mid: string): { incarnation: string; seq: number } | undefined {
  const m = /^([0-9a-f]{12})\.(\d{1,15})$/.exec(mid);
  return m ? { incarnation: m[1], seq: Number(m[2]) } : undefined;
}

function checksum(peer: string, cmd: string, args: string, created: number): number {
  return crc32(`${peer}\n${cmd}\n${created}\n${args}`);
}

/**
 * The durable FIFO of critical messages, one order per peer, in the node's database.
 * Each row carries a CRC-32 of its content so a damaged row is found on load instead
 * of being sent. Message ids are `<incarnation>.<seq>`: the incarnation is drawn when the
 * database is created, so a node whose disk was wiped never reuses an id.
 */
export class OutboxStore {
  readonly incarnation: string;
  private readonly insert_: StatementSync;
  private readonly delete_: StatementSync;
  private readonly get_: StatementSync;
  private readonly all_: StatementSync;
  private readonly page_: StatementSync;
  private readonly deadPeer_: StatementSync;
  private readonly deletePeer_: StatementSync;
  private readonly dead_: StatementSync;
  private readonly deadList_: StatementSync;
  private readonly deadGet_: StatementSync;
  private readonly deadDelete_: StatementSync;
  private readonly deadCount_: StatementSync;

  constructor(db: DatabaseSync) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        peer TEXT NOT NULL,
        cmd TEXT NOT NULL,
        args TEXT NOT NULL,
        created INTEGER NOT NULL,
        crc INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS outbox_by_peer ON outbox (peer, seq);
      CREATE TABLE IF NOT EXISTS dead_letters (
        seq INTEGER PRIMARY KEY,
        mid TEXT NOT NULL,
        peer TEXT NOT NULL,
        cmd TEXT NOT NULL,
        args TEXT NOT NULL,
        created INTEGER NOT NULL,
        failed_at INTEGER NOT NULL,
        code TEXT NOT NULL,
        reason TEXT NOT NULL
      );
    `);
    db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('incarnation', ?)").run(randomBytes(6).toString('hex'));
    this.incarnation = (db.prepare("SELECT value FROM meta WHERE key = 'incarnation'").get() as { value: string }).value;
    this.insert_ = db.prepare('INSERT INTO outbox (peer, cmd, args, created, crc) VALUES (?, ?, ?, ?, ?) RETURNING seq');
    this.delete_ = db.prepare('DELETE FROM outbox WHERE seq = ?');
    this.get_ = db.prepare('SELECT seq, peer, cmd, args, created, crc FROM outbox WHERE seq = ?');
    this.all_ = db.prepare('SELECT seq, peer, cmd, args, created, crc FROM outbox ORDER BY seq');
    this.page_ = db.prepare('SELECT seq, peer, cmd, args, created, crc FROM outbox WHERE peer = ? AND seq > ? ORDER BY seq LIMIT ?');
    this.deadPeer_ = db.prepare(`INSERT OR REPLACE INTO dead_letters (seq, mid, peer, cmd, args, created, failed_at, code, reason)
      SELECT seq, ?1 || '.' || seq, peer, cmd, args, created, ?2, ?3, ?4 FROM outbox WHERE peer = ?5`);
    this.deletePeer_ = db.prepare('DELETE FROM outbox WHERE peer = ?');
    this.dead_ = db.prepare('INSERT OR REPLACE INTO dead_letters (seq, mid, peer, cmd, args, created, failed_at, code, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    this.deadList_ = db.prepare('SELECT * FROM dead_letters ORDER BY seq LIMIT ?');
    this.deadGet_ = db.prepare('SELECT * FROM dead_letters WHERE seq = ?');
    this.deadDelete_ = db.prepare('DELETE FROM dead_letters WHERE seq = ?');
    this.deadCount_ = db.prepare('SELECT COUNT(*) AS n FROM dead_letters');
  }

  mid(seq: number): string {
    return `${this.incarnation}.${seq}`;
  }

  /** Call inside a transaction; the entry is durable once it commits. */
  add(peer: string, cmd: string, args: unknown, created = Date.now()): OutboxEntry {
    const text = JSON.stringify(args ?? {});
    const { seq } = this.insert_.get(peer, cmd, text, created, checksum(peer, cmd, text, created)) as { seq: number };
    return { seq, mid: this.mid(seq), peer, cmd, args: args ?? {}, created };
  }

  remove(seq: number): void {
    this.delete_.run(seq);
  }

  /** Removes a row; false when it was gone already (another pass moved it). */
  take(seq: number): boolean {
    return Number(this.delete_.run(seq).changes) === 1;
  }

  /** Up to `limit` of `peer`'s rows after `afterSeq`, in order (keyset paging); damaged rows come back apart. */
  page(peer: string, afterSeq: number, limit: number): { entries: OutboxEntry[]; corrupt: CorruptRow[]; lastSeq: number } {
    const entries: OutboxEntry[] = [];
    const corrupt: CorruptRow[] = [];
    let lastSeq = afterSeq;
    for (const row of this.page_.iterate(peer, afterSeq, limit) as Iterable<OutboxRow>) {
      lastSeq = row.seq;
      const parsed = this.verify(row);
      if (typeof parsed === 'string') corrupt.push({ seq: row.seq, peer, why: parsed });
      else entries.push(parsed);
    }
    return { entries, corrupt, lastSeq };
  }

  /**
   * Checks every queued row without keeping any: sound rows counted per peer, damaged
   * ones listed (their seq and why). One pass at start, in constant memory but for those.
   */
  scan(): { counts: Map<string, number>; corrupt: CorruptRow[] } {
    const counts = new Map<string, number>();
    const corrupt: CorruptRow[] = [];
    for (const row of this.all_.iterate() as Iterable<OutboxRow>) {
      const why = this.verify(row);
      if (typeof why === 'string') corrupt.push({ seq: row.seq, peer: String(row.peer), why });
      else counts.set(why.peer, (counts.get(why.peer) ?? 0) + 1);
    }
    return { counts, corrupt };
  }

  /** Moves every queued message to `peer` to the dead letters at once (a node gone from the host table). */
  buryPeer(peer: string, code: string, reason: string): number {
    this.deadPeer_.run(this.incarnation, Date.now(), code, reason, peer);
    return Number(this.deletePeer_.run(peer).changes);
  }

  /** Moves a queued message to the dead letters with the reason it can never be delivered. */
  bury(seq: number, code: string, reason: string): void {
    const row = this.get_.get(seq) as OutboxRow | undefined;
    if (!row) return;
    this.dead_.run(seq, this.mid(seq), String(row.peer), String(row.cmd), String(row.args), Number(row.created), Date.now(), code, reason);
    this.delete_.run(seq);
  }

  deadLetters(limit = 1000): DeadLetter[] {
    return (this.deadList_.all(limit) as Record<string, unknown>[]).map(toDeadLetter);
  }

  deadCount(): number {
    return Number((this.deadCount_.get() as { n: number }).n);
  }

  /** Takes a dead letter out, to be queued anew at the tail (with a new message id). */
  resurrect(seq: number): DeadLetter | undefined {
    const row = this.deadGet_.get(seq) as Record<string, unknown> | undefined;
    if (!row) return undefined;
    this.deadDelete_.run(seq);
    return toDeadLetter(row);
  }

  private verify(row: OutboxRow): OutboxEntry | string {
    const { seq, peer, cmd, args, created, crc } = row;
    if (typeof peer !== 'string' || typeof cmd !== 'string' || typeof args !== 'string' || typeof created !== 'number') return 'a field has the wrong type';
    if (checksum(peer, cmd, args, created) !== crc) return 'checksum mismatch';
    let value: unknown;
    try {
      value = JSON.parse(args);
    } catch {
      return 'arguments are not valid JSON';
    }
    return { seq, mid: this.mid(seq), peer, cmd, args: value, created };
  }
}

function toDeadLetter(r: Record<string, unknown>): DeadLetter {
  return {
    seq: Number(r.seq),
    mid: String(r.mid),
    peer: String(r.peer),
    cmd: String(r.cmd),
    args: safeParse(String(r.args)),
    created: Number(r.created),
    failedAt: Number(r.failed_at),
    code: String(r.code),
    reason: String(r.reason),
  };
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
