import type { Backend } from '../backend.ts';
import { Lard, LARD_DEFAULTS, type LardMode, type LardSettings, type ServerLoad } from '../../lard/lard-table.ts';
import { pathOf, type PickContext, type Policy } from './policy.ts';

/**
 * LARD or LARD/R as a front policy: load = requests in flight, capacity = weight, target = the
 * request target with its query (what a back-end's cache keys on: /cgi-bin/search?q=a and ?q=b
 * are two things to cache, and placed as one they would all land on one back-end), or the path
 * alone with `lard.query: false`.
 */
export class LardPolicy implements Policy {
  readonly name: LardMode;
  readonly lard: Lard;
  private readonly query: boolean;

  constructor(mode: LardMode, settings: LardSettings = LARD_DEFAULTS, query = true) {
    this.name = mode;
    this.lard = new Lard(mode, settings);
    this.query = query;
  }

  /** What LARD places for a request target: itself, or its path. */
  key(target: string): string {
    return this.query ? target : pathOf(target);
  }

  pick(candidates: Backend[], ctx: PickContext): Backend | undefined {
    const decision = this.lard.decide(this.key(ctx.target), toLoads(candidates), ctx.now, ctx.explain ?? true);
    if (!decision) return undefined;
    ctx.why = decision.why;
    return candidates.find((b) => b.id === decision.server);
  }

  served(target: string, bytes: number): void {
    this.lard.sized(this.key(target), bytes);
  }

  /** The paper's S for these back-ends: how many requests may be in flight to them in total. */
  admissionLimit(backends: Backend[]): number {
    return this.lard.admissionLimit(toLoads(backends));
  }
}

function toLoads(backends: Backend[]): ServerLoad[] {
  return backends.map((b) => ({ id: b.id, load: b.active, capacity: b.weight }));
}

