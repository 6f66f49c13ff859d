import { statfsSync } from 'node:fs';
import { CohortError } from '../errors.ts';

/** statfs is a system call: read at most this often (a burst of publishes reads it once). */
const READ_EVERY_MS = 1000;

/**
 * A node's free-space floor (resources.minFreeBytes) under its blob folder. Below it, publishes
 * and new copies are refused with 507 Insufficient Storage (RFC 4918 §11.5: the server cannot
 * store the representation), so resources never take the last of the disk that SQLite needs
 * for records, outboxes and sessions. Copies already here are still served.
 */
export class FreeSpace {
  private readonly dir: string;
  private readonly minFreeBytes: number;
  private readonly statfs: (dir: string) => { bavail: number; bsize: number };
  private readAt = 0;
  private freeBytes = Number.POSITIVE_INFINITY;

  constructor(dir: string, minFreeBytes: number, statfs: (dir: string) => { bavail: number; bsize: number } = statfsSync) {
    this.dir = dir;
    this.minFreeBytes = minFreeBytes;
    this.statfs = statfs;
  }

  /** Free bytes for an unprivileged writer (bavail, not bfree: the root reserve is not ours). */
  free(): number {
    const now = Date.now();
    if (now - this.readAt >= READ_EVERY_MS) {
      const fs = this.statfs(this.dir);
      this.freeBytes = fs.bavail * fs.bsize;
      this.readAt = now;
    }
    return this.freeBytes;
  }

  /** Throws insufficient_storage when storing `bytes` more would leave less than the floor. */
  check(what: string, bytes = 0): void {
    const free = this.free();
    if (free - bytes >= this.minFreeBytes) return;
    throw new CohortError('insufficient_storage', `${what} refused: ${mib(free)} free on this node's disk${bytes ? `, ${mib(bytes)} more asked` : ''}, below its floor of ${mib(this.minFreeBytes)} (resources.minFreeBytes)`);
  }

  /** What the node's status says while it is below the floor (null: not below). */
  problem(): string | null {
    const free = this.free();
    if (free >= this.minFreeBytes) return null;
    return `disk below its free-space floor: ${mib(free)} free, floor ${mib(this.minFreeBytes)} (resources.minFreeBytes): publishes and new copies are refused (507)`;
  }

  /** For `cohort resources`: free bytes and the floor. */
  state(): { freeBytes: number; minFreeBytes: number } {
    return { freeBytes: this.free(), minFreeBytes: this.minFreeBytes };
  }
}

export function mib(bytes: number): string {
  return `${(bytes / 1024 ** 2).toFixed(bytes < 10 * 1024 ** 2 ? 1 : 0)} MiB`;
}
