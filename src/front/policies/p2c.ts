import type { Backend } from '../backend.ts';
import { loadPerWeight, type PickContext, type Policy } from './policy.ts';

/** Power of two random choices: sample two, keep the less loaded. Near least-conn, O(1). */
export class PowerOfTwo implements Policy {
  readonly name = 'p2c';
  private readonly random: () => number;

  constructor(random: () => number = Math.random) {
    this.random = random;
  }

  pick(candidates: Backend[], ctx: PickContext): Backend | undefined {
    const n = candidates.length;
    if (n <= 1) return candidates[0];
    const i = Math.floor(this.random() * n);
    let j = Math.floor(this.random() * (n - 1));
    if (j >= i) j++;
    const a = candidates[i];
    const b = candidates[j];
    return loadPerWeight(a, ctx.now) <= loadPerWeight(b, ctx.now) ? a : b;
  }
}
