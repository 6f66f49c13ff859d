import type { DatabaseSync, StatementSync } from 'node:sqlite';

/** One published version of a resource, as its home node keeps it and tells others about it. */
export interface VersionMeta {
  url: string;
  version: number;
  digest: string;
  size: number;
  contentType: string;
  /** ms epoch. */
  publishedAt: number;
  /** 'cluster': any node may copy it; 'domain': the author's domain and the domains that trust it. */
  access: 'cluster' | 'domain';
}

export interface Subscriber {
  url: string;
  node: string;
  /** The subscriber's counter at its subscribe: an older unsubscribe does not undo a newer subscribe. */
  gen: number;
  since: number;
  /** The newest version this subscriber has been sent (as a critical message). */
  notified: number;
}

/**
 * The home side (seed 000, D3c and U1): every version of the resources whose authors live
 * here, and which nodes subscribe to each. In the node's database; every version is kept until
 * its author prunes it (within her quota: author-quota.ts).
 */
export class PublishedStore {
  private readonly db: DatabaseSync;
  private readonly newestQ: StatementSync;
  private readonly versionQ: StatementSync;
  private readonly insertQ: StatementSync;
  private readonly subscribeQ: StatementSync;
  private readonly unsubscribeQ: StatementSync;
  private readonly subscribersQ: StatementSync;
  private readonly isSubscribedQ: StatementSync;
  private readonly notifiedQ: StatementSync;
  private readonly behindQ: StatementSync;
  private readonly countResourcesQ: StatementSync;
  private readonly countSubscribersQ: StatementSync;
  private readonly recentQ: StatementSync;
  private readonly useQ: StatementSync;
  private readonly pruneQ: StatementSync;

  constructor(db: DatabaseSync) {
    this.db = db;
    db.exec(`CREATE TABLE IF NOT EXISTS res_versions (
      url TEXT NOT NULL, version INTEGER NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL,
      content_type TEXT NOT NULL, published_at INTEGER NOT NULL, access TEXT NOT NULL,
      PRIMARY KEY (url, version)
    ) WITHOUT ROWID`);
    db.exec(`CREATE TABLE IF NOT EXISTS res_subscribers (
      url TEXT NOT NULL, node TEXT NOT NULL, gen INTEGER NOT NULL, since INTEGER NOT NULL, notified INTEGER NOT NULL,
      PRIMARY KEY (url, node)
    ) WITHOUT ROWID`);
    const cols = 'url, version, digest, size, content_type AS contentType, published_at AS publishedAt, access';
    this.newestQ = db.prepare(`SELECT ${cols} FROM res_versions WHERE url = ? ORDER BY version DESC LIMIT 1`);
    this.versionQ = db.prepare(`SELECT ${cols} FROM res_versions WHERE url = ? AND version = ?`);
    this.insertQ = db.prepare('INSERT INTO res_versions (url, version, digest, size, content_type, published_at, access) VALUES (?, ?, ?, ?, ?, ?, ?)');
    this.subscribeQ = db.prepare(`INSERT INTO res_subscribers (url, node, gen, since, notified) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (url, node) DO UPDATE SET gen = max(gen, excluded.gen), notified = max(notified, excluded.notified)`);
    this.unsubscribeQ = db.prepare('DELETE FROM res_subscribers WHERE url = ? AND node = ? AND gen <= ?');
    this.subscribersQ = db.prepare('SELECT url, node, gen, since, notified FROM res_subscribers WHERE url = ? ORDER BY node');
    this.isSubscribedQ = db.prepare('SELECT 1 AS yes FROM res_subscribers WHERE url = ? AND node = ?');
    this.notifiedQ = db.prepare('UPDATE res_subscribers SET notified = max(notified, ?) WHERE url = ? AND node = ?');
    // Subscribers not yet sent the newest version (a crash between a publish and its notices).
    this.behindQ = db.prepare(`SELECT s.url AS url, s.node AS node FROM res_subscribers s
      WHERE s.notified < (SELECT max(version) FROM res_versions v WHERE v.url = s.url) LIMIT ?`);
    this.countResourcesQ = db.prepare('SELECT count(DISTINCT url) AS resources FROM res_versions');
    this.countSubscribersQ = db.prepare('SELECT count(*) AS subscribers FROM res_subscribers');
    this.recentQ = db.prepare('SELECT url, max(version) AS version FROM res_versions GROUP BY url ORDER BY max(published_at) DESC, url LIMIT ?');
    // An author's URLs are one range of the primary key: from her prefix up to (not including) it with '/' -> '0'.
    this.useQ = db.prepare('SELECT count(*) AS versions, coalesce(sum(size), 0) AS bytes FROM res_versions WHERE url >= ? AND url < ?');
    this.pruneQ = db.prepare(`DELETE FROM res_versions WHERE url = ? AND version NOT IN
      (SELECT version FROM res_versions WHERE url = ? ORDER BY version DESC LIMIT ?) RETURNING version, digest, size`);
  }

  newest(url: string): VersionMeta | undefined {
    return this.newestQ.get(url) as VersionMeta | undefined;
  }

  version(url: string, version?: number): VersionMeta | undefined {
    return version === undefined ? this.newest(url) : (this.versionQ.get(url, version) as VersionMeta | undefined);
  }

  /** Adds the next version (1 for a new resource); synchronous, so two publishes cannot take one number. */
  add(meta: Omit<VersionMeta, 'version'>): VersionMeta {
    const version = (this.newest(meta.url)?.version ?? 0) + 1;
    this.insertQ.run(meta.url, version, meta.digest, meta.size, meta.contentType, meta.publishedAt, meta.access);
    return { ...meta, version };
  }

  subscribe(url: string, node: string, gen: number, notified: number): void {
    this.subscribeQ.run(url, node, gen, Date.now(), notified);
  }

  /** Every subscription of a node the host table removed (issue 28); says how many. */
  dropSubscriber(node: string): number {
    return Number(this.db.prepare('DELETE FROM res_subscribers WHERE node = ?').run(node).changes);
  }

  /** U3c/U3d: true if `node` was subscribed (and not since by a newer subscribe). */
  unsubscribe(url: string, node: string, gen: number): boolean {
    return Number(this.unsubscribeQ.run(url, node, gen).changes) > 0;
  }

  subscribers(url: string): Subscriber[] {
    return this.subscribersQ.all(url) as unknown as Subscriber[];
  }

  isSubscribed(url: string, node: string): boolean {
    return this.isSubscribedQ.get(url, node) !== undefined;
  }

  notified(url: string, node: string, version: number): void {
    this.notifiedQ.run(version, url, node);
  }

  behind(limit = 1000): { url: string; node: string }[] {
    return this.behindQ.all(limit) as { url: string; node: string }[];
  }

  /** Every resource published here with its versions, newest first (for `cohort resources`). */
  list(limit = 10_000): VersionMeta[] {
    return this.db.prepare('SELECT url, version, digest, size, content_type AS contentType, published_at AS publishedAt, access FROM res_versions ORDER BY url, version DESC LIMIT ?').all(limit) as unknown as VersionMeta[];
  }

  /** For dashboards: how many resources and subscriptions, and the `limit` last published (newest version, subscribers). */
  summary(limit: number): { resources: number; subscribers: number; recent: { url: string; version: number; subscribers: string[] }[] } {
    const { resources } = this.countResourcesQ.get() as { resources: number };
    const { subscribers } = this.countSubscribersQ.get() as { subscribers: number };
    const recent = this.recentQ.all(limit) as { url: string; version: number }[];
    return { resources, subscribers, recent: recent.map((r) => ({ url: r.url, version: r.version, subscribers: this.subscribers(r.url).map((s) => s.node) })) };
  }

  /** What an author's versions kept here take: `prefix` is /res/<domain>/<author>/. */
  use(prefix: string): { versions: number; bytes: number } {
    return this.useQ.get(prefix, `${prefix.slice(0, -1)}0`) as { versions: number; bytes: number };
  }

  /** Each author's versions and bytes kept here (for `cohort resources`), at most `limit` resources read. */
  authors(limit = 100_000): { domain: string; author: string; versions: number; bytes: number }[] {
    const rows = this.db.prepare('SELECT url, count(*) AS versions, sum(size) AS bytes FROM res_versions GROUP BY url LIMIT ?').all(limit) as { url: string; versions: number; bytes: number }[];
    const byAuthor = new Map<string, { domain: string; author: string; versions: number; bytes: number }>();
    for (const r of rows) {
      const [, , domain, author] = r.url.split('/');
      const key = `${domain}/${author}`;
      const a = byAuthor.get(key) ?? { domain, author, versions: 0, bytes: 0 };
      a.versions += r.versions;
      a.bytes += r.bytes;
      byAuthor.set(key, a);
    }
    return [...byAuthor.values()];
  }

  /** The version numbers of `url` kept here, newest first. */
  versions(url: string): number[] {
    return (this.db.prepare('SELECT version FROM res_versions WHERE url = ? ORDER BY version DESC').all(url) as { version: number }[]).map((r) => r.version);
  }

  /** Removes every version of `url` but the newest `keep` (at least 1); the removed ones returned. */
  prune(url: string, keep: number): { version: number; digest: string; size: number }[] {
    return this.pruneQ.all(url, url, Math.max(1, keep)) as { version: number; digest: string; size: number }[];
  }

  /** Does any version here use this content? */
  holds(digest: string): boolean {
    return this.db.prepare('SELECT 1 FROM res_versions WHERE digest = ? LIMIT 1').get(digest) !== undefined;
  }
}
