import type { Logger } from 'pino';
import { CohortError, movedTo } from '../errors.ts';
import { Backoff } from '../net/backoff.ts';
import type { RequestExtras } from '../net/channel.ts';
import type { PeerState } from '../net/peer.ts';

/** What a delivery needs of its link: a peer, or a home's lane (home-lane.ts). */
export interface DeliveryLink {
  readonly id: string;
  readonly state: PeerState;
  request(cmd: string, args?: unknown, extra?: RequestExtras): Promise<unknown>;
  reconnectNow(): void;
  on(event: 'state', listener: (state: PeerState) => void): unknown;
}
import type { GroupCommit } from '../store/group-commit.ts';
import { crashPoint, crashPointsEnabled } from './crash-points.ts';
import type { CorruptRow, OutboxEntry, OutboxStore } from './outbox-store.ts';
import { OutboxWindow, type WindowItem } from './outbox-window.ts';

export interface DeliverySettings {
  /** Critical messages in flight to one peer at once. */
  window: number;
  /** How long a sender waits for the peer's ack before it hears 'delayed'. */
  waitMs: number;
  /** Redials of a down peer while senders wait, spaced retryDelayMs, 2×, 4×, ... */
  retries: number;
  retryDelayMs: number;
}

/** Moves a message whose user lives on `to` now; `drained`: nothing more waits for this peer (a sender may then send her writes to `to` without passing any). */
export type Reroute = (entry: OutboxEntry, to: string, waiter: Waiter | undefined, drained: () => boolean) => void;

export type CriticalOutcome = { status: 'ok'; id: string; reply: unknown } | { status: 'delayed'; id: string };

export interface Waiter {
  resolve: (outcome: CriticalOutcome) => void;
  reject: (err: CohortError) => void;
  timer?: NodeJS.Timeout;
}

/**
 * Sends one peer's critical messages in outbox order, many in flight, and removes each
 * row only after the peer acknowledged it. When the link drops, sending starts again
 * from the oldest unacknowledged message once the link is back: the receiver applies
 * a message once and answers repeats from its record, so a resend is harmless and
 * order per peer holds. A message the peer rejects for good goes to the dead letters.
 * Only a bounded window of the queue is in memory (OutboxWindow); the rest is on disk.
 */
export class PeerDelivery {
  private readonly peer: DeliveryLink;
  private readonly store: OutboxStore;
  private readonly commit: GroupCommit;
  private readonly settings: DeliverySettings;
  private readonly log: Logger;
  private readonly window: OutboxWindow;
  /** Senders still waiting to hear ok, by outbox seq (each for waitMs at most). */
  private readonly waiters = new Map<number, Waiter>();
  private inflight = 0;
  /** Bumped whenever sending restarts from the head; replies of older rounds are ignored. */
  private generation = 0;
  /** Messages queued for this peer and not yet done, on disk or in memory. */
  private live = 0;
  /** Redials while senders wait: retryDelayMs, doubling; its attempts count them against settings.retries. */
  private readonly pokes: Backoff;
  private pokeTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  delivered = 0;
  /** Where a message goes whose user lives on another home now (its row moves there); without it, it is set aside. */
  private readonly reroute: Reroute | undefined;

  constructor(peer: DeliveryLink, store: OutboxStore, commit: GroupCommit, settings: DeliverySettings, log: Logger, reroute?: Reroute) {
    this.peer = peer;
    this.reroute = reroute;
    this.store = store;
    this.commit = commit;
    this.settings = settings;
    this.log = log.child({ peer: peer.id });
    this.pokes = new Backoff(settings.retryDelayMs, Infinity, null);
    this.window = new OutboxWindow(store, peer.id, settings.window, (bad) => this.buryDamaged(bad));
    peer.on('state', (state: string) => {
      if (state === 'up') this.restart();
    });
  }

  get depth(): number {
    return this.live;
  }

  get linkState(): string {
    return this.peer.state;
  }

  get inFlight(): number {
    return this.inflight;
  }

  oldestCreated(): number | undefined {
    return this.live > 0 ? this.window.oldestCreated() : undefined;
  }

  /** At start: `queued` messages from an earlier run wait on disk. */
  resume(queued: number): void {
    if (queued === 0) return;
    this.live += queued;
    this.window.resume();
    this.pump();
  }

  /** Queues a message (already durable); with a waiter, its sender hears ok / delayed / the rejection. */
  add(entry: OutboxEntry, waiter?: Waiter): void {
    if (waiter && this.peer.state === 'down' && this.pokes.attempts >= this.settings.retries) {
      // This outage already had its redials: say so now instead of making every sender wait.
      waiter.resolve({ status: 'delayed', id: entry.mid });
    } else if (waiter) {
      waiter.timer = setTimeout(() => {
        this.waiters.delete(entry.seq);
        waiter.resolve({ status: 'delayed', id: entry.mid });
      }, this.settings.waitMs);
      this.waiters.set(entry.seq, waiter);
    }
    this.window.add(entry);
    this.live++;
    this.pump();
  }

  stop(): void {
    clearTimeout(this.pokeTimer);
    clearTimeout(this.retryTimer);
    for (const waiter of this.waiters.values()) clearTimeout(waiter.timer);
  }

  /** The peer left the host table (issue 28): nothing more is sent, and whoever waits hears why. */
  abandon(err: CohortError): void {
    this.stop();
    for (const waiter of this.waiters.values()) waiter.reject(err);
    this.waiters.clear();
    this.generation++;
    this.live = 0;
  }

  private restart(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.generation++;
    this.window.rewind();
    this.inflight = 0;
    this.pokes.reset();
    this.pump();
  }

  private pump(): void {
    if (this.peer.state !== 'up') return this.pokeLater();
    while (this.inflight < this.settings.window) {
      const item = this.window.takeNext();
      if (!item) break;
      this.send(item);
    }
  }

  private send(item: WindowItem): void {
    const gen = this.generation;
    this.inflight++;
    // oldest tells the peer which earlier messages it will never see again (InboxHolds).
    this.peer.request(item.entry.cmd, item.entry.args, { mid: item.entry.mid, oldest: this.window.headSeq() }).then(
      (reply) => this.onAck(item, reply, gen),
      (err: unknown) => this.onFail(item, err, gen),
    );
    if (crashPointsEnabled) setImmediate(() => crashPoint('sent'));
  }

  private onAck(item: WindowItem, reply: unknown, gen: number): void {
    if (gen === this.generation) this.inflight--;
    if (!item.done) {
      if (crashPointsEnabled) crashPoint('acked');
      const { seq, mid } = item.entry;
      this.finish(item)?.resolve({ status: 'ok', id: mid, reply });
      this.delivered++;
      this.commit.run(() => this.store.remove(seq)).catch((err) => this.log.error({ event: 'outbox_remove_failed', seq, err: String(err) }, 'cannot remove an acknowledged message'));
    }
    this.pump();
  }

  private onFail(item: WindowItem, err: unknown, gen: number): void {
    const error = err instanceof CohortError ? err : new CohortError('internal', String(err));
    if (error.code !== 'con_lost') {
      // The peer heard it and said no: retrying would only repeat the answer.
      if (gen === this.generation) this.inflight--;
      const to = movedTo(error);
      // Her home moved (issue 28): the message goes on to the new one, in the order the replies came (the old home answers in send order);
      // a reply of a round already abandoned is not that order, and the message is sent again.
      if (to !== undefined && this.reroute) {
        if (!item.done && gen === this.generation) this.reroute(item.entry, to, this.finish(item), () => this.live === 0);
      } else if (!item.done) this.reject(item, error);
      return this.pump();
    }
    if (gen !== this.generation) return; // that round was already abandoned
    this.generation++;
    this.inflight = 0;
    this.window.rewind();
    if (this.peer.state === 'up') {
      // The link is up but a reply did not come in time: try again after a pause.
      this.retryTimer ??= setTimeout(() => this.restart(), this.settings.retryDelayMs);
    } else {
      this.pokeLater();
    }
  }

  private reject(item: WindowItem, error: CohortError): void {
    const { seq, mid, cmd } = item.entry;
    const waiter = this.finish(item);
    this.log.error({ event: 'critical_dead_letter', seq, mid, cmd, code: error.code, err: error.message }, `critical message ${mid} to ${this.peer.id} rejected; moved to dead letters`);
    this.commit.run(() => this.store.bury(seq, error.code, error.message)).catch((e) => this.log.error({ event: 'bury_failed', seq, err: String(e) }, 'cannot move to dead letters'));
    waiter?.reject(error);
  }

  /** A row found damaged while paging in (start-up checks the rest): never sent, set aside. */
  private buryDamaged(bad: CorruptRow): void {
    this.live--;
    this.log.error({ event: 'outbox_corrupt', seq: bad.seq, peer: bad.peer, why: bad.why }, `outbox row ${bad.seq} is damaged (${bad.why}); moved to dead letters`);
    this.commit.run(() => this.store.bury(bad.seq, 'bad_frame', `damaged on disk: ${bad.why}`)).catch((e) => this.log.error({ event: 'bury_failed', seq: bad.seq, err: String(e) }, 'cannot move to dead letters'));
  }

  /** Marks the item done; returns its waiting sender, if one still waits. */
  private finish(item: WindowItem): Waiter | undefined {
    this.window.finish(item);
    this.live--;
    const waiter = this.waiters.get(item.entry.seq);
    if (!waiter) return undefined;
    clearTimeout(waiter.timer);
    this.waiters.delete(item.entry.seq);
    return waiter;
  }

  /** While messages wait and the peer is down, redial a few times instead of waiting out the back-off. */
  private pokeLater(): void {
    if (this.live === 0 || this.pokeTimer || this.pokes.attempts >= this.settings.retries) return;
    this.pokeTimer = setTimeout(() => {
      this.pokeTimer = undefined;
      this.pokes.attempts++; // counted when it happens: senders hear 'delayed' once the last redial is done
      this.peer.reconnectNow();
      this.pokeLater();
    }, this.pokes.delay());
    this.pokeTimer.unref();
  }
}
