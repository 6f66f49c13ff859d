import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import type { Logger } from 'pino';
import type { CommandRegistry } from '../commands/registry.ts';
import type { HostTable } from '../config/host-table.ts';
import type { NodeEntry } from '../config/schema.ts';
import type { CriticalService } from '../critical/critical-service.ts';
import type { TlsMaterial } from '../net/tls-material.ts';
import type { DomainPolicy } from '../records/domain-policy.ts';
import { HomeLookup } from '../records/home-lookup.ts';
import { z } from 'zod';
import { AuthorQuota } from './author-quota.ts';
import { BlobCache } from './blob-cache.ts';
import { BlobStore } from './blob-store.ts';
import { CopyBudget } from './copy-budget.ts';
import { FreeSpace } from './free-space.ts';
import { registerStorageCommands } from './storage-commands.ts';
import { registerResourceCommands } from './commands.ts';
import { CopyStore } from './copy-store.ts';
import { ResourceHttp } from './http-service.ts';
import { PublishedStore } from './published-store.ts';
import { RawClient } from './raw-client.ts';
import { RawServer } from './raw-server.ts';
import { Replicator } from './replicator.ts';
import { ResourceHome } from './resource-home.ts';
import { Uploads } from './uploads.ts';

/** auth.login's answer (home-commands.ts auth.check): the node that checked the password, her home. */
const loginAnswer = z.object({ ok: z.literal(true), home: z.string().min(1).max(64) });

/** What a dashboard shows of a node's resources: counts, the most recent ones, and why they are refused, if they are. */
export interface ResourcesSummary {
  published: number;
  copies: number;
  subscribers: number;
  publishedList: { url: string; version: number; subscribers: string[] }[];
  copiesList: { url: string; version: number }[];
  /** Why resources are refused here (the disk below its free-space floor), or null. */
  problem: string | null;
}

export interface ReplicationDeps {
  self: NodeEntry;
  table: HostTable;
  dataDir: string;
  db: DatabaseSync;
  tls: TlsMaterial;
  registry: CommandRegistry;
  critical: CriticalService;
  policy: DomainPolicy;
  /** Whether the author lives here: now (SQLite) or later (PostgreSQL). */
  isAuthorHere: (domain: string, author: string) => boolean | Promise<boolean>;
  call: (to: string, cmd: string, args: unknown) => Promise<unknown>;
  log: Logger;
}

/** Resources on one node (seed 000's dynamic resource replication): its stores, both sides, and `http`, what the node's HTTP port serves under /res/. */
export class ReplicationService {
  private readonly blobs: BlobStore;
  private readonly published: PublishedStore;
  private readonly copies: CopyStore;
  private readonly raw: RawClient;
  private readonly home: ResourceHome;
  private readonly replicator: Replicator;
  readonly http: ResourceHttp;
  private readonly freeSpace: FreeSpace;
  readonly rawServer: RawServer;
  private readonly deps: ReplicationDeps;

  constructor(deps: ReplicationDeps) {
    this.deps = deps;
    const { table, log } = deps;
    const settings = table.resources;
    this.published = new PublishedStore(deps.db);
    this.copies = new CopyStore(deps.db);
    const cache = new BlobCache(settings.memoryCacheBytes, settings.memoryCacheMaxFileBytes, log);
    this.blobs = new BlobStore(join(deps.dataDir, 'blobs'), (d) => this.published.holds(d) || this.copies.holds(d), cache);
    this.freeSpace = new FreeSpace(this.blobs.dir, settings.minFreeBytes);
    const quota = new AuthorQuota(this.published, { maxBytes: settings.authorMaxBytes, maxVersions: settings.authorMaxVersions });
    const budget = new CopyBudget(this.copies, settings.copyBudgetBytes);
    // Authors' homes (D2), cached like users' homes; any node of the cluster may ask.
    const homes = new HomeLookup(table, deps.db, deps.call, 'res.author', log);
    this.raw = new RawClient(table, deps.tls);
    this.home = new ResourceHome({ blobs: this.blobs, published: this.published, critical: deps.critical, policy: deps.policy, isAuthorHere: deps.isAuthorHere, onPublished: (url) => this.replicator.forget(url), maxBytes: settings.maxBytes, quota, freeSpace: this.freeSpace, log });
    this.replicator = new Replicator({
      self: deps.self.id,
      blobs: this.blobs,
      copies: this.copies,
      published: this.published,
      raw: this.raw,
      homes,
      critical: deps.critical,
      call: deps.call,
      settings: { readWindowMs: settings.readWindowH * 3_600_000, maxBytes: settings.maxBytes, maxWaiting: settings.maxWaiting, maxTransfers: settings.maxTransfers, transferIdleMs: settings.transferIdleMs },
      budget,
      freeSpace: this.freeSpace,
      log,
    });
    const uploads = new Uploads({
      self: deps.self.id,
      home: this.home,
      // As a login: checked at her home (an unknown name on a stand-in, at the same cost); the answer names the home.
      checkPassword: async (domain, user, password) => loginAnswer.parse(await deps.call(deps.self.id, 'auth.login', { domain, user, password })).home,
      maxBytes: settings.maxBytes,
      log,
    });
    this.http = new ResourceHttp({ replicator: this.replicator, uploads, cache, log });
    this.rawServer = new RawServer(this.home, cache, log);
    registerResourceCommands(deps.registry, {
      self: deps.self.id,
      home: this.home,
      replicator: this.replicator,
      published: this.published,
      copies: this.copies,
      raw: this.raw,
      homeOf: (domain, author) => homes.find(domain, author),
      isAuthorHere: deps.isAuthorHere,
      transferIdleMs: settings.transferIdleMs,
      log,
    });
    registerStorageCommands(deps.registry, {
      self: deps.self.id,
      quota,
      budget,
      freeSpace: this.freeSpace,
      prune: { published: this.published, blobs: this.blobs, isAuthorHere: deps.isAuthorHere, onChanged: (url) => this.replicator.forget(url), log },
    });
  }

  /** Transfers of resources' bytes from their homes since start (for /metrics). */
  get transfers(): Readonly<{ ok: number; failed: number; bytes: number }> {
    return this.replicator.transferCounts;
  }

  /** Resources' bytes held in memory to serve (for /metrics). */
  get memoryCache(): Readonly<{ bytes: number; entries: number }> {
    return this.blobs.cache.stats;
  }

  /** Whether an author published any resource here (her resources stay where they were published: she does not move). */
  hasPublished(domain: string, author: string): boolean {
    return this.published.use(`/res/${domain}/${author}/`).versions > 0;
  }

  /** A node the host table removed (issue 28): its subscriptions end here (no notices wait for it). */
  nodeRemoved(node: string): void {
    this.rawServer.closeFrom(node);
    this.raw.forget(node);
    const n = this.published.dropSubscriber(node);
    if (n) this.deps.log.info({ event: 'resource_subscriber_removed', node, subscriptions: n }, `${node} left the cluster: its ${n} subscriptions end`);
  }

  /** Counts and the most recent resources published and copied here (a dashboard's view; cheap every second). */
  summary(limit: number): ResourcesSummary {
    const own = this.published.summary(limit);
    const held = this.copies.summary(limit);
    return { published: own.resources, copies: held.resources, subscribers: own.subscribers, publishedList: own.recent, copiesList: held.recent, problem: this.freeSpace.problem() };
  }

  start(): void {
    const dropped = this.copies.dropMissing((d) => this.blobs.has(d));
    if (dropped.length) this.deps.log.warn({ event: 'copies_missing', urls: dropped.slice(0, 20), count: dropped.length }, `${dropped.length} copies had no file; they are copied again when read`);
    const swept = this.blobs.sweep();
    if (swept) this.deps.log.info({ event: 'blobs_swept', files: swept }, `${swept} resource files no longer referred to were removed`);
    this.replicator.start();
    // Notices a crash cut short; they go out as the links come up (critical messages wait for them).
    this.home.resumeNotices().catch((err: unknown) => this.deps.log.error({ event: 'resume_notices_failed', err: (err as Error).message }, 'resuming update notices failed'));
  }

  stop(): void {
    this.replicator.stop();
    this.rawServer.close();
    this.raw.close();
  }
}
