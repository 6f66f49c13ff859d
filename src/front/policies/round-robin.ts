import type { Backend } from '../backend.ts';
import type { PickContext, Policy } from './policy.ts';

/**
 * Smooth weighted round-robin (nginx's): each pick adds every candidate's weight to its
 * score and takes the highest, which then pays the total back. Weights 5:1:1 give
 * a a b a c a a, not a a a a a b c.
 */
export class RoundRobin implements Policy {
  readonly name = 'round_robin';
  private readonly score = new WeakMap<Backend, number>();

  pick(candidates: Backend[], ctx: PickContext): Backend | undefined {
    let best: Backend | undefined;
    let bestScore = -Infinity;
    let total = 0;
    for (const b of candidates) {
      const w = b.effectiveWeight(ctx.now);
      const s = (this.score.get(b) ?? 0) + w;
      this.score.set(b, s);
      total += w;
      if (s > bestScore) {
        best = b;
        bestScore = s;
      }
    }
    if (best) this.score.set(best, bestScore - total);
    return best;
  }
}
