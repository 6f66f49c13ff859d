import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { CohortError } from '../errors.ts';

// The registry of a node's app instances (seed 001's address.text): the node is its only
// writer; anyone reads it with the `app.registry` command, and may wait for its next change.

export type InstanceState = 'starting' | 'ready' | 'dying' | 'stopped';

export interface InstanceRecord {
  /** `<node>.<slot>.<generation>`: one process, never reused while the node runs. */
  id: string;
  slot: number;
  state: InstanceState;
  host: string;
  /** Null while the slot waits out a crash-loop back-off. */
  port: number | null;
  pid: number | null;
  startedAt: number | null;
  /** Requests the fronts report having sent it. */
  requests: number;
  /** How often this slot's process has been replaced (crash, hang, recycle, reload). */
  restarts: number;
  /** Live sessions, as the app reports them (X-Cohort-Sessions), or null. */
  sessions: number | null;
  rssBytes: number | null;
  /** Why the slot's last process ended, or why it could not start. */
  lastError: string | null;
  /** When a slot in back-off tries again. */
  retryAt: number | null;
}

export interface RegistrySnapshot {
  node: string;
  /** Changes whenever the node restarts: versions of different boots do not compare. */
  boot: string;
  version: number;
  /** The command line the pool runs. */
  command: string[];
  /** A pool-wide problem the operator must see (a command that cannot start), or null. */
  problem: string | null;
  reload: { state: 'idle' | 'running' | 'done' | 'failed'; replaced: number; total: number; error: string | null };
  instances: InstanceRecord[];
}

/** A long poll answers within this long, well inside a link's request timeout. */
export const MAX_WAIT_MS = 8000;

/** The arguments of every command that serves a Versioned value by long poll (app.registry, maintenance.get). */
export const longPollArgs = z.strictObject({
  after: z.number().int().min(0).optional(),
  boot: z.string().max(64).optional(),
  waitMs: z.number().int().min(0).max(MAX_WAIT_MS).default(0),
});

/**
 * Waiters on the next version are bounded: past this, a poll is refused (rate_limited), never
 * answered at once with the version it has (a follower would ask again at once: a hot loop).
 */
export const MAX_WAITERS = 1024;

/** A value with a version, and callers waiting for the version after the one they have. */
export class Versioned<T> {
  readonly boot = randomBytes(6).toString('base64url');
  version = 1;
  private waiters = new Set<() => void>();
  private readonly read: () => T;

  constructor(read: () => T) {
    this.read = read;
  }

  /** Something changed: wake every waiter. */
  bump(): void {
    this.version++;
    const waiting = this.waiters;
    this.waiters = new Set();
    for (const wake of waiting) wake();
  }

  /** The value now if its version is not `after` (or a boot other than `boot`), else at its next change or after waitMs. */
  async next(after: number | undefined, boot: string | undefined, waitMs: number): Promise<T> {
    if (after === undefined || after !== this.version || (boot !== undefined && boot !== this.boot) || waitMs <= 0) return this.read();
    if (this.waiters.size >= MAX_WAITERS) throw new CohortError('rate_limited', `${MAX_WAITERS} long polls wait here already: poll again after a back-off`);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        resolve();
      }, waitMs);
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.add(wake);
    });
    return this.read();
  }

  /** How many callers wait for the next version now. */
  get waiting(): number {
    return this.waiters.size;
  }

  /**
   * After a bump: resolves once `count` callers wait again (each has read the new version
   * and asked for the next), or after timeoutMs. Followers poll only through this wait.
   */
  async rejoined(count: number, timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.waiters.size < count && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  }

  /** Wakes every waiter now (the node stops). */
  close(): void {
    this.bump();
  }
}
