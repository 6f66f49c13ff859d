import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { CohortError } from '../errors.ts';
import type { Channel, RequestExtras } from './channel.ts';
import { Backoff } from './backoff.ts';
import { dialPeer, type DialOptions } from './dial.ts';
import { withTimeout } from '../timeout.ts';

export type PeerState = 'down' | 'connecting' | 'up';

export interface PeerStatus {
  id: string;
  state: PeerState;
  /** When the current state began (ms since the epoch). */
  since: number;
  /** Failed dials since the link was last up. */
  attempts: number;
  lastError?: string;
  inFlight: number;
  /** The host table version the peer said it holds in its last hello to us (issue 28). */
  tableVersion?: number;
}

/**
 * Our outbound link to one peer (seed 000's lonc child): dials, keeps the link up, and
 * redials with capped, jittered back-off. reconnectNow() skips the wait, which is what a
 * peer's announcement (seed: USR1) triggers. Events: 'state' (PeerState).
 */
export class Peer extends EventEmitter {
  readonly id: string;
  private readonly dialOpts: DialOptions;
  private readonly log: Logger;
  private readonly backoff: Backoff;
  private channel: Channel | undefined;
  private dialing: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Asked to dial now while a dial was under way: if that one fails, the next goes at once. */
  private redialAtOnce = false;
  /** What is not derived: failed dials and in-flight requests are read when asked. */
  private status: Pick<PeerStatus, 'state' | 'since' | 'lastError'>;

  constructor(dialOpts: DialOptions, log: Logger) {
    super();
    this.id = dialOpts.peer.id;
    this.dialOpts = dialOpts;
    this.log = log.child({ peer: this.id });
    this.backoff = new Backoff(dialOpts.link.backoffMinMs, dialOpts.link.backoffMaxMs);
    this.status = { state: 'down', since: Date.now() };
  }

  start(): void {
    this.connect();
  }

  /** Tests only (a partition, COHORT_TEST_HOOKS): drops the link and dials no more until resumed. */
  pause(on: boolean): void {
    if (on) return this.stop();
    this.stopped = false;
    this.backoff.reset();
    this.connect();
  }

  get state(): PeerState {
    return this.status.state;
  }

  /** What the peer last said of its host table: its hello or heartbeat, an offer it made or took (NodeLinks and NodeHosts set it). */
  heardTable: { version: number; hash: string } | undefined;

  snapshot(): PeerStatus {
    return { id: this.id, ...this.status, attempts: this.status.state === 'up' ? 0 : this.backoff.attempts, inFlight: this.channel?.inFlight ?? 0, ...(this.heardTable ? { tableVersion: this.heardTable.version } : {}) };
  }

  /** One honest try: sent on the live link, or con_lost at once. A dial under way is awaited. */
  async request(cmd: string, args?: unknown, extra?: RequestExtras): Promise<unknown> {
    if (!this.channel && this.dialing) await this.dialing;
    const channel = this.channel;
    if (!channel) throw new CohortError('con_lost', `no link to ${this.id}${this.status.lastError ? ` (${this.status.lastError})` : ''}`);
    return channel.request(cmd, args, extra);
  }

  /**
   * The round trip of one `ping` on the live link (seconds): the frame there, the peer's
   * command dispatch, the reply back. Undefined when the link is not up or no reply came
   * within `timeoutMs`. Never dials: a probe must not change what it measures.
   */
  async roundTrip(timeoutMs: number): Promise<number | undefined> {
    const channel = this.channel;
    if (!channel || this.status.state !== 'up') return undefined;
    const started = performance.now();
    try {
      await withTimeout(channel.request('ping'), timeoutMs);
      return (performance.now() - started) / 1000;
    } catch {
      return undefined;
    }
  }

  /** Dial now, even if we had backed off for a long time (the peer said it is back). */
  reconnectNow(): void {
    if (this.stopped || this.channel) return;
    // A dial made before the peer came back (stalled in its backlog, say) may fail after its hello:
    // the news is kept, or we would wait out a long back-off with the peer up.
    if (this.dialing) return void (this.redialAtOnce = true);
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.backoff.reset();
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.channel?.close();
  }

  /**
   * Dials, unless a link is up or a dial is under way: one link per peer. Two at once (a delivery's
   * poke racing start(), say) would make the peer close one as replaced, and messages sent on it
   * would be resent after later ones that went on the other: out of order.
   */
  private connect(): void {
    if (this.stopped || this.channel || this.dialing) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.setState('connecting');
    // The signed table goes in the hello while this peer has not said it holds ours (it may not know this node yet: issue 28).
    const own = this.dialOpts.tableVersion?.();
    const behind = own !== undefined && (this.heardTable === undefined || this.heardTable.version < own.version);
    this.dialing = dialPeer({ ...this.dialOpts, tableToBring: behind ? this.dialOpts.tableToBring : undefined }).then(
      (channel) => {
        this.dialing = undefined;
        if (this.stopped) {
          channel.close();
          return this.setState('down');
        }
        this.channel = channel;
        this.redialAtOnce = false;
        this.status.lastError = undefined;
        channel.once('close', (reason?: Error) => {
          if (this.channel === channel) this.onLinkClosed(reason);
        });
        // Closed before we listened (a bad frame in the welcome's own chunk): never a link that is up,
        // and a peer that does this each time is redialed with back-off, not at once.
        if (channel.closed) {
          this.channel = undefined;
          this.status.lastError = 'the link closed as it was welcomed';
          return this.scheduleRetry();
        }
        this.setState('up');
        this.log.info({ event: 'link_up' }, `link to ${this.id} up`);
      },
      (err: Error) => {
        this.dialing = undefined;
        this.status.lastError = err.message;
        if (this.stopped) return this.setState('down');
        if (this.redialAtOnce) {
          this.redialAtOnce = false;
          this.backoff.reset();
          this.connect();
        } else {
          this.scheduleRetry();
        }
        // Identity faults are the operator's business; refused connections are routine.
        const level = err instanceof CohortError && err.code === 'refused' ? 'warn' : 'debug';
        this.log[level]({ event: 'dial_failed', err: err.message, attempts: this.backoff.attempts }, `cannot link to ${this.id}`);
      },
    );
  }

  private onLinkClosed(reason?: Error): void {
    this.channel = undefined;
    this.status.lastError = reason?.message ?? 'link closed';
    this.log.warn({ event: 'link_down', reason: this.status.lastError }, `link to ${this.id} down`);
    if (this.stopped) return this.setState('down');
    // A link that lived a while redials at once, so a blip heals without a wait; one that
    // dies right after its welcome backs off, so a flapping peer is not hammered.
    if (Date.now() - this.status.since >= 1000) {
      this.backoff.reset();
      this.connect();
    } else {
      this.scheduleRetry();
    }
  }

  private scheduleRetry(): void {
    this.setState('down');
    if (this.stopped) return;
    const delay = this.backoff.next();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connect();
    }, delay);
    this.retryTimer.unref();
  }

  private setState(state: PeerState): void {
    if (this.status.state === state) return;
    this.status.state = state;
    this.status.since = Date.now();
    this.emit('state', state);
  }
}
