import { ownString } from '../own-string.ts';
import { RecentMap } from '../recent-map.ts';

/** Buckets of the issued-sessions counter over one idle window. */
const BUCKETS = 60;

/**
 * The sticky sessions one back-end holds, for draining ("DYING: wait until its sessions are
 * gone"). A session is live while it was seen within the idle window, or has a WebSocket open.
 *
 * Memory follows live sessions, never requests, whatever clients do:
 * - a session only issued (its cookie has not come back) is counted in a ring of buckets,
 *   not stored: a client that never returns its cookie costs a counter, not an entry;
 * - a session whose cookie came back is kept by token with its last sighting, in a Map in
 *   that order (re-inserted when seen), so expiry walks only the expired head;
 * - at most `maxTracked` tokens are kept (the least recently seen go first): a client that
 *   collects valid cookies to replay cannot grow the map past that;
 * - tunnels are counted per token, at most one entry per open tunnel (capped by the
 *   front's connection limit);
 * - a token is kept as a copy of its own (own-string.ts), made once when it is first kept: the
 *   request's token is a piece of its Cookie header, which it would otherwise keep alive.
 */
export class SessionTracker {
  /** Token -> its own copy and when it was last seen, least recently seen first, at most maxTracked. */
  private readonly seen: RecentMap<string, { token: string; at: number }>;
  private readonly tunnels = new Map<string, number>();
  private readonly issuedCount = new Int32Array(BUCKETS);
  private readonly issuedEpoch = new Float64Array(BUCKETS).fill(-1);
  private idleMs: number;
  private width: number;
  private lastPrune = 0;

  constructor(idleMs: number, maxTracked: number) {
    this.idleMs = idleMs;
    this.seen = new RecentMap(maxTracked);
    this.width = Math.max(1, idleMs / BUCKETS);
  }

  /** Tokens forgotten because of the cap: while above 0, the live count is a lower bound. */
  get evicted(): number {
    return this.seen.evicted;
  }

  configure(idleMs: number, maxTracked: number): void {
    if (idleMs !== this.idleMs) {
      this.idleMs = idleMs;
      this.width = Math.max(1, idleMs / BUCKETS);
      this.issuedEpoch.fill(-1);
    }
    this.seen.resize(maxTracked);
  }

  /** A new session's cookie went out, issued at `issuedAt` (the token's own time). */
  issued(issuedAt: number): void {
    const epoch = this.epoch(issuedAt);
    const i = epoch % BUCKETS;
    if (this.issuedEpoch[i] !== epoch) {
      this.issuedEpoch[i] = epoch;
      this.issuedCount[i] = 0;
    }
    this.issuedCount[i]++;
  }

  /** A request came with a valid cookie issued at `issuedAt`. */
  seenNow(token: string, issuedAt: number, now: number): void {
    if (!this.seen.has(token)) {
      // First sighting: it moves from the issued counter to the map.
      const epoch = this.epoch(issuedAt);
      const i = epoch % BUCKETS;
      if (this.issuedEpoch[i] === epoch && this.issuedCount[i] > 0) this.issuedCount[i]--;
    }
    this.touch(token, now);
  }

  /** A session's token was replaced by a new one (renewal): the old one no longer counts. */
  forget(token: string): void {
    this.seen.delete(token);
  }

  tunnelOpened(token: string): void {
    const n = this.tunnels.get(token);
    // Setting a key already there keeps the key the map has: only a new one is copied.
    this.tunnels.set(n === undefined ? ownString(token) : token, (n ?? 0) + 1);
  }

  tunnelClosed(token: string, now: number): void {
    const n = this.tunnels.get(token) ?? 0;
    if (n <= 1) this.tunnels.delete(token);
    else this.tunnels.set(token, n - 1);
    this.touch(token, now);
  }

  /** Marks a token seen now: moved to the end (newest), under the cap, expired ones pruned. */
  private touch(token: string, now: number): void {
    let entry = this.seen.get(token);
    if (entry) entry.at = now;
    else entry = { token: ownString(token), at: now };
    this.seen.set(entry.token, entry); // keyed by its own copy, never the request's
    if (now - this.lastPrune >= 1000) this.prune(now);
  }

  /** The bucket of a time, at the tokens' resolution (whole seconds). */
  private epoch(ms: number): number {
    return Math.floor((Math.floor(ms / 1000) * 1000) / this.width);
  }

  /** Sessions seen (or issued) within the idle window, or with a WebSocket open. */
  live(now: number): number {
    this.prune(now);
    let n = this.seen.size + this.tunnels.size;
    for (const token of this.tunnels.keys()) if (this.seen.has(token)) n--;
    const current = this.epoch(now);
    for (let i = 0; i < BUCKETS; i++) if (this.issuedEpoch[i] > current - BUCKETS) n += this.issuedCount[i];
    return n;
  }

  /** Entries held (for the bound's tests and the status page). */
  get tracked(): number {
    return this.seen.size + this.tunnels.size;
  }

  private prune(now: number): void {
    this.lastPrune = now;
    for (const [token, { at }] of this.seen) {
      if (now - at <= this.idleMs) break;
      this.seen.delete(token);
    }
  }
}
