import type { Backend } from '../backend.ts';
import { hash32, pathOf, type PickContext, type Policy } from './policy.ts';

/** Ring points a back-end gets per unit of weight (bench:lard gives HAProxy's servers as many). */
export const CHASH_POINTS_PER_WEIGHT = 64;

/**
 * Consistent hashing of the URL with bounded loads (Mirrokni et al., as in HAProxy's
 * hash-balance-factor): a URL goes to the first back-end clockwise on the ring whose
 * in-flight count stays within loadFactor × the average, so a hot URL spills to the
 * next back-end instead of overloading one. Locality for caches (seed 003's LARD idea).
 */
export class ConsistentHash implements Policy {
  readonly name = 'chash';
  private readonly loadFactor: number;
  private ring: { point: number; backend: Backend }[] = [];
  private readonly members = new Set<Backend>();

  constructor(loadFactor: number) {
    this.loadFactor = loadFactor;
  }

  pick(candidates: Backend[], ctx: PickContext): Backend | undefined {
    if (candidates.length === 0) return undefined;
    this.build(candidates);
    let total = 1;
    for (const b of candidates) total += b.active;
    const bound = Math.ceil((this.loadFactor * total) / candidates.length);
    const allowed = new Set(candidates);
    // The path, not the query (as HAProxy's balance uri and LARD do): one page, one place.
    const start = this.search(hash32(pathOf(ctx.target)));
    for (let i = 0; i < this.ring.length; i++) {
      const b = this.ring[(start + i) % this.ring.length].backend;
      if (allowed.has(b) && b.active < bound) return b;
    }
    return candidates[0];
  }

  private build(candidates: Backend[]): void {
    // The ring holds every candidate ever offered: a back-end's points stay put while it
    // is briefly out, so its URLs come back to it.
    if (candidates.every((b) => this.members.has(b))) return;
    for (const b of candidates) this.members.add(b);
    const known = new Map(this.ring.map((r) => [r.backend.id, r.backend]));
    for (const b of candidates) known.set(b.id, b);
    this.ring = [...known.values()]
      .flatMap((b) => Array.from({ length: CHASH_POINTS_PER_WEIGHT * b.weight }, (_, i) => ({ point: hash32(`${b.id}#${i}`), backend: b })))
      .sort((x, y) => x.point - y.point);
  }

  private search(h: number): number {
    let lo = 0;
    let hi = this.ring.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ring[mid].point < h) lo = mid + 1;
      else hi = mid;
    }
    return lo % this.ring.length;
  }
}
