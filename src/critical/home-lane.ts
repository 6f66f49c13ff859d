import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { RequestExtras } from '../net/channel.ts';
import type { Peer, PeerState } from '../net/peer.ts';
import { withTimeout } from '../timeout.ts';

/** How often a lane with messages waiting asks the home and its backup which holds the lease. */
const ASK_EVERY_MS = 1000;

const holder = z.object({ holds: z.boolean(), epoch: z.number().int().min(0) });

/** The outbox key of a home's lane: not a node id (those have no ':'). */
export function laneKey(home: string): string {
  return `home:${home}`;
}

/**
 * The link a home's writes take (issue 27): to the home, or to its backup while the backup
 * holds the home's lease (it was promoted). A PeerDelivery drains the lane's own outbox queue
 * over it, in order; the messages carry the lane (the receiver keeps their ids and order apart)
 * and keep their ids whichever node takes them, so one the home applied before it died is
 * answered from its applied id at the backup, not applied again. While messages wait, it asks
 * both which holds the lease, once a second, and moves to it.
 */
export class HomeLane extends EventEmitter {
  readonly id: string;
  readonly home: string;
  private readonly members: Peer[];
  private target: Peer;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private asking = false;
  /** The lane's messages not yet done (set once its delivery exists). */
  pending: () => number = () => 0;

  constructor(home: Peer, backup: Peer, log: Logger) {
    super();
    this.home = home.id;
    this.id = laneKey(home.id);
    this.members = [home, backup];
    this.target = home;
    this.log = log;
    for (const m of this.members) m.on('state', (s: PeerState) => m === this.target && this.emit('state', s));
  }

  get state(): PeerState {
    return this.target.state;
  }

  start(): void {
    this.timer = setInterval(() => {
      if (this.pending() > 0) void this.ask();
    }, ASK_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  request(cmd: string, args?: unknown, extra?: RequestExtras): Promise<unknown> {
    return this.target.request(cmd, args, { ...extra, lane: this.home });
  }

  reconnectNow(): void {
    this.target.reconnectNow();
  }

  /** Asks both which holds the lease; moves to the one that does (the later epoch, if both say so). */
  private async ask(): Promise<void> {
    if (this.asking) return;
    this.asking = true;
    try {
      const answers = await Promise.all(
        this.members.map(async (m) => {
          if (m.state !== 'up') return undefined;
          const out = holder.safeParse(await withTimeout(m.request('home.term.holder', { home: this.home }), ASK_EVERY_MS).catch(() => undefined));
          return out.success && out.data.holds ? { peer: m, epoch: out.data.epoch } : undefined;
        }),
      );
      const best = answers.filter((a) => a !== undefined).sort((a, b) => b.epoch - a.epoch)[0];
      if (!best || best.peer === this.target) return;
      this.log.warn({ event: 'home_lane_moved', home: this.home, from: this.target.id, to: best.peer.id, epoch: best.epoch }, `${this.home}'s writes now go to ${best.peer.id} (it holds ${this.home}'s lease at epoch ${best.epoch})`);
      this.target = best.peer;
      this.emit('state', this.target.state);
    } finally {
      this.asking = false;
    }
  }
}
