import type { Backend } from '../backend.ts';
import { loadPerWeight, type PickContext, type Policy } from './policy.ts';

/** Fewest requests in flight per unit of weight; ties go round the candidates in turn. */
export class LeastConn implements Policy {
  readonly name = 'least_conn';
  private turn = 0;

  pick(candidates: Backend[], ctx: PickContext): Backend | undefined {
    const n = candidates.length;
    if (n === 0) return undefined;
    const start = this.turn++ % n;
    let best = candidates[start];
    let bestLoad = loadPerWeight(best, ctx.now);
    for (let i = 1; i < n; i++) {
      const b = candidates[(start + i) % n];
      const load = loadPerWeight(b, ctx.now);
      if (load < bestLoad) {
        best = b;
        bestLoad = load;
      }
    }
    return best;
  }
}
