import type { Logger } from 'pino';
import { CohortError } from '../errors.ts';
import { parseMid } from './outbox-store.ts';

interface Hold {
  mid: string;
  incarnation: string;
  seq: number;
}

/**
 * Per-sender order on the receiving side when a commit fails, or a storage error (full or
 * failing disk) fails a message's job. Such a message applied nothing and hears con_lost,
 * but the sender's next messages are already on the wire and would commit ahead of it.
 * So once a message from P fails, P's later messages (higher outbox seq) are refused with
 * con_lost until that one is settled: applied, or rejected for good (the sender then
 * buries it). The sender resends from its oldest unacknowledged message, so the held one
 * comes first. Only ids made by a sender's outbox (`<incarnation>.<seq>`) are ordered; a
 * new incarnation (a wiped sender) lifts the hold. So does a message whose `oldest` (the
 * sender's oldest message still pending for us) is past the held one: the sender set that
 * one aside (a damaged row, a dead letter) and will never send it again.
 *
 * Called from inside the group commit's jobs and from their rejections, which run before
 * the next batch starts (microtasks drain between two setImmediate callbacks).
 */
export class InboxHolds {
  private readonly holds = new Map<string, Hold>();
  private readonly log: Logger;

  constructor(log: Logger) {
    this.log = log;
  }

  /**
   * In the job, before the effect: throws con_lost while an earlier message from `from`
   * is unsettled. `oldest` is the sender's oldest message still pending for us (undefined
   * from a sender that does not say); `applied(mid)` says whether the held one is in the
   * inbox after all.
   */
  admit(from: string, mid: string, oldest: number | undefined, applied: (mid: string) => boolean): void {
    const hold = this.holds.get(from);
    const id = hold && parseMid(mid);
    if (!hold || !id) return;
    if (id.incarnation !== hold.incarnation) return this.lift(from, 'new_incarnation');
    // The sender is past the held message (set aside as damaged, or buried): it will never
    // come again, and waiting for it would refuse everything after it for good. An honest
    // sender's oldest pending message is never after the one it sends: a claim beyond it is ignored.
    if (oldest !== undefined && oldest > hold.seq && oldest <= id.seq) return this.lift(from, 'sender_moved_on');
    if (id.seq <= hold.seq) return;
    if (applied(hold.mid)) return this.lift(from, 'settled');
    throw new CohortError('con_lost', `held: message ${hold.mid} from ${from} is not applied yet, and ${mid} comes after it`);
  }

  /** In the job, once the message is applied or rejected for good. A failed commit holds it again. */
  settled(from: string, mid: string): void {
    if (this.holds.get(from)?.mid === mid) this.lift(from, 'applied');
  }

  /** The commit that held this message failed, or its job hit a storage error: hold everything from `from` after it. */
  failed(from: string, mid: string): void {
    const id = parseMid(mid);
    if (!id) return;
    const hold = this.holds.get(from);
    if (hold && hold.incarnation === id.incarnation && hold.seq <= id.seq) return;
    if (!hold) this.log.warn({ event: 'critical_hold', peer: from, mid }, `${mid} failed to commit: holding ${from}'s critical messages after it until it is applied`);
    this.holds.set(from, { mid, ...id });
  }

  private lift(from: string, why: string): void {
    this.log.info({ event: 'critical_hold_lifted', peer: from, mid: this.holds.get(from)?.mid, why }, `${from}'s critical messages flow again`);
    this.holds.delete(from);
  }
}
