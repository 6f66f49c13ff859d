import type { Logger } from 'pino';
import type { CriticalService } from '../critical/critical-service.ts';
import { CohortError } from '../errors.ts';
import { Backoff } from '../net/backoff.ts';
import type { BlobStore } from './blob-store.ts';
import type { CopyStore } from './copy-store.ts';
import { storedMeta } from './peer-answers.ts';
import type { VersionMeta } from './published-store.ts';
import { endSubscription, sendUnsubscribe } from './unsubscribe.ts';

export interface CopyUpdatesDeps {
  blobs: BlobStore;
  copies: CopyStore;
  critical: CriticalService;
  settings: { readWindowMs: number };
  /** A version's bytes from its home (copy-transfers.ts); resolves with the release of its hold on them. */
  fetch: (home: string, meta: VersionMeta) => Promise<() => void>;
  /** The URL's copies changed: what was served for it must be looked up again. */
  forget: (url: string) => void;
  /** Reads of copies not yet written to the database (the replicator's), by URL. */
  reads: Map<string, number>;
  log: Logger;
}

/** A fetch of a newer version that failed (home down) is tried again after this long, doubling. */
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 60_000;

/**
 * U2-U6: an update notice from a copy's home refreshes a copy read within the window (fetched
 * like a first copy, retried with back-off while the home is away), else drops it and
 * unsubscribes. The copy held is served meanwhile.
 */
export class CopyUpdates {
  private readonly deps: CopyUpdatesDeps;
  /** Fetches of announced versions under way, by URL. */
  private readonly inflight = new Set<string>();
  private readonly retries = new Map<string, { timer: NodeJS.Timeout; backoff: Backoff }>();
  private stopped = false;

  constructor(deps: CopyUpdatesDeps) {
    this.deps = deps;
  }

  /** Newer versions announced before a restart and not fetched yet. */
  resume(): void {
    for (const sub of this.deps.copies.pendingList()) this.fetchPending(sub.url);
  }

  stop(): void {
    this.stopped = true;
    for (const r of this.retries.values()) clearTimeout(r.timer);
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
      const gen = endSubscription(this.deps, meta.url, from);
      this.later(() => sendUnsubscribe(this.deps, from, meta.url, gen));
      return { action: 'unsubscribed' };
    }
    copies.newest(meta.url, meta.version);
    this.deps.forget(meta.url);
    const held = copies.copy(meta.url);
    if (!held) {
      // Subscribed, and the first copy is still on its way: this version follows it.
      copies.setPending(meta.url, meta);
      this.later(() => this.fetchPending(meta.url));
      return { action: 'fetching' };
    }
    if (held.version >= meta.version) return { action: 'current' };
    // Reads reach the database every few seconds; a copy fetched counts as read then.
    const lastRead = Math.max(sub.lastRead, held.fetchedAt, this.deps.reads.get(meta.url) ?? 0);
    if (Date.now() - lastRead <= settings.readWindowMs) {
      copies.setPending(meta.url, meta);
      log.info({ event: 'resource_update', url: meta.url, version: meta.version }, `${meta.url}: version ${meta.version} announced, fetching`);
      this.later(() => this.fetchPending(meta.url));
      return { action: 'fetching' };
    }
    // U3a/U3b: not read within the window: the copy goes, and the subscription with it.
    const digests = copies.drop(meta.url);
    this.deps.forget(meta.url);
    const gen = endSubscription(this.deps, meta.url, from);
    this.deps.reads.delete(meta.url);
    log.info({ event: 'resource_dropped', url: meta.url, lastRead }, `${meta.url}: not read within the window, copy dropped and unsubscribed`);
    this.later(() => {
      for (const d of digests) this.deps.blobs.retire(d);
      sendUnsubscribe(this.deps, from, meta.url, gen);
    });
    return { action: 'dropped' };
  }

  /** U4-U6: the announced newer version, fetched like a first copy; retried with back-off while the home is away. */
  private fetchPending(url: string): void {
    if (this.stopped || this.inflight.has(url)) return;
    const run = (async (): Promise<void> => {
      const { copies } = this.deps;
      const sub = copies.subscription(url);
      if (!sub || !sub.subscribed || sub.pending === 0 || !sub.pendingMeta) throw new CohortError('not_found', 'nothing pending');
      // What the home's notice announced (a critical message from it) is what the bytes must match.
      const meta = storedMeta(sub.pendingMeta);
      const release = await this.deps.fetch(sub.home, meta);
      let dropped: string[];
      try {
        dropped = copies.put(meta, true);
      } finally {
        release();
      }
      this.deps.forget(url);
      if (copies.subscription(url)?.pending === meta.version) copies.setPending(url, null);
      for (const d of dropped) this.deps.blobs.retire(d);
      this.deps.log.info({ event: 'resource_updated', url, version: meta.version }, `${url}: now version ${meta.version}`);
    })();
    this.inflight.add(url);
    run.then(
      () => {
        this.inflight.delete(url);
        this.retries.delete(url);
        if ((this.deps.copies.subscription(url)?.pending ?? 0) > 0) this.fetchPending(url); // a newer one came meanwhile
      },
      (err: unknown) => {
        this.inflight.delete(url);
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

  /** Work a critical message's handler starts, once its transaction has committed. */
  private later(work: () => void): void {
    setImmediate(() => {
      if (!this.stopped) work();
    });
  }
}
