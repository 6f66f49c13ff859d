import type { Logger } from 'pino';
import { z } from 'zod';

export interface WatchedMaintenance {
  on: boolean;
  message: string;
  at: number;
}

/** How long one long poll may wait at the node (its maximum). */
const WAIT_MS = 8000;
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 5000;

// The node's answer is checked like any input: a bad one is an error, and the state stays.
const reply = z.object({
  boot: z.string().max(64),
  version: z.number().int().min(0),
  state: z.object({ on: z.boolean(), message: z.string().max(10_000), at: z.number() }),
});

/**
 * A front's view of the cluster's maintenance mode: follows one node's copy with the
 * `maintenance.get` long poll, so a change reaches the front at once without polling.
 * On errors it keeps the last state it knew (a node restart does not end maintenance)
 * and tries again after a back-off.
 */
export class MaintenanceWatch {
  /** Called after each change of `state` (its on, message or at). */
  onChange: ((state: WatchedMaintenance, previous: WatchedMaintenance) => void) | undefined;
  private readonly call: (to: string, command: string, args: unknown) => Promise<unknown>;
  private readonly node: string;
  private readonly log: Logger;
  private current: WatchedMaintenance = { on: false, message: '', at: 0 };
  private running = false;
  /** A loop from before a stop() and start() must not run on beside the new one. */
  private generation = 0;
  private timer: NodeJS.Timeout | undefined;
  private wakeBackoff: (() => void) | undefined;

  constructor(call: (to: string, command: string, args: unknown) => Promise<unknown>, node: string, log: Logger) {
    this.call = call;
    this.node = node;
    this.log = log;
  }

  get state(): WatchedMaintenance {
    return { ...this.current };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.loop(++this.generation);
  }

  /** Ends the loop: clears its back-off timer now; an answer still in flight is ignored. */
  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.wakeBackoff?.();
  }

  private live(generation: number): boolean {
    return this.running && this.generation === generation;
  }

  private async loop(generation: number): Promise<void> {
    let after: number | undefined;
    let boot: string | undefined;
    let backoff = BACKOFF_MIN_MS;
    let failing = false;
    while (this.live(generation)) {
      try {
        const raw = await this.call(this.node, 'maintenance.get', after === undefined ? {} : { after, boot, waitMs: WAIT_MS });
        if (!this.live(generation)) return;
        const r = reply.parse(raw);
        if (failing) this.log.info({ event: 'maintenance_watch_recovered', node: this.node }, `following ${this.node}'s maintenance mode again`);
        failing = false;
        backoff = BACKOFF_MIN_MS;
        after = r.version;
        boot = r.boot;
        this.update(r.state);
      } catch (err) {
        if (!this.live(generation)) return;
        if (!failing) this.log.warn({ event: 'maintenance_watch_failed', node: this.node, err: String(err) }, `cannot follow ${this.node}'s maintenance mode; keeping the last state (${this.current.on ? 'on' : 'off'})`);
        failing = true;
        after = undefined; // ask for the state at once when the node answers again
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
      }
    }
  }

  private update(next: WatchedMaintenance): void {
    const previous = this.current;
    if (previous.on === next.on && previous.message === next.message && previous.at === next.at) return;
    this.current = { on: next.on, message: next.message, at: next.at };
    this.log.info({ event: 'maintenance_changed', on: next.on, at: next.at }, `maintenance mode ${next.on ? 'on' : 'off'}`);
    try {
      this.onChange?.(this.state, previous);
    } catch (err) {
      this.log.error({ event: 'maintenance_onchange_failed', err: String(err) }, 'maintenance onChange callback threw');
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wakeBackoff = () => {
        clearTimeout(this.timer);
        this.timer = undefined;
        this.wakeBackoff = undefined;
        resolve();
      };
      this.timer = setTimeout(this.wakeBackoff, ms);
    });
  }
}
