import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { contentType as mimeContentType } from 'mime-types';
import type { Logger } from 'pino';
import type { CriticalService } from '../critical/critical-service.ts';
import { CohortError } from '../errors.ts';
import type { DomainPolicy } from '../records/domain-policy.ts';
import type { AuthorQuota } from './author-quota.ts';
import type { BlobStore } from './blob-store.ts';
import type { FreeSpace } from './free-space.ts';
import type { PublishedStore, VersionMeta } from './published-store.ts';
import type { ResourceRef } from './resource-url.ts';

export interface ResourceHomeDeps {
  blobs: BlobStore;
  published: PublishedStore;
  critical: CriticalService;
  policy: DomainPolicy;
  /** Whether the author lives here (her home): now (SQLite) or later (PostgreSQL). */
  isAuthorHere: (domain: string, author: string) => boolean | Promise<boolean>;
  /** A new version of `url` is here: what was served for it must be looked up again. */
  onPublished: (url: string) => void;
  maxBytes: number;
  /** The author's quota and the node's free-space floor: a publish past either stores nothing. */
  quota: AuthorQuota;
  freeSpace: FreeSpace;
  log: Logger;
}

export interface PublishOptions {
  contentType?: string;
  access?: 'cluster' | 'domain';
  /** Publish only if this is still the newest version (0: none yet): an edit of an older version is refused (conflict). */
  ifVersion?: number;
  /** HTTP's If-Match (RFC 9110 §13.1.1): the newest version's digest is one of these ('*': some version exists). */
  ifMatch?: '*' | string[];
  /** HTTP's If-None-Match (§13.1.2): the newest version's digest is none of these ('*': no version exists yet). */
  ifNoneMatch?: '*' | string[];
  /** The bytes announced (Content-Length): past the author's quota, refused before any is read. */
  length?: number;
}

export interface Published extends VersionMeta {
  /** Each subscriber told of this version, and how (ok: applied there; delayed: kept here until it is back). */
  notified: { node: string; status: string }[];
}

/**
 * The home side of seed 000's dynamic resource replication: publishing (every version kept),
 * subscriptions (D3), raw bytes to subscribers only (D5b/c), and update notices to every
 * subscriber as critical messages, so one that is down gets it when it is back (U1).
 */
export class ResourceHome {
  private readonly deps: ResourceHomeDeps;

  constructor(deps: ResourceHomeDeps) {
    this.deps = deps;
  }

  /** Stores `source` as the next version of `ref`, then tells every subscriber. */
  async publish(ref: ResourceRef, source: Readable, opts: PublishOptions = {}): Promise<Published> {
    const { blobs, published, log } = this.deps;
    if (!(await this.deps.isAuthorHere(ref.domain, ref.author))) throw new CohortError('refused', `${ref.author}@${ref.domain} does not live on this node: publish on her home node`);
    if (opts.contentType !== undefined && !MEDIA_TYPE.test(opts.contentType)) throw new CohortError('bad_args', 'a Content-Type is a media type (type/subtype, optional parameters), at most 256 characters');
    // Checked before the bytes come (nothing stored for a stale edit), and again right before the
    // version is added: no other publish can come between that check and the add.
    this.checkPreconditions(ref.url, opts);
    this.deps.freeSpace.check(`a publish of ${ref.url}`);
    const room = this.deps.quota.room(ref);
    if (opts.length !== undefined && opts.length > room) throw this.deps.quota.overBytes(ref, room);
    const blob = await blobs.receive(source, Math.min(this.deps.maxBytes, room)).catch((err: unknown) => {
      throw err instanceof CohortError && err.code === 'too_large' && room < this.deps.maxBytes ? this.deps.quota.overBytes(ref, room) : err;
    });
    let meta: VersionMeta;
    try {
      this.checkPreconditions(ref.url, opts);
      this.deps.quota.check(ref, blob.size);
      meta = published.add({
        url: ref.url,
        digest: blob.digest,
        size: blob.size,
        contentType: opts.contentType ?? (mimeContentType(ref.path.split('/').pop()!) || 'application/octet-stream'),
        publishedAt: Date.now(),
        access: opts.access ?? this.deps.published.newest(ref.url)?.access ?? 'cluster',
      });
      blob.release();
    } catch (err) {
      // Refused after the bytes came (another publish got in first): they go, unless a row names the same content.
      blob.release();
      blobs.removeIfUnused(blob.digest);
      throw err;
    }
    this.deps.onPublished(ref.url);
    log.info({ event: 'resource_published', url: ref.url, version: meta.version, size: meta.size, digest: meta.digest }, `published ${ref.url} version ${meta.version}`);
    return { ...meta, notified: await this.notify(ref.url) };
  }

  /** The caller's preconditions against the newest version; a failed one is a 'conflict'. */
  private checkPreconditions(url: string, { ifVersion, ifMatch, ifNoneMatch }: PublishOptions): void {
    const newest = this.deps.published.newest(url);
    const version = newest?.version ?? 0;
    if (ifVersion !== undefined && ifVersion !== version) throw new CohortError('conflict', `${url} is at version ${version}, not ${ifVersion}: it changed since it was read`);
    if (ifMatch !== undefined && !(newest && (ifMatch === '*' || ifMatch.includes(newest.digest)))) {
      throw new CohortError('conflict', newest ? `${url} version ${version} is not the one If-Match names: it changed since it was read` : `${url} has no version yet (If-Match)`);
    }
    if (ifNoneMatch !== undefined && newest && (ifNoneMatch === '*' || ifNoneMatch.includes(newest.digest))) {
      throw new CohortError('conflict', ifNoneMatch === '*' ? `${url} exists already (version ${version}; If-None-Match: *)` : `${url} version ${version} is one If-None-Match names`);
    }
  }

  publishFile(ref: ResourceRef, file: string, opts: PublishOptions = {}): Promise<Published> {
    return this.publish(ref, createReadStream(file), opts);
  }

  /** D3: `from` asks to copy `url`; it must exist here and `from` may copy it. Durable before the answer. */
  subscribe(from: string, url: string, version: number | undefined, gen: number): VersionMeta & { newest: number } {
    const { published, log } = this.deps;
    const meta = published.version(url, version);
    if (!meta) throw new CohortError('not_found', version === undefined ? `no resource ${url}` : `no version ${version} of ${url}`);
    this.checkAccess(from, meta);
    // A subscriber knows of the newest version from this answer: no notice for versions up to it.
    const newest = published.newest(url)!.version;
    published.subscribe(url, from, gen, newest);
    log.debug({ event: 'resource_subscribed', url, node: from, gen }, `${from} subscribed to ${url}`);
    return { ...meta, newest };
  }

  /** U3c/U3d: drops `from`'s subscription if it had one not renewed since (gen). */
  unsubscribe(from: string, url: string, gen: number): { removed: boolean } {
    const removed = this.deps.published.unsubscribe(url, from, gen);
    if (!removed) this.deps.log.warn({ event: 'unsubscribe_unknown', url, node: from, gen }, `${from} unsubscribed from ${url} without a subscription (or after subscribing again)`);
    else this.deps.log.info({ event: 'resource_unsubscribed', url, node: from }, `${from} unsubscribed from ${url}`);
    return { removed };
  }

  /** Sends the newest version to every subscriber not yet told of it (U1); also what a restart resumes. */
  async notify(url: string): Promise<{ node: string; status: string }[]> {
    const { published, critical, log } = this.deps;
    const newest = published.newest(url);
    if (!newest) return [];
    const behind = published.subscribers(url).filter((s) => s.notified < newest.version);
    // A version limited to fewer domains is not offered to nodes outside them: their subscription ends here.
    const allowed = behind.filter((s) => {
      if (newest.access !== 'domain' || this.deps.policy.allows(s.node, url.split('/')[2])) return true;
      published.unsubscribe(url, s.node, Number.MAX_SAFE_INTEGER);
      log.warn({ event: 'resource_subscription_ended', url, node: s.node, why: 'access' }, `${s.node} may not copy version ${newest.version} of ${url}: its subscription ends`);
      return false;
    });
    return Promise.all(allowed.map(async (s) => {
      try {
        const outcome = await critical.send(s.node, 'res.update', newest);
        published.notified(url, s.node, newest.version);
        return { node: s.node, status: outcome.status };
      } catch (err) {
        log.error({ event: 'resource_notice_failed', url, node: s.node, err: (err as Error).message }, `update notice for ${url} to ${s.node} failed`);
        return { node: s.node, status: `failed: ${(err as Error).message}` };
      }
    }));
  }

  /** After a restart: notices a crash cut short between a publish and its outbox rows. */
  async resumeNotices(): Promise<void> {
    const urls = new Set(this.deps.published.behind().map((b) => b.url));
    for (const url of urls) await this.notify(url);
  }

  /**
   * D5b/D5c: a subscribed node of the host table gets the raw bytes of a version, nothing else:
   * the version and the file that holds its bytes (throws not_found, or refused).
   */
  rawVersion(from: string, url: string, version: number): { meta: VersionMeta; path: string } {
    const { published, blobs, log } = this.deps;
    const meta = published.version(url, version);
    if (!meta) throw new CohortError('not_found', `no version ${version} of ${url}`);
    try {
      this.checkAccess(from, meta);
    } catch {
      throw new CohortError('refused', `Access Denied: version ${version} of ${url} is limited to other domains`);
    }
    if (!published.isSubscribed(url, from)) {
      log.warn({ event: 'raw_refused', url, node: from }, `${from} asked for the bytes of ${url} without a subscription`);
      throw new CohortError('refused', `${from} is not subscribed to ${url}`);
    }
    return { meta, path: blobs.path(meta.digest) };
  }

  /** A publish another node relays (`cohort publish --from` a node that is not her home). */
  receivePublish(from: string, ref: ResourceRef, source: Readable, opts: PublishOptions): Promise<Published> {
    this.deps.policy.check(from, ref.domain, 'publish');
    return this.publish(ref, source, opts);
  }

  private checkAccess(from: string, meta: VersionMeta): void {
    if (meta.access !== 'domain') return;
    const domain = meta.url.split('/')[2];
    this.deps.policy.check(from, domain, `copy of ${meta.url}`);
  }
}

/** RFC 9110 §8.3.1 media-type, with parameters; no control characters; what res.update accepts. */
const MEDIA_TYPE = /^(?=.{3,256}$)[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:\s*;\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+=(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+|"[^"\x00-\x1f\x7f]*"))*$/;
