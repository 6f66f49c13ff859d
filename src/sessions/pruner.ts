import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { SessionStore } from './session-store.ts';

/** Expired sessions deleted per statement: each a short write of its own, never one long transaction. */
export const PRUNE_BATCH = 500;
/** How often a node looks for expired sessions and past its anonymous bound (and at its start). */
const PRUNE_EVERY_MS = 60_000;
/** How often it looks whether enough sessions were added since its last run to run again now. */
const CHECK_EVERY_MS = 1_000;

/**
 * Drops this node's expired sessions until none is left (past the store's grace period), then
 * the least recently written sessions without a login past `maxAnonymous`, in batches with a
 * turn of the event loop between them, so commands and links are served meanwhile: however many
 * sessions expired or were made since the last run, the node holds none expired and at most
 * `maxAnonymous` anonymous ones after it (a client that makes a session per request fills the
 * bound, never the disk; logged-in sessions are never dropped for room).
 */
export class SessionPruner {
  private readonly store: SessionStore;
  private readonly log: Logger;
  private readonly batch: number;
  private readonly maxAnonymous: number;
  private timer: NodeJS.Timeout | undefined;
  /** The store's `created` at the start of the last run, and when that was. */
  private createdAtRun = 0;
  private lastRunAt = 0;
  private running: Promise<number> | undefined;
  private stopped = false;

  constructor(store: SessionStore, log: Logger, opts: { maxAnonymous: number; batch?: number }) {
    this.store = store;
    this.log = log;
    this.maxAnonymous = opts.maxAnonymous;
    this.batch = opts.batch ?? PRUNE_BATCH;
  }

  start(): void {
    void this.run();
    // A run every minute, and sooner once a tenth of the anonymous bound was added since the last:
    // a flood of new sessions overshoots the bound by at most about a tenth of it.
    const slack = Math.max(100, Math.floor(this.maxAnonymous / 10));
    this.timer = setInterval(() => {
      if (Date.now() - this.lastRunAt >= PRUNE_EVERY_MS || this.store.created - this.createdAtRun >= slack) void this.run();
    }, CHECK_EVERY_MS);
    this.timer.unref();
  }

  /** Ends the runs: a batch in progress is finished, no later one starts. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  /** One run (or the one in progress): resolves with how many sessions it dropped. */
  run(): Promise<number> {
    if (!this.running) {
      this.createdAtRun = this.store.created;
      this.lastRunAt = Date.now();
    }
    this.running ??= this.pruneAll().finally(() => (this.running = undefined));
    return this.running;
  }

  private async pruneAll(): Promise<number> {
    let expired = 0;
    let anonymous = 0;
    try {
      expired = await this.inBatches(Infinity, (n) => this.store.pruneExpired(Date.now(), n));
      const over = this.store.anonymousCount() - this.maxAnonymous;
      if (over > 0) {
        anonymous = await this.inBatches(over, (n) => this.store.dropOldestAnonymous(n));
        this.log.warn({ event: 'anonymous_sessions_dropped', dropped: anonymous, max: this.maxAnonymous }, `dropped the ${anonymous} least recently written sessions without a login: past sessions.maxAnonymous (${this.maxAnonymous})`);
      }
    } catch (err) {
      this.log.error({ event: 'session_prune_failed', err: (err as Error).message, expired, anonymous }, 'pruning sessions failed; the next run tries again');
    }
    if (expired) this.log.debug({ event: 'sessions_pruned', dropped: expired }, `dropped ${expired} expired sessions`);
    return expired + anonymous;
  }

  /** Drops up to `total` with `drop(batchSize)` until a batch comes short, a turn of the event loop between batches. */
  private async inBatches(total: number, drop: (limit: number) => number): Promise<number> {
    let dropped = 0;
    while (!this.stopped && dropped < total) {
      const limit = Math.min(this.batch, total - dropped);
      const n = drop(limit);
      dropped += n;
      if (n < limit) break;
      await yieldToEventLoop();
    }
    return dropped;
  }
}
