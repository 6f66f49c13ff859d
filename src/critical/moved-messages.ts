import type { Logger } from 'pino';
import { CohortError, movedTo } from '../errors.ts';
import type { GroupCommit } from '../store/group-commit.ts';
import type { CriticalInbox } from './inbox.ts';
import type { OutboxEntry, OutboxStore } from './outbox-store.ts';
import type { PeerDelivery, Reroute } from './peer-delivery.ts';

export interface MovedMessagesDeps {
  self: string;
  store: OutboxStore;
  commit: GroupCommit;
  inbox: CriticalInbox;
  retryDelayMs: number;
  /** The delivery of a home's writes (its lane's, or its own queue's), if the table has it. */
  deliveryOf: (home: string) => PeerDelivery | undefined;
  /** Where a home's writes are queued: its lane's key, or its id. */
  homeKey: (home: string) => string;
  stopped: () => boolean;
  log: Logger;
}

/**
 * The sending side of `cohort user move` (issue 28): a message whose old home answers that its
 * user lives on another one now goes on there, once, in the order the answers came.
 */
export class MovedMessages {
  private readonly deps: MovedMessagesDeps;
  /**
   * Told when a user's writes went on to her new home and nothing older waits for the old one:
   * the access side then sends hers there at once (sooner, one of hers could pass one still
   * queued for the old home).
   */
  onMoved: ((cmd: string, args: unknown, to: string) => void) | undefined;
  /** Whether a message may go on to `to` because `from` said its user lives there now (the access side checks: a record write, to a library node of her domain). */
  movesTo: ((cmd: string, args: unknown, to: string, from: string) => boolean) | undefined;
  /** Messages moved to this node itself, applied one after the other in the order they came. */
  private selfMoves: Promise<unknown> = Promise.resolve();

  constructor(deps: MovedMessagesDeps) {
    this.deps = deps;
  }

  /**
   * A message whose user lives on another home now (issue 28, `cohort user move`): its row
   * becomes a row for the new home in one transaction (sent once there, never twice), and its
   * sender, if it still waits, hears how it went there. For this node itself, it is applied here
   * under an id made from its own (once, whatever stops in between), one after the other, then
   * its row goes. Refused (set aside, as any rejection) unless the access side says the new home
   * is one of her domain's library nodes.
   */
  async reroute(entry: OutboxEntry, to: string, waiter: Parameters<Reroute>[2], drained: () => boolean, hops = 0): Promise<void> {
    const from = entry.peer.startsWith('home:') ? entry.peer.slice('home:'.length) : entry.peer;
    const key = this.deps.homeKey(to);
    const delivery = this.deps.deliveryOf(to);
    try {
      if (hops > 2 || !this.movesTo?.(entry.cmd, entry.args, to, from)) throw new CohortError('refused', `${from} says the user of ${entry.cmd} lives on '${to}' now, which is not another library node of her domain`);
      if (to === this.deps.self) {
        const id = `${entry.mid}.moved`;
        const applied = this.selfMoves.then(() => this.applyHereOnce(id, entry));
        this.selfMoves = applied.catch(() => {});
        const reply = await applied;
        await this.deps.commit.run(() => this.deps.store.remove(entry.seq));
        waiter?.resolve({ status: 'ok', id, reply });
      } else if (!delivery) {
        throw new CohortError('no_such_host', `${entry.cmd} is for a user who moved to '${to}', which is not in the host table`);
      } else {
        const moved = await this.deps.commit.run(() => (this.deps.store.take(entry.seq) ? this.deps.store.add(key, entry.cmd, entry.args, entry.created) : undefined));
        if (moved) delivery.add(moved, waiter);
        else waiter?.resolve({ status: 'delayed', id: entry.mid });
      }
      this.deps.log.info({ event: 'critical_rerouted', mid: entry.mid, cmd: entry.cmd, from, to }, `critical message ${entry.mid} goes on to ${to}: its user lives there now`);
      if (drained()) this.onMoved?.(entry.cmd, entry.args, to);
    } catch (err) {
      const error = err instanceof CohortError ? err : new CohortError('internal', String(err));
      // Stopping: its row stays, and is sent again at the next start.
      if (error.code === 'con_lost') return waiter?.resolve({ status: 'delayed', id: entry.mid });
      // This node, her new home, says she moved on again: on from here.
      const further = movedTo(error);
      if (to === this.deps.self && further !== undefined) return this.reroute({ ...entry, peer: this.deps.self }, further, waiter, drained, hops + 1);
      this.deps.log.error({ event: 'critical_dead_letter', seq: entry.seq, mid: entry.mid, cmd: entry.cmd, code: error.code, err: error.message }, `critical message ${entry.mid} cannot go on to ${to}; moved to dead letters`);
      await this.deps.commit.run(() => this.deps.store.bury(entry.seq, error.code, error.message)).catch(() => {});
      waiter?.reject(error);
    }
  }

  /** Applies a moved message here, trying again while this node cannot take it yet (con_lost), until it stops. */
  private async applyHereOnce(id: string, entry: OutboxEntry): Promise<unknown> {
    for (let delay = this.deps.retryDelayMs; ; delay = Math.min(delay * 2, 10_000)) {
      try {
        return await this.deps.inbox.apply(this.deps.self, id, entry.cmd, entry.args);
      } catch (err) {
        if (!(err instanceof CohortError) || err.code !== 'con_lost' || this.deps.stopped()) throw err;
        await new Promise((resolve) => setTimeout(resolve, delay).unref());
      }
    }
  }
}
