import type { Logger } from 'pino';
import { CohortError } from '../errors.ts';
import type { Peer } from '../net/peer.ts';
import type { GroupCommit } from '../store/group-commit.ts';
import { crashPoint, crashPointsEnabled } from './crash-points.ts';
import type { OutboxEntry, OutboxStore } from './outbox-store.ts';

export interface DeliverySettings {
  /** Critical messages in flight to one peer at once. */
  window: number;
  /** How long a sender waits for the peer's ack before it hears 'delayed'. */
  waitMs: number;
  /** Redials of a down peer while senders wait, spaced retryDelayMs, 2×, 4×, ... */
  retries: number;
  retryDelayMs: number;
}

export type CriticalOutcome = { status: 'ok'; id: string; reply: unknown } | { status: 'delayed'; id: string };

interface Waiter {
  resolve: (outcome: CriticalOutcome) => void;
  reject: (err: CohortError) => void;
  timer?: NodeJS.Timeout;
}

interface Item {
  entry: OutboxEntry;
  done: boolean;
  waiter?: Waiter;
}

/**
 * Sends one peer's critical messages in outbox order, many in flight, and removes each
 * row only after the peer acknowledged it. When the link drops, sending starts again
 * from the oldest unacknowledged message once the link is back: the receiver applies
 * a message once and answers repeats from its record, so a resend is harmless and
 * order per peer holds. A message the peer rejects for good goes to the dead letters.
 */
export class PeerDelivery {
  private readonly peer: Peer;
  private readonly store: OutboxStore;
  private readonly commit: GroupCommit;
  private readonly settings: DeliverySettings;
  private readonly log: Logger;
  private items: Item[] = [];
  /** Index of the oldest item not yet done; `next` is the next one to send. */
  private head = 0;
  private next = 0;
  private inflight = 0;
  /** Bumped whenever sending restarts from the head; replies of older rounds are ignored. */
  private generation = 0;
  private live = 0;
  private pokes = 0;
  private pokeTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  delivered = 0;

  constructor(peer: Peer, store: OutboxStore, commit: GroupCommit, settings: DeliverySettings, log: Logger) {
    this.peer = peer;
    this.store = store;
    this.commit = commit;
    this.settings = settings;
    this.log = log.child({ peer: peer.id });
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
    for (let i = this.head; i < this.items.length; i++) if (!this.items[i].done) return this.items[i].entry.created;
    return undefined;
  }

  /** Queues a message (already durable); with a waiter, its sender hears ok / delayed / the rejection. */
  add(entry: OutboxEntry, waiter?: Waiter): void {
    const item: Item = { entry, done: false, waiter };
    if (waiter && this.peer.state === 'down' && this.pokes >= this.settings.retries) {
      // This outage already had its redials: say so now instead of making every sender wait.
      item.waiter = undefined;
      waiter.resolve({ status: 'delayed', id: entry.mid });
    } else if (waiter) {
      waiter.timer = setTimeout(() => {
        item.waiter = undefined;
        waiter.resolve({ status: 'delayed', id: entry.mid });
      }, this.settings.waitMs);
    }
    this.items.push(item);
    this.live++;
    this.pump();
  }

  stop(): void {
    clearTimeout(this.pokeTimer);
    clearTimeout(this.retryTimer);
    for (const item of this.items) if (item.waiter) clearTimeout(item.waiter.timer);
  }

  private restart(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.generation++;
    this.next = this.head;
    this.inflight = 0;
    this.pokes = 0;
    this.pump();
  }

  private pump(): void {
    if (this.peer.state !== 'up') return this.pokeLater();
    if (this.next < this.head) this.next = this.head;
    while (this.inflight < this.settings.window && this.next < this.items.length) {
      const item = this.items[this.next++];
      if (!item.done) this.send(item);
    }
  }

  private send(item: Item): void {
    const gen = this.generation;
    this.inflight++;
    this.peer.request(item.entry.cmd, item.entry.args, { mid: item.entry.mid }).then(
      (reply) => this.onAck(item, reply, gen),
      (err: unknown) => this.onFail(item, err, gen),
    );
    if (crashPointsEnabled) setImmediate(() => crashPoint('sent'));
  }

  private onAck(item: Item, reply: unknown, gen: number): void {
    if (gen === this.generation) this.inflight--;
    if (!item.done) {
      if (crashPointsEnabled) crashPoint('acked');
      this.finish(item);
      this.delivered++;
      const { seq } = item.entry;
      this.commit.run(() => this.store.remove(seq)).catch((err) => this.log.error({ event: 'outbox_remove_failed', seq, err: String(err) }, 'cannot remove an acknowledged message'));
      item.waiter?.resolve({ status: 'ok', id: item.entry.mid, reply });
    }
    this.pump();
  }

  private onFail(item: Item, err: unknown, gen: number): void {
    const error = err instanceof CohortError ? err : new CohortError('internal', String(err));
    if (error.code !== 'con_lost') {
      // The peer heard it and said no: retrying would only repeat the answer.
      if (gen === this.generation) this.inflight--;
      if (!item.done) this.reject(item, error);
      return this.pump();
    }
    if (gen !== this.generation) return; // that round was already abandoned
    this.generation++;
    this.inflight = 0;
    this.next = this.head;
    if (this.peer.state === 'up') {
      // The link is up but a reply did not come in time: try again after a pause.
      this.retryTimer ??= setTimeout(() => this.restart(), this.settings.retryDelayMs);
    } else {
      this.pokeLater();
    }
  }

  private reject(item: Item, error: CohortError): void {
    this.finish(item);
    const { seq, mid, cmd } = item.entry;
    this.log.error({ event: 'critical_dead_letter', seq, mid, cmd, code: error.code, err: error.message }, `critical message ${mid} to ${this.peer.id} rejected; moved to dead letters`);
    this.commit.run(() => this.store.bury(seq, error.code, error.message)).catch((e) => this.log.error({ event: 'bury_failed', seq, err: String(e) }, 'cannot move to dead letters'));
    item.waiter?.reject(error);
  }

  private finish(item: Item): void {
    item.done = true;
    this.live--;
    if (item.waiter) clearTimeout(item.waiter.timer);
    while (this.head < this.items.length && this.items[this.head].done) this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.next = Math.max(0, this.next - this.head);
      this.head = 0;
    }
  }

  /** While messages wait and the peer is down, redial a few times instead of waiting out the back-off. */
  private pokeLater(): void {
    if (this.live === 0 || this.pokeTimer || this.pokes >= this.settings.retries) return;
    this.pokeTimer = setTimeout(() => {
      this.pokeTimer = undefined;
      this.pokes++;
      this.peer.reconnectNow();
      this.pokeLater();
    }, this.settings.retryDelayMs * 2 ** this.pokes);
    this.pokeTimer.unref();
  }
}
