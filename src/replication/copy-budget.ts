import { CohortError } from '../errors.ts';
import type { CopyStore } from './copy-store.ts';
import { mib } from './free-space.ts';

/** Copies looked at, least recently read first, to make room for one new copy. */
const MAX_VICTIMS = 1000;

type Victim = { url: string; home: string; bytes: number };

export interface Room {
  /**
   * Copies to drop (and unsubscribe) for it, least recently read first: dropped once the new
   * copy's bytes are here (a transfer that fails drops nothing); until then no other
   * reservation counts on them.
   */
  victims: Victim[];
  /** Say the victims were dropped. */
  evicted: () => void;
  /** Ends the reservation: call once the copy's row is added, or the transfer failed. */
  release: () => void;
}

/**
 * A node's byte budget for copies of others' resources (resources.copyBudgetBytes). Any user
 * may publish and any client may ask an access node for anything, so without it copies fill
 * the disk. Room for a new copy is made by dropping the least recently read copies; bytes of
 * transfers under way are reserved, so transfers at once cannot together pass the budget.
 */
export class CopyBudget {
  private readonly copies: CopyStore;
  readonly budgetBytes: number;
  /** Transfers under way: id -> url, bytes and the copies to drop for it (at most resources.maxTransfers entries). */
  private readonly reserved = new Map<number, { url: string; bytes: number; victims: Victim[] }>();
  private nextId = 1;

  constructor(copies: CopyStore, budgetBytes: number) {
    this.copies = copies;
    this.budgetBytes = budgetBytes;
  }

  /** Bytes of copies held (but those to be dropped for transfers under way), and reserved for those transfers. */
  used(): { heldBytes: number; reservedBytes: number } {
    let reservedBytes = 0;
    let doomedBytes = 0;
    for (const r of this.reserved.values()) {
      reservedBytes += r.bytes;
      for (const v of r.victims) doomedBytes += v.bytes;
    }
    return { heldBytes: this.copies.bytes() - doomedBytes, reservedBytes };
  }

  /**
   * Reserves `bytes` for a copy of `url`, naming the copies to drop for it to fit (never `url`
   * itself, nor one a transfer is under way for). Throws insufficient_storage when it cannot fit.
   * Reads must be up to date in the database (the caller flushes them first).
   */
  reserve(url: string, bytes: number): Room {
    if (bytes > this.budgetBytes) throw new CohortError('insufficient_storage', `a copy of ${url} (${mib(bytes)}) is larger than this node's copy budget of ${mib(this.budgetBytes)} (resources.copyBudgetBytes)`);
    const { heldBytes, reservedBytes } = this.used();
    let over = heldBytes + reservedBytes + bytes - this.budgetBytes;
    const victims: Room['victims'] = [];
    if (over > 0) {
      const busy = new Set([url, ...[...this.reserved.values()].flatMap((r) => [r.url, ...r.victims.map((v) => v.url)])]);
      for (const c of this.copies.leastRecentlyRead(MAX_VICTIMS)) {
        if (busy.has(c.url)) continue;
        victims.push(c);
        over -= c.bytes;
        if (over <= 0) break;
      }
      if (over > 0) throw new CohortError('insufficient_storage', `no room for a copy of ${url} (${mib(bytes)}): this node's copy budget of ${mib(this.budgetBytes)} (resources.copyBudgetBytes) is taken by copies being transferred`);
    }
    const id = this.nextId++;
    const reservation = { url, bytes, victims };
    this.reserved.set(id, reservation);
    return { victims, evicted: () => void (reservation.victims = []), release: () => void this.reserved.delete(id) };
  }
}
