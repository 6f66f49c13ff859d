import type { Backend } from '../backend.ts';
import { hash32, type PickContext, type Policy } from './policy.ts';

/**
 * Source-IP affinity (ldirectord's persistence, seed 004) by rendezvous hashing: each
 * client IP ranks the back-ends by hash(ip, id) × weight; the top ready one wins. When a
 * back-end leaves, only its clients move.
 */
export class SourceIp implements Policy {
  readonly name = 'source_ip';

  pick(candidates: Backend[], ctx: PickContext): Backend | undefined {
    let best: Backend | undefined;
    let bestScore = -Infinity;
    for (const b of candidates) {
      // -w / ln(u) is weighted rendezvous hashing's score for u uniform in (0, 1).
      const u = (hash32(`${ctx.clientIp}|${b.id}`) + 1) / 4294967297;
      const score = -b.weight / Math.log(u);
      if (score > bestScore) {
        best = b;
        bestScore = score;
      }
    }
    return best;
  }
}
