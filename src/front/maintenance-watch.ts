import type { Logger } from 'pino';
import { z } from 'zod';
import { followLongPoll, POLL_BACKOFF, POLL_WAIT_MS } from './long-poll.ts';
import type { CallNode } from '../client/node-connection.ts';

export interface WatchedMaintenance {
  on: boolean;
  message: string;
  at: number;
}


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
  private readonly call: CallNode;
  private readonly node: string;
  private readonly log: Logger;
  private current: WatchedMaintenance = { on: false, message: '', at: 0 };
  private loop: { stop: () => void; first: Promise<void> } | undefined;

  constructor(call: CallNode, node: string, log: Logger) {
    this.call = call;
    this.node = node;
    this.log = log;
  }

  /** Read on every request: the object itself (never changed; a change replaces it), no copy. */
  get state(): Readonly<WatchedMaintenance> {
    return this.current;
  }

  /** Resolves once the node has answered (or failed) for the first time. */
  start(): Promise<void> {
    if (this.loop) return this.loop.first;
    this.loop = followLongPoll({
      call: this.call,
      node: this.node,
      command: 'maintenance.get',
      schema: reply,
      waitMs: POLL_WAIT_MS,
      backoff: POLL_BACKOFF,
      answer: (r) => this.update(r.state),
      failed: (message, first) => {
        if (first) this.log.warn({ event: 'maintenance_watch_failed', node: this.node, err: message }, `cannot follow ${this.node}'s maintenance mode; keeping the last state (${this.current.on ? 'on' : 'off'})`);
      },
      recovered: () => this.log.info({ event: 'maintenance_watch_recovered', node: this.node }, `following ${this.node}'s maintenance mode again`),
    });
    return this.loop.first;
  }

  /** Ends the loop, without a timer left; an answer still in flight is ignored. */
  stop(): void {
    this.loop?.stop();
    this.loop = undefined;
  }

  private update(next: WatchedMaintenance): void {
    const previous = this.current;
    if (previous.on === next.on && previous.message === next.message && previous.at === next.at) return;
    this.current = { on: next.on, message: next.message, at: next.at };
    try {
      this.onChange?.(this.state, previous);
    } catch (err) {
      this.log.error({ event: 'maintenance_onchange_failed', err: String(err) }, 'maintenance onChange callback threw');
    }
  }
}
