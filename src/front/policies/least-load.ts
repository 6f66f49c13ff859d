import type { Backend } from '../backend.ts';
import { LeastConn } from './least-conn.ts';
import type { PickContext, Policy } from './policy.ts';

/** The nodes' load figures (percent of their configured 100%), refreshed elsewhere. */
export type LoadFigures = (nodeId: string) => number | undefined;

/**
 * Least load (seed 000's loadavg as a percentage): the back-end whose node reports the
 * lowest load, a figure that lags by its refresh interval, so ties within 5 points and
 * back-ends without a figure are settled by fewest requests in flight.
 */
export class LeastLoad implements Policy {
  readonly name = 'least_load';
  private readonly loads: LoadFigures;
  private readonly fallback = new LeastConn();

  constructor(loads: LoadFigures) {
    this.loads = loads;
  }

  pick(candidates: Backend[], ctx: PickContext): Backend | undefined {
    let lowest = Infinity;
    const figures = candidates.map((b) => {
      const load = b.node === undefined ? undefined : this.loads(b.node);
      if (load !== undefined && load < lowest) lowest = load;
      return load;
    });
    if (lowest === Infinity) return this.fallback.pick(candidates, ctx);
    const near = candidates.filter((_b, i) => figures[i] !== undefined && figures[i]! <= lowest + 5);
    return this.fallback.pick(near, ctx);
  }
}
