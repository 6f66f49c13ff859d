import type { CorruptRow, OutboxEntry, OutboxStore } from './outbox-store.ts';

export interface WindowItem {
  entry: OutboxEntry;
  done: boolean;
}

/**
 * The part of one peer's outbox held in memory: a bounded run of entries in seq order,
 * from the oldest not yet acknowledged. The rest waits on disk and is read a page at a
 * time (keyset: seq after the last one read) as the run drains, so a peer that is down
 * for long costs disk, not heap. `head` is the oldest entry not done, `next` the next
 * one to send; a rewind sends again from `head`.
 */
export class OutboxWindow {
  private readonly store: OutboxStore;
  private readonly peer: string;
  private readonly pageSize: number;
  private readonly cap: number;
  private readonly onCorrupt: (bad: CorruptRow) => void;
  private items: WindowItem[] = [];
  private head = 0;
  private next = 0;
  /** The highest seq read into memory or added to it; later rows are on disk only. */
  private loadedThrough = 0;
  private onDisk = false;

  /** Holds at most `cap` entries (at least the in-flight window plus two pages). */
  constructor(store: OutboxStore, peer: string, inFlight: number, onCorrupt: (bad: CorruptRow) => void) {
    this.store = store;
    this.peer = peer;
    this.pageSize = Math.max(inFlight, 1024);
    this.cap = inFlight + 2 * this.pageSize;
    this.onCorrupt = onCorrupt;
  }

  /** Rows from an earlier run wait on disk; they are read when needed. */
  resume(): void {
    this.onDisk = true;
  }

  /** A newly committed entry: kept in memory if everything before it is and there is room. */
  add(entry: OutboxEntry): void {
    // Already read by a page load that ran between its commit and this call.
    if (entry.seq <= this.loadedThrough) return;
    if (this.onDisk || this.items.length - this.head >= this.cap) {
      this.onDisk = true;
      return;
    }
    this.items.push({ entry, done: false });
    this.loadedThrough = entry.seq;
  }

  /** The next entry to send, reading from disk when the run ahead grows short. */
  takeNext(): WindowItem | undefined {
    if (this.items.length - this.next < this.pageSize) this.fill();
    while (this.next < this.items.length) {
      const item = this.items[this.next++];
      if (!item.done) return item;
    }
    return undefined;
  }

  /** Send again from the oldest entry not acknowledged. */
  rewind(): void {
    this.next = this.head;
  }

  finish(item: WindowItem): void {
    item.done = true;
    while (this.head < this.items.length && this.items[this.head].done) this.head++;
    if (this.head >= this.pageSize) this.compact();
  }

  /** The seq of the oldest entry not done; everything before it is acknowledged or set aside. */
  headSeq(): number | undefined {
    return this.items[this.head]?.entry.seq;
  }

  oldestCreated(): number | undefined {
    for (let i = this.head; i < this.items.length; i++) if (!this.items[i].done) return this.items[i].entry.created;
    if (this.onDisk) return this.store.page(this.peer, this.loadedThrough, 1).entries[0]?.created;
    return undefined;
  }

  private fill(): void {
    // A page at a time, so the copy in compact() is paid once per page, not per message.
    const room = this.cap - (this.items.length - this.head);
    if (!this.onDisk || room < this.pageSize) return;
    this.compact();
    const { entries, corrupt, lastSeq } = this.store.page(this.peer, this.loadedThrough, room);
    for (const entry of entries) this.items.push({ entry, done: false });
    for (const bad of corrupt) this.onCorrupt(bad);
    if (entries.length + corrupt.length < room) this.onDisk = false;
    this.loadedThrough = lastSeq;
  }

  private compact(): void {
    if (this.head === 0) return;
    this.items = this.items.slice(this.head);
    this.next = Math.max(0, this.next - this.head);
    this.head = 0;
  }
}
