import type { Logger } from 'pino';
import { RecentMap } from '../recent-map.ts';
import type { CriticalService } from '../critical/critical-service.ts';
import { CohortError } from '../errors.ts';
import type { HomeLookup } from '../records/home-lookup.ts';
import type { BlobStore } from './blob-store.ts';
import type { CopyBudget, Room } from './copy-budget.ts';
import { CopyTransfers } from './copy-transfers.ts';
import { CopyUpdates } from './copy-updates.ts';
import type { FreeSpace } from './free-space.ts';
import type { CopyStore } from './copy-store.ts';
import type { PublishedStore, VersionMeta } from './published-store.ts';
import type { RawClient } from './raw-client.ts';
import { busy, ResourceLookups } from './resource-lookups.ts';
import type { ResourceRef } from './resource-url.ts';
import { endSubscription, sendUnsubscribe } from './unsubscribe.ts';

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
  /** A copy being made, checked in memory: its bytes, served before its file is durable and named by a row. */
  bytes?: Buffer;
  /** With `bytes`: the copy once its file is in place (for the answers a file serves: ranges, conditional GETs). */
  durable?: Promise<Local>;
}

/** The resource once its file is in place: a copy being made (answered from its checked bytes) when it is durable. */
export function inPlace(local: Local): Local | Promise<Local> {
  return local.durable ?? local;
}

/** Reads of copies are kept in memory and written to the database this often (the read window is hours). */
const READ_FLUSH_MS = 5000;

/**
 * The copy side of seed 000's dynamic resource replication. D1a: one transfer per resource
 * however many requests ask; the others wait on it and are woken when it ends; past
 * maxWaiting (or maxTransfers transfers of bytes) they are told to come back (rate_limited, a
 * 503). D1b: a copy here is served. D2-D4: home lookup and subscribe, with their own budget
 * (resource-lookups.ts); D5-D7: the bytes in a transfer slot, within the copy budget
 * (copy-transfers.ts). U2-U6: update notices (copy-updates.ts).
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
  /**
   * Calls of forget() so far. A transfer remembers what it resolved to only if none came while it
   * ran: a newer version stored meanwhile (an update notice's fetch) must not be hidden behind it.
   */
  private forgets = 0;
  /** url -> last read (ms), not yet written; bounded by the copies on disk (only served copies get in). */
  private readonly reads = new Map<string, number>();
  private readonly lookups: ResourceLookups;
  private readonly transfers: CopyTransfers;
  private readonly updates: CopyUpdates;
  private flushTimer: NodeJS.Timeout | undefined;

  constructor(deps: ReplicatorDeps) {
    this.deps = deps;
    // Look-ups wait on one node at most as many at once as there are transfer slots, and are
    // bounded in all like the requests waiting on transfers.
    const { maxTransfers, maxWaiting } = deps.settings;
    this.lookups = new ResourceLookups({ self: deps.self, homes: deps.homes, call: deps.call, nextGen: () => deps.copies.nextGen(), perNode: maxTransfers, total: maxWaiting, log: deps.log });
    this.transfers = new CopyTransfers({ ...deps, flushReads: () => this.flushReads(), evict: (room, meta) => this.evict(room, meta) });
    this.updates = new CopyUpdates({ ...deps, fetch: (home, meta) => this.transfers.fetch(home, meta), forget: (url) => this.forget(url), reads: this.reads });
  }

  /** Transfers of bytes from a home since this process started (read by /metrics). */
  get transferCounts(): { ok: number; failed: number; bytes: number } {
    return this.transfers.counts;
  }

  start(): void {
    this.flushTimer = setInterval(() => this.flushReads(), READ_FLUSH_MS);
    this.flushTimer.unref();
    this.updates.resume();
  }

  stop(): void {
    this.updates.stop();
    clearInterval(this.flushTimer);
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
    // Requests (the first and those waiting on it) are answered as soon as the bytes are checked,
    // if they were checked in memory; otherwise once the copy is durable. The transfer stays the
    // one in flight until then: no second one starts meanwhile.
    const first = Promise.withResolvers<Local>();
    const forgets = this.forgets;
    let answered = false;
    const durable: Promise<Local> = this.replicate(ref, version, (meta, bytes) => {
      answered = true;
      first.resolve({ meta, path: this.deps.blobs.path(meta.digest), source: 'replicated', bytes, durable });
    }).then((out) => {
      this.reads.set(ref.url, Date.now());
      if (this.forgets === forgets) this.remember(key, { ...out, source: 'copy' });
      return out;
    });
    durable.then(first.resolve, (err: unknown) => {
      // Answered already: the requests had their checked bytes; only the copy is lost (the next request makes it again).
      if (answered) this.deps.log.error({ event: 'resource_copy_not_stored', url: ref.url, err: (err as Error).message }, `${ref.url} was answered but its copy could not be stored: ${(err as Error).message}`);
      first.reject(err);
    }).then(() => this.inflight.delete(key));
    this.inflight.set(key, first.promise);
    return first.promise;
  }

  /** As local(), once its file is in place (a copy being made: when it is durable), for those that read the file itself. */
  async localFile(ref: ResourceRef, version?: number): Promise<Local> {
    return inPlace(await this.local(ref, version));
  }

  /** The URL's copies or versions changed: the next request reads them again. */
  forget(url: string): void {
    this.forgets++;
    for (const key of this.resolved.keys()) if (key.startsWith(`${url}\n`)) this.resolved.delete(key);
  }

  private remember(key: string, local: Local): Local {
    this.resolved.set(key, local);
    return local;
  }

  /** U2-U6, as a critical message from the home node: synchronous, in the inbox's transaction (copy-updates.ts). */
  onUpdate(from: string, meta: VersionMeta): { action: string } {
    return this.updates.onUpdate(from, meta);
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

  private async replicate(ref: ResourceRef, version: number | undefined, onChecked: (meta: VersionMeta, bytes: Buffer) => void): Promise<Local> {
    const { copies, log } = this.deps;
    const home = await this.lookups.home(ref, version); // D2
    this.deps.freeSpace.check(`a copy of ${ref.url}`); // what cannot be stored is not asked for
    const { gen, meta, newest } = await this.lookups.subscribe(ref, version, home); // D3, D4: the answer checked
    copies.subscribed(ref.url, home, gen, newest);
    const started = Date.now();
    const release = await this.transfers.fetch(home, meta, (bytes) => onChecked(meta, bytes)).catch((err: unknown) => {
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

  /** Drops the copies `room` named, unsubscribing at their homes. */
  private evict(room: Room, meta: VersionMeta): void {
    for (const v of room.victims) {
      const digests = this.deps.copies.drop(v.url);
      this.forget(v.url);
      this.reads.delete(v.url);
      this.deps.log.info({ event: 'resource_evicted', url: v.url, bytes: v.bytes, for: meta.url }, `${v.url}: copy dropped and unsubscribed to make room for ${meta.url} (resources.copyBudgetBytes)`);
      if (v.home) this.sendUnsubscribe(v.home, v.url, this.endSubscription(v.url, v.home));
      // Removed at once, not retired: the room is needed now (the disk's free space is checked, not the rows).
      for (const d of digests) this.deps.blobs.removeIfUnused(d);
    }
    room.evicted();
  }

  private endSubscription(url: string, home: string): number {
    return endSubscription(this.deps, url, home);
  }

  private sendUnsubscribe(home: string, url: string, gen: number): void {
    sendUnsubscribe(this.deps, home, url, gen);
  }

  private flushReads(): void {
    if (this.reads.size === 0) return;
    this.deps.copies.readAll(this.reads);
    this.reads.clear();
  }
}
