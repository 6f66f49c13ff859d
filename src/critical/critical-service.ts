import type { DatabaseSync } from 'node:sqlite';
import type { Logger } from 'pino';
import { CohortError } from '../errors.ts';
import type { Peer } from '../net/peer.ts';
import type { GroupCommit } from '../store/group-commit.ts';
import { crashPoint, crashPointsEnabled } from './crash-points.ts';
import type { CriticalInbox } from './inbox.ts';
import { OutboxStore, type DeadLetter } from './outbox-store.ts';
import { PeerDelivery, type CriticalOutcome, type DeliverySettings, type Reroute } from './peer-delivery.ts';
import { MovedMessages } from './moved-messages.ts';
import type { HomeLane } from './home-lane.ts';

export interface OutboxPeerStatus {
  peer: string;
  link: string;
  depth: number;
  inFlight: number;
  oldestAgeMs: number | null;
  delivered: number;
}

/**
 * Critical messages on the sending node (seed 000: "connection deferred" and the buffer
 * of delayed messages). Every message is written to the outbox before it is sent, so a
 * sender that dies at any point still has it; one PeerDelivery per peer drains it in order.
 */
export class CriticalService {
  private readonly self: string;
  private readonly store: OutboxStore;
  private readonly commit: GroupCommit;
  private readonly inbox: CriticalInbox;
  private readonly log: Logger;
  private readonly deliveries = new Map<string, PeerDelivery>();
  private localCounter = 0;
  /** How send() ended, since this process started (read by /metrics): refused is an error thrown to the sender. */
  readonly outcomes = { ok: 0, delayed: 0, refused: 0 };

  /** The homes' lanes (issue 27), by the home: their writes go to whichever of the home and its backup holds its lease. */
  private readonly lanes = new Map<string, HomeLane>();
  private readonly settings: DeliverySettings;
  private started = false;
  private stopped = false;
  /** Messages whose user moved to another home (`cohort user move`): sent on there. */
  readonly moved: MovedMessages;
  private readonly reroute_: Reroute;

  constructor(opts: { self: string; db: DatabaseSync; commit: GroupCommit; inbox: CriticalInbox; peers: Map<string, Peer>; lanes?: HomeLane[]; settings: DeliverySettings; log: Logger }) {
    this.self = opts.self;
    this.store = new OutboxStore(opts.db);
    this.commit = opts.commit;
    this.inbox = opts.inbox;
    this.log = opts.log;
    this.settings = opts.settings;
    this.moved = new MovedMessages({
      self: opts.self,
      store: this.store,
      commit: opts.commit,
      inbox: opts.inbox,
      retryDelayMs: opts.settings.retryDelayMs,
      deliveryOf: (home) => this.deliveries.get(this.homeKey(home)),
      homeKey: (home) => this.homeKey(home),
      stopped: () => this.stopped,
      log: opts.log,
    });
    this.reroute_ = (entry, to, waiter, drained) => void this.moved.reroute(entry, to, waiter, drained);
    for (const [id, peer] of opts.peers) this.deliveries.set(id, new PeerDelivery(peer, this.store, opts.commit, opts.settings, opts.log, this.reroute_));
    for (const lane of opts.lanes ?? []) this.addLane(lane);
  }

  /** A home's lane: at start, and when a library node joins (issue 28) with a backup to follow. */
  addLane(lane: HomeLane): void {
    if (this.lanes.has(lane.home)) return;
    const delivery = new PeerDelivery(lane, this.store, this.commit, this.settings, this.log, this.reroute_);
    lane.pending = () => delivery.depth;
    this.deliveries.set(lane.id, delivery);
    this.lanes.set(lane.home, lane);
    if (this.started && !this.stopped) {
      delivery.resume(0);
      lane.start();
    }
  }

  /**
   * Checks what an earlier run left in the outbox (one pass that keeps no rows): damaged
   * rows and rows for nodes gone from the host table are reported and set aside; each
   * peer's delivery then reads its queue from disk a page at a time.
   */
  async start(): Promise<{ queued: number; corrupt: number }> {
    const { counts, corrupt } = this.store.scan();
    for (const bad of corrupt) {
      this.log.error({ event: 'outbox_corrupt', seq: bad.seq, peer: bad.peer, why: bad.why }, `outbox row ${bad.seq} is damaged (${bad.why}); moved to dead letters`);
    }
    const orphans = [...counts.keys()].filter((peer) => !this.deliveries.has(peer));
    let orphaned = 0;
    await this.commit.run(() => {
      for (const bad of corrupt) this.store.bury(bad.seq, 'bad_frame', `damaged on disk: ${bad.why}`);
      for (const peer of orphans) orphaned += this.store.buryPeer(peer, 'no_such_host', `node '${peer}' is no longer in the host table`);
    });
    let queued = 0;
    for (const [peer, delivery] of this.deliveries) {
      const n = counts.get(peer) ?? 0;
      delivery.resume(n);
      queued += n;
    }
    for (const lane of this.lanes.values()) lane.start();
    this.started = true;
    if (queued || corrupt.length) this.log.info({ event: 'outbox_loaded', queued, corrupt: corrupt.length, orphans: orphaned }, `outbox: ${queued} messages to deliver`);
    return { queued, corrupt: corrupt.length };
  }

  /** A node a newer host table added (issue 28): messages to it are kept and delivered from now on. */
  addPeer(peer: Peer): void {
    if (this.deliveries.has(peer.id)) return;
    const delivery = new PeerDelivery(peer, this.store, this.commit, this.settings, this.log, this.reroute_);
    this.deliveries.set(peer.id, delivery);
    if (this.started && !this.stopped) delivery.resume(0);
  }

  /**
   * A node a newer host table removed (issue 28): its delivery ends, senders still waiting hear
   * no_such_host, and what is queued for it is set aside as dead letters (a node leaving first
   * drains its queue: `cohort outbox` shows what remains). Says how many were set aside.
   */
  async removePeer(peer: string): Promise<number> {
    const delivery = this.deliveries.get(peer);
    if (!delivery) return 0;
    this.deliveries.delete(peer);
    const why = `node '${peer}' was removed from the host table`;
    delivery.abandon(new CohortError('no_such_host', why));
    let buried = 0;
    await this.commit.run(() => {
      buried = this.store.buryPeer(peer, 'no_such_host', why);
    });
    if (buried) this.log.warn({ event: 'outbox_peer_removed', peer, buried }, `${buried} messages for ${peer} set aside as dead letters: ${why}`);
    return buried;
  }

  /**
   * A write to a home's users: through its lane where it has one (the home or its promoted
   * backup takes it), else to the home itself.
   */
  sendToHome(home: string, cmd: string, args: unknown): Promise<CriticalOutcome> {
    return this.send(this.homeKey(home), cmd, args);
  }

  /** Where a home's writes are queued: its lane where it has one, else the home itself. */
  private homeKey(home: string): string {
    return this.lanes.get(home)?.id ?? home;
  }

  /** Messages not yet done for a home (its lane's, or its own queue's). */
  pendingFor(home: string): number {
    return this.deliveries.get(this.homeKey(home))?.depth ?? 0;
  }

  /** ok once the target applied it; delayed once it is durable here and the target is out of reach. */
  async send(to: string, cmd: string, args: unknown): Promise<CriticalOutcome> {
    try {
      const outcome = await this.sendOne(to, cmd, args);
      this.outcomes[outcome.status]++;
      return outcome;
    } catch (err) {
      this.outcomes.refused++;
      throw err;
    }
  }

  private async sendOne(to: string, cmd: string, args: unknown): Promise<CriticalOutcome> {
    if (to === this.self) {
      const id = `${this.store.incarnation}.self.${Date.now()}.${this.localCounter++}`;
      return { status: 'ok', id, reply: await this.inbox.apply(this.self, id, cmd, args) };
    }
    const delivery = this.deliveries.get(to);
    if (!delivery) throw new CohortError('no_such_host', `no node '${to}' in the host table`);
    const entry = await this.commit.run(() => this.store.add(to, cmd, args));
    if (crashPointsEnabled) crashPoint('outbox_written');
    // Removed from the host table while the row was written (issue 28): set aside, never 'delayed'.
    if (this.deliveries.get(to) !== delivery) {
      const why = `node '${to}' was removed from the host table`;
      await this.commit.run(() => this.store.bury(entry.seq, 'no_such_host', why));
      throw new CohortError('no_such_host', why);
    }
    return new Promise((resolve, reject) => delivery.add(entry, { resolve, reject }));
  }

  status(): { peers: OutboxPeerStatus[]; dead: number } {
    const now = Date.now();
    const peers = [...this.deliveries].map(([peer, d]) => {
      const oldest = d.oldestCreated();
      return { peer, link: d.linkState, depth: d.depth, inFlight: d.inFlight, oldestAgeMs: oldest === undefined ? null : now - oldest, delivered: d.delivered };
    });
    return { peers, dead: this.store.deadCount() };
  }

  deadLetters(limit: number): DeadLetter[] {
    return this.store.deadLetters(limit);
  }

  /** Queues a dead letter again, at the tail, as a new message. */
  async retry(seq: number): Promise<{ requeued: string; peer: string }> {
    const entry = await this.commit.run(() => {
      const dead = this.store.resurrect(seq);
      if (!dead) throw new CohortError('bad_args', `no dead letter ${seq}`);
      if (!this.deliveries.has(dead.peer)) throw new CohortError('no_such_host', `node '${dead.peer}' is not in the host table`);
      return this.store.add(dead.peer, dead.cmd, dead.args);
    });
    this.deliveries.get(entry.peer)!.add(entry);
    this.log.info({ event: 'dead_letter_retried', seq, mid: entry.mid }, `dead letter ${seq} queued again as ${entry.mid}`);
    return { requeued: entry.mid, peer: entry.peer };
  }

  stop(): void {
    this.stopped = true;
    for (const d of this.deliveries.values()) d.stop();
    for (const lane of this.lanes.values()) lane.stop();
  }
}
