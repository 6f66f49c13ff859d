import type { Logger } from 'pino';
import { RecentMap } from '../recent-map.ts';
import { Backoff } from '../net/backoff.ts';
import type { CriticalService } from '../critical/critical-service.ts';
import { CohortError } from '../errors.ts';
import type { HomeLookup } from '../records/home-lookup.ts';
import type { BlobStore } from './blob-store.ts';
import type { CopyBudget, Room } from './copy-budget.ts';
import type { FreeSpace } from './free-space.ts';
import type { CopyStore } from './copy-store.ts';
import type { PublishedStore, VersionMeta } from './published-store.ts';
import { checkRawHeaders, storedMeta } from './peer-answers.ts';
import type { RawClient } from './raw-client.ts';
import { busy, ResourceLookups } from './resource-lookups.ts';
import { encodeResourceUrl, type ResourceRef } from './resource-url.ts';

export interface ReplicatorDeps {
  self: string;
  blobs: BlobStore;
  copies: CopyStore;
  published: PublishedStore;
  raw: RawClient;
  homes: HomeLookup;
  critical: CriticalService;
  call: (to: string, cmd: string, args: unknown) => Promise<unknown>;
  settings: { readWindowMs: number; maxBytes: number; maxWaiting: number; maxTransfers: number; transferIdleMs: number };
  /** The node's byte budget for copies and its free-space floor: a copy past either is refused (507). */
  budget: CopyBudget;
  freeSpace: FreeSpace;
  log: Logger;
}

/** A resource ready to serve: its metadata and the file that holds its bytes. */
export interface Local {
  meta: VersionMeta;
  path: string;
  /** 'home': this node is the author's; 'copy': a copy was here; 'replicated': copied for this request. */
  source: 'home' | 'copy' | 'replicated';
}

/** Reads of copies are kept in memory and written to the database this often (the read window is hours). */
const READ_FLUSH_MS = 5000;
/** A fetch of a newer version that failed (home down) is tried again after this long, doubling. */
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 60_000;

/**
 * The copy side of seed 000's dynamic resource replication. D1a: one transfer per resource
 * however many requests ask; the others wait on it and are woken when it ends; past
 * maxWaiting (or maxTransfers transfers of bytes) they are told to come back (rate_limited, a
 * 503). D1b: a copy here is served. D2-D4: home lookup and subscribe, with their own budget
 * (resource-lookups.ts); D5-D7: raw bytes into a temporary file,
 * checked, renamed, recorded. U2-U6: an update notice refreshes a copy read within the
 * window, else drops it and unsubscribes.
 */
export class Replicator {
  private readonly deps: ReplicatorDeps;
  private readonly inflight = new Map<string, Promise<Local>>();
  /**
   * What each URL (and version) resolved to, so serving a copy costs no database read; dropped
   * whenever the URL's copies or versions change (forget). Only resources that exist get in.
   */
  private readonly resolved = new RecentMap<string, Local>(10_000);
  private waiting = 0;
  /** url -> last read (ms), not yet written; bounded by the copies on disk (only served copies get in). */
  private readonly reads = new Map<string, number>();
  private readonly retries = new Map<string, { timer: NodeJS.Timeout; backoff: Backoff }>();
  private readonly lookups: ResourceLookups;
  /** Transfers of bytes under way (at most settings.maxTransfers). */
  private transferring = 0;
  private flushTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Transfers of bytes from a home since this process started (read by /metrics). */
  readonly transfers = { ok: 0, failed: 0, bytes: 0 };

  constructor(deps: ReplicatorDeps) {
    this.deps = deps;
    // Look-ups wait on one node at most as many at once as there are transfer slots, and are
    // bounded in all like the requests waiting on transfers.
    const { maxTransfers, maxWaiting } = deps.settings;
    this.lookups = new ResourceLookups({ self: deps.self, homes: deps.homes, call: deps.call, nextGen: () => deps.copies.nextGen(), perNode: maxTransfers, total: maxWaiting, log: deps.log });
  }

  start(): void {
    this.flushTimer = setInterval(() => this.flushReads(), READ_FLUSH_MS);
    this.flushTimer.unref();
    // Newer versions announced before a restart and not fetched yet.
    for (const sub of this.deps.copies.pendingList()) this.fetchPending(sub.url);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.flushTimer);
    for (const r of this.retries.values()) clearTimeout(r.timer);
    this.flushReads();
  }

  /** The resource's bytes on this node, replicating them first if they are not here (D1-D7). */
  async local(ref: ResourceRef, version?: number): Promise<Local> {
    const key = `${ref.url}\n${version ?? ''}`;
    const known = this.resolved.get(key);
    if (known) {
      if (known.source === 'copy') this.reads.set(ref.url, Date.now());
      return known;
    }
    const own = this.deps.published.version(ref.url, version);
    if (own) return this.remember(key, { meta: own, path: this.deps.blobs.path(own.digest), source: 'home' });
    const copy = this.deps.copies.copy(ref.url, version);
    // The bare URL is the newest: a copy of an older version (asked for by number) does not stand for it.
    // While an announced newer version is being fetched (or waits for its home to come back), the
    // copy held is served (U4-U6): a request never waits on, or fails with, the update.
    const sub = copy && version === undefined ? this.deps.copies.subscription(ref.url) : undefined;
    const stale = sub !== undefined && copy!.version < sub.newest && sub.pending === 0;
    if (copy && !stale) {
      this.reads.set(ref.url, Date.now());
      return this.remember(key, { meta: copy, path: this.deps.blobs.path(copy.digest), source: 'copy' });
    }
    const running = this.inflight.get(key);
    if (running) return this.wait(running);
    const transfer = this.replicate(ref, version).finally(() => this.inflight.delete(key));
    this.inflight.set(key, transfer);
    const out = await transfer;
    this.reads.set(ref.url, Date.now());
    this.remember(key, { ...out, source: 'copy' });
    return out;
  }

  /** The URL's copies or versions changed: the next request reads them again. */
  forget(url: string): void {
    for (const key of this.resolved.keys()) if (key.startsWith(`${url}\n`)) this.resolved.delete(key);
  }

  private remember(key: string, local: Local): Local {
    this.resolved.set(key, local);
    return local;
  }

  /** U2-U6, as a critical message from the home node: synchronous, in the inbox's transaction. */
  onUpdate(from: string, meta: VersionMeta): { action: string } {
    const { copies, log, settings } = this.deps;
    const sub = copies.subscription(meta.url);
    if (sub && sub.home !== from) {
      // Only the resource's home speaks for it: another node's notice changes nothing here.
      log.warn({ event: 'resource_update_refused', url: meta.url, from, home: sub.home }, `${from} sent an update of ${meta.url}, whose home is ${sub.home}`);
      return { action: 'ignored' };
    }
    if (!sub || !sub.subscribed) {
      // Not (or no longer) ours: the home node should stop sending.
      const gen = this.endSubscription(meta.url, from);
      this.later(() => this.sendUnsubscribe(from, meta.url, gen));
      return { action: 'unsubscribed' };
    }
    copies.newest(meta.url, meta.version);
    this.forget(meta.url);
    const held = copies.copy(meta.url);
    if (!held) {
      // Subscribed, and the first copy is still on its way: this version follows it.
      copies.setPending(meta.url, meta);
      this.later(() => this.fetchPending(meta.url));
      return { action: 'fetching' };
    }
    if (held.version >= meta.version) return { action: 'current' };
    // Reads reach the database every few seconds; a copy fetched counts as read then.
    const lastRead = Math.max(sub.lastRead, held.fetchedAt, this.reads.get(meta.url) ?? 0);
    if (Date.now() - lastRead <= settings.readWindowMs) {
      copies.setPending(meta.url, meta);
      log.info({ event: 'resource_update', url: meta.url, version: meta.version }, `${meta.url}: version ${meta.version} announced, fetching`);
      this.later(() => this.fetchPending(meta.url));
      return { action: 'fetching' };
    }
    // U3a/U3b: not read within the window: the copy goes, and the subscription with it.
    const digests = copies.drop(meta.url);
    this.forget(meta.url);
    const gen = this.endSubscription(meta.url, from);
    this.reads.delete(meta.url);
    log.info({ event: 'resource_dropped', url: meta.url, lastRead }, `${meta.url}: not read within the window, copy dropped and unsubscribed`);
    this.later(() => {
      this.removeUnused(digests);
      this.sendUnsubscribe(from, meta.url, gen);
    });
    return { action: 'dropped' };
  }

  private async wait(transfer: Promise<Local>): Promise<Local> {
    if (this.waiting >= this.deps.settings.maxWaiting) throw busy(`${this.waiting} requests are waiting on transfers`);
    this.waiting++;
    try {
      const out = await transfer;
      return { ...out, source: 'replicated' };
    } finally {
      this.waiting--;
    }
  }

  private async replicate(ref: ResourceRef, version: number | undefined): Promise<Local> {
    const { copies, log } = this.deps;
    const home = await this.lookups.home(ref, version); // D2
    this.deps.freeSpace.check(`a copy of ${ref.url}`); // what cannot be stored is not asked for
    const { gen, meta, newest } = await this.lookups.subscribe(ref, version, home); // D3, D4: the answer checked
    copies.subscribed(ref.url, home, gen, newest);
    const started = Date.now();
    const release = await this.fetch(home, meta).catch((err: unknown) => {
      // No room for it here: the home need not keep (nor notify) this subscription.
      if (err instanceof CohortError && err.code === 'insufficient_storage') this.sendUnsubscribe(home, ref.url, this.endSubscription(ref.url, home));
      throw err;
    }); // D5-D7
    try {
      copies.put(meta, false);
    } finally {
      release();
    }
    log.info({ event: 'resource_replicated', url: ref.url, version: meta.version, size: meta.size, home, ms: Date.now() - started }, `replicated ${ref.url} version ${meta.version} from ${home}`);
    return { meta, path: this.deps.blobs.path(meta.digest), source: 'replicated' };
  }

  /**
   * The bytes of `meta` from `home` into the blob store, checked (unless the same content is here
   * already). Resolves with the release of its hold on them: call it once the copy's row is added.
   */
  private async fetch(home: string, meta: VersionMeta): Promise<() => void> {
    const { blobs, settings } = this.deps;
    // Whatever a home announces, no copy is larger than the largest resource a publish may make.
    if (meta.size > settings.maxBytes) {
      this.deps.log.warn({ event: 'resource_answer_refused', from: home, url: meta.url, size: meta.size }, `${home} announced ${meta.url} at ${meta.size} bytes, past resources.maxBytes: refused`);
      throw new CohortError('too_large', `${home} announced ${meta.url} at ${meta.size} bytes, larger than resources.maxBytes (${settings.maxBytes})`);
    }
    const hold = blobs.hold(meta.digest);
    const here = blobs.has(meta.digest);
    if (!here && this.transferring >= settings.maxTransfers) {
      hold();
      throw busy(`${this.transferring} transfers are in progress on this node`);
    }
    let room: Room;
    try {
      room = this.reserveRoom(meta); // after the slot check: nothing is reserved for a transfer refused
    } catch (err) {
      hold();
      throw err;
    }
    const release = () => {
      hold();
      room.release();
    };
    if (!here) {
      this.transferring++;
      try {
        await this.transfer(home, meta, release);
      } finally {
        this.transferring--;
      }
    }
    this.evict(room, meta); // only once the bytes are here: a failed transfer drops no copy
    return release;
  }

  /** One transfer of `meta`'s bytes from `home`, in a transfer slot (see fetch); calls `release` if it fails. */
  private async transfer(home: string, meta: VersionMeta, release: () => void): Promise<void> {
    const { blobs, raw, settings } = this.deps;
    let res;
    try {
      res = await raw.request(home, 'GET', `/raw${encodeResourceUrl(meta.url)}?version=${meta.version}`, { idleMs: settings.transferIdleMs });
    } catch (err) {
      release();
      this.transfers.failed++;
      throw err;
    }
    try {
      checkRawHeaders(res.headers, meta, home, this.deps.log);
      (await blobs.receive(res, settings.maxBytes, { digest: meta.digest, size: meta.size })).release();
      this.transfers.ok++;
      this.transfers.bytes += meta.size;
    } catch (err) {
      release();
      this.transfers.failed++;
      res.destroy();
      this.deps.log.error({ event: 'resource_transfer_failed', url: meta.url, version: meta.version, home, err: (err as Error).message }, `transfer of ${meta.url} from ${home} failed: ${(err as Error).message}`);
      // Whatever went wrong (the home went away, a digest mismatch), nothing was kept: try again later.
      throw new CohortError('con_lost', `transfer from ${home} failed: ${(err as Error).message}`);
    }
  }

  /** U4-U6: the announced newer version, fetched like a first copy; retried with back-off while the home is away. */
  private fetchPending(url: string): void {
    if (this.stopped || this.inflight.has(`${url}\npending`)) return;
    const key = `${url}\npending`;
    const run = (async (): Promise<Local> => {
      const { copies } = this.deps;
      const sub = copies.subscription(url);
      if (!sub || !sub.subscribed || sub.pending === 0 || !sub.pendingMeta) throw new CohortError('not_found', 'nothing pending');
      // What the home's notice announced (a critical message from it) is what the bytes must match.
      const meta = storedMeta(sub.pendingMeta);
      const release = await this.fetch(sub.home, meta);
      let dropped: string[];
      try {
        dropped = copies.put(meta, true);
      } finally {
        release();
      }
      this.forget(url);
      if (copies.subscription(url)?.pending === meta.version) copies.setPending(url, null);
      this.removeUnused(dropped);
      this.deps.log.info({ event: 'resource_updated', url, version: meta.version }, `${url}: now version ${meta.version}`);
      return { meta, path: this.deps.blobs.path(meta.digest), source: 'replicated' };
    })();
    this.inflight.set(key, run);
    run.then(
      () => {
        this.inflight.delete(key);
        this.retries.delete(url);
        if ((this.deps.copies.subscription(url)?.pending ?? 0) > 0) this.fetchPending(url); // a newer one came meanwhile
      },
      (err: unknown) => {
        this.inflight.delete(key);
        if (err instanceof CohortError && err.code === 'not_found' && err.message === 'nothing pending') return;
        const backoff = this.retries.get(url)?.backoff ?? new Backoff(RETRY_MIN_MS, RETRY_MAX_MS, null);
        const delayMs = backoff.next();
        this.deps.log.warn({ event: 'resource_update_retry', url, delayMs, err: (err as Error).message }, `${url}: fetching the new version failed, again in ${delayMs} ms`);
        clearTimeout(this.retries.get(url)?.timer);
        const timer = setTimeout(() => this.fetchPending(url), delayMs);
        timer.unref();
        this.retries.set(url, { timer, backoff });
      },
    );
  }

  /**
   * Room for a copy of `meta` under the node's copy budget and free-space floor: which of the
   * least recently read copies must go for it (throws insufficient_storage when it cannot fit).
   */
  private reserveRoom(meta: VersionMeta): Room {
    this.deps.freeSpace.check(`a copy of ${meta.url}`, meta.size);
    this.flushReads(); // least recently read by the reads up to now
    return this.deps.budget.reserve(meta.url, meta.size);
  }

  /** Drops the copies `room` named, unsubscribing at their homes. */
  private evict(room: Room, meta: VersionMeta): void {
    for (const v of room.victims) {
      const digests = this.deps.copies.drop(v.url);
      this.forget(v.url);
      this.reads.delete(v.url);
      this.deps.log.info({ event: 'resource_evicted', url: v.url, bytes: v.bytes, for: meta.url }, `${v.url}: copy dropped and unsubscribed to make room for ${meta.url} (resources.copyBudgetBytes)`);
      if (v.home) this.sendUnsubscribe(v.home, v.url, this.endSubscription(v.url, v.home));
      this.removeUnused(digests);
    }
    room.evicted();
  }

  private endSubscription(url: string, home: string): number {
    const gen = this.deps.copies.nextGen();
    this.deps.copies.ended(url, home, gen);
    return gen;
  }

  private sendUnsubscribe(home: string, url: string, gen: number): void {
    this.deps.critical.send(home, 'res.unsubscribe', { url, gen }).catch((err: unknown) => {
      this.deps.log.error({ event: 'unsubscribe_failed', url, home, err: (err as Error).message }, `unsubscribe from ${url} at ${home} failed`);
    });
  }

  private removeUnused(digests: string[]): void {
    for (const d of digests) this.deps.blobs.removeIfUnused(d);
  }

  /** Work a critical message's handler starts, once its transaction has committed. */
  private later(work: () => void): void {
    setImmediate(() => {
      if (!this.stopped) work();
    });
  }

  private flushReads(): void {
    if (this.reads.size === 0) return;
    this.deps.copies.readAll(this.reads);
    this.reads.clear();
  }
}
