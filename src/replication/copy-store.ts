import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { inTransaction } from '../store/database.ts';
import type { VersionMeta } from './published-store.ts';

export interface Copy extends VersionMeta {
  fetchedAt: number;
}

export interface Subscription {
  url: string;
  home: string;
  gen: number;
  /** 1 while this node holds a subscription at the home node (as far as it knows). */
  subscribed: number;
  /** ms epoch of the last read of any of its copies (flushed from memory every few seconds). */
  lastRead: number;
  /** A newer version announced by the home node and not fetched yet (0: none). */
  pending: number;
  /** Its metadata as the notice announced it (JSON), or null. */
  pendingMeta: string | null;
  /** The newest version the home has named (at subscribe, or in a notice). */
  newest: number;
}

/**
 * The copy side (seed 000, D1b, D7, U2-U6): copies of other nodes' resources held here, and
 * this node's subscriptions. A copy row exists only once its bytes are complete and checked.
 */
export class CopyStore {
  private readonly db: DatabaseSync;
  private readonly copyQ: StatementSync;
  private readonly newestCopyQ: StatementSync;
  private readonly putCopyQ: StatementSync;
  private readonly dropOlderQ: StatementSync;
  private readonly dropAllQ: StatementSync;
  private readonly subQ: StatementSync;
  private readonly putSubQ: StatementSync;
  private readonly readQ: StatementSync;
  private readonly pendingQ: StatementSync;
  private readonly endSubQ: StatementSync;
  private readonly genQ: StatementSync;
  private readonly newestQ: StatementSync;
  private readonly countResourcesQ: StatementSync;
  private readonly recentQ: StatementSync;

  constructor(db: DatabaseSync) {
    this.db = db;
    db.exec(`CREATE TABLE IF NOT EXISTS res_copies (
      url TEXT NOT NULL, version INTEGER NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL,
      content_type TEXT NOT NULL, published_at INTEGER NOT NULL, access TEXT NOT NULL, fetched_at INTEGER NOT NULL,
      PRIMARY KEY (url, version)
    ) WITHOUT ROWID`);
    db.exec(`CREATE TABLE IF NOT EXISTS res_subscriptions (
      url TEXT PRIMARY KEY, home TEXT NOT NULL, gen INTEGER NOT NULL, subscribed INTEGER NOT NULL,
      last_read INTEGER NOT NULL, pending INTEGER NOT NULL, pending_meta TEXT, newest INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID`);
    const cols = 'url, version, digest, size, content_type AS contentType, published_at AS publishedAt, access, fetched_at AS fetchedAt';
    this.copyQ = db.prepare(`SELECT ${cols} FROM res_copies WHERE url = ? AND version = ?`);
    this.newestCopyQ = db.prepare(`SELECT ${cols} FROM res_copies WHERE url = ? ORDER BY version DESC LIMIT 1`);
    this.putCopyQ = db.prepare(`INSERT OR REPLACE INTO res_copies (url, version, digest, size, content_type, published_at, access, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
    this.dropOlderQ = db.prepare('DELETE FROM res_copies WHERE url = ? AND version < ? RETURNING digest');
    this.dropAllQ = db.prepare('DELETE FROM res_copies WHERE url = ? RETURNING digest');
    const subCols = 'url, home, gen, subscribed, last_read AS lastRead, pending, pending_meta AS pendingMeta, newest';
    this.subQ = db.prepare(`SELECT ${subCols} FROM res_subscriptions WHERE url = ?`);
    this.putSubQ = db.prepare(`INSERT INTO res_subscriptions (url, home, gen, subscribed, last_read, pending, newest) VALUES (?, ?, ?, 1, 0, 0, ?)
      ON CONFLICT (url) DO UPDATE SET home = excluded.home, gen = excluded.gen, subscribed = 1, newest = max(newest, excluded.newest)`);
    this.newestQ = db.prepare('UPDATE res_subscriptions SET newest = max(newest, ?) WHERE url = ?');
    this.countResourcesQ = db.prepare('SELECT count(DISTINCT url) AS resources FROM res_copies');
    this.recentQ = db.prepare('SELECT url, max(version) AS version FROM res_copies GROUP BY url ORDER BY max(fetched_at) DESC, url LIMIT ?');
    this.readQ = db.prepare('UPDATE res_subscriptions SET last_read = max(last_read, ?) WHERE url = ?');
    this.pendingQ = db.prepare('UPDATE res_subscriptions SET pending = ?, pending_meta = ? WHERE url = ?');
    this.endSubQ = db.prepare(`INSERT INTO res_subscriptions (url, home, gen, subscribed, last_read, pending) VALUES (?, ?, ?, 0, 0, 0)
      ON CONFLICT (url) DO UPDATE SET subscribed = 0, pending = 0, pending_meta = NULL, gen = excluded.gen`);
    this.genQ = db.prepare('SELECT coalesce(max(gen), 0) AS gen FROM res_subscriptions');
  }

  copy(url: string, version?: number): Copy | undefined {
    return (version === undefined ? this.newestCopyQ.get(url) : this.copyQ.get(url, version)) as Copy | undefined;
  }

  /** Records a complete, checked copy; older versions of it go (their digests returned, to delete if unused). */
  put(meta: VersionMeta, dropOlder: boolean): string[] {
    this.putCopyQ.run(meta.url, meta.version, meta.digest, meta.size, meta.contentType, meta.publishedAt, meta.access, Date.now());
    return dropOlder ? (this.dropOlderQ.all(meta.url, meta.version) as { digest: string }[]).map((r) => r.digest) : [];
  }

  /** Drops every copy of `url` (U3a); their digests returned. */
  drop(url: string): string[] {
    return (this.dropAllQ.all(url) as { digest: string }[]).map((r) => r.digest);
  }

  subscription(url: string): Subscription | undefined {
    return this.subQ.get(url) as Subscription | undefined;
  }

  /** A new subscription counter: larger than any this node has used. */
  nextGen(): number {
    return (this.genQ.get() as { gen: number }).gen + 1;
  }

  subscribed(url: string, home: string, gen: number, newest: number): void {
    this.putSubQ.run(url, home, gen, newest);
  }

  newest(url: string, version: number): void {
    this.newestQ.run(version, url);
  }

  /** This node no longer subscribes to `url` at `home` (or never did): `gen` orders it after every earlier subscribe. */
  ended(url: string, home: string, gen: number): void {
    this.endSubQ.run(url, home, gen);
  }

  /** Last reads, in one transaction (one commit however many copies were read). */
  readAll(reads: Map<string, number>): void {
    inTransaction(this.db, () => {
      for (const [url, at] of reads) this.readQ.run(at, url);
    });
  }

  /** The newer version the home announced (fetched next), or none (null). */
  setPending(url: string, meta: VersionMeta | null): void {
    this.pendingQ.run(meta?.version ?? 0, meta ? JSON.stringify(meta) : null, url);
  }

  pendingList(): Subscription[] {
    return this.db.prepare('SELECT url, home, gen, subscribed, last_read AS lastRead, pending, pending_meta AS pendingMeta FROM res_subscriptions WHERE pending > 0').all() as unknown as Subscription[];
  }

  /** Every copy, newest version first, with its subscription (for `cohort resources`). */
  list(limit = 10_000): (Copy & { lastRead: number; subscribed: number; home: string })[] {
    return this.db.prepare(`SELECT c.url AS url, c.version AS version, c.digest AS digest, c.size AS size, c.content_type AS contentType,
      c.published_at AS publishedAt, c.access AS access, c.fetched_at AS fetchedAt, coalesce(s.last_read, 0) AS lastRead,
      coalesce(s.subscribed, 0) AS subscribed, coalesce(s.home, '') AS home
      FROM res_copies c LEFT JOIN res_subscriptions s ON s.url = c.url ORDER BY c.url, c.version DESC LIMIT ?`).all(limit) as never;
  }

  /** For dashboards: how many resources are copied here, and the `limit` last fetched (newest version). */
  summary(limit: number): { resources: number; recent: { url: string; version: number }[] } {
    const { resources } = this.countResourcesQ.get() as { resources: number };
    const recent = this.recentQ.all(limit) as { url: string; version: number }[];
    return { resources, recent };
  }

  /** Copies whose file is not there (a crash, a disk fault, a hand): dropped, so the next read copies them again. */
  dropMissing(exists: (digest: string) => boolean): string[] {
    const missing = (this.db.prepare('SELECT DISTINCT digest FROM res_copies').all() as { digest: string }[]).map((r) => r.digest).filter((d) => !exists(d));
    const drop = this.db.prepare('DELETE FROM res_copies WHERE digest = ? RETURNING url');
    return missing.flatMap((d) => (drop.all(d) as { url: string }[]).map((r) => r.url));
  }

  holds(digest: string): boolean {
    return this.db.prepare('SELECT 1 FROM res_copies WHERE digest = ? LIMIT 1').get(digest) !== undefined;
  }

  /** Bytes of every copy held here (each row its size; for the node's copy budget). */
  bytes(): number {
    return (this.db.prepare('SELECT coalesce(sum(size), 0) AS bytes FROM res_copies').get() as { bytes: number }).bytes;
  }

  /** Copied resources, least recently read first (a copy counts as read when it was fetched), at most `limit`. */
  leastRecentlyRead(limit: number): { url: string; home: string; bytes: number; lastRead: number }[] {
    return this.db.prepare(`SELECT c.url AS url, coalesce(s.home, '') AS home, sum(c.size) AS bytes,
      max(coalesce(s.last_read, 0), max(c.fetched_at)) AS lastRead
      FROM res_copies c LEFT JOIN res_subscriptions s ON s.url = c.url GROUP BY c.url ORDER BY lastRead, c.url LIMIT ?`).all(limit) as never;
  }
}
