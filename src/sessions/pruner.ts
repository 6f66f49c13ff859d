import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { SessionStore } from './session-store.ts';

/** Expired sessions deleted per statement: each a short write of its own, never one long transaction. */
export const PRUNE_BATCH = 500;
/** How often a node looks for expired sessions (and at its start). */
const PRUNE_EVERY_MS = 60_000;

/**
 * Drops this node's expired sessions until none is left (past the store's grace period), in
 * batches with a turn of the event loop between them, so commands and links are served
 * meanwhile: however many sessions expired since the last run, they are all gone after it.
 */
export class SessionPruner {
  private readonly store: SessionStore;
  private readonly log: Logger;
  private readonly batch: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private stopped = false;

  constructor(store: SessionStore, log: Logger, batch = PRUNE_BATCH) {
    this.store = store;
    this.log = log;
    this.batch = batch;
  }

  start(): void {
    void this.run();
    this.timer = setInterval(() => void this.run(), PRUNE_EVERY_MS);
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
    this.running ??= this.pruneAll().finally(() => (this.running = undefined));
    return this.running;
  }

  private async pruneAll(): Promise<number> {
    let dropped = 0;
    try {
      while (!this.stopped) {
        const n = this.store.pruneExpired(Date.now(), this.batch);
        dropped += n;
        if (n < this.batch) break;
        await yieldToEventLoop();
      }
    } catch (err) {
      this.log.error({ event: 'session_prune_failed', err: (err as Error).message, dropped }, 'pruning expired sessions failed; the next run tries again');
    }
    if (dropped) this.log.debug({ event: 'sessions_pruned', dropped }, `dropped ${dropped} expired sessions`);
    return dropped;
  }
}
