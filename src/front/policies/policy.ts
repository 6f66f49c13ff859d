import type { Backend } from '../backend.ts';

/** What a policy may look at besides the candidates. */
export interface PickContext {
  /** The request target (path and query): what content-aware policies hash. */
  target: string;
  clientIp: string;
  now: number;
  /** A policy may explain its pick here (a short human sentence, e.g. for an X-Cohort-Route header). */
  why?: string;
  /** Whether anyone reads `why` (false: a policy need not build it). */
  explain?: boolean;
}

/**
 * A balancing policy (HAProxy's lb_*.c, Caddy's Select): picks one of the candidates,
 * which the proxy has already filtered to ready back-ends not yet tried for this request.
 */
export interface Policy {
  readonly name: string;
  pick(candidates: Backend[], ctx: PickContext): Backend | undefined;
  /** A back-end answered `target` whole with 200 and `bytes` of body (LARD places targets by their bytes). */
  served?(target: string, bytes: number): void;
}

/** FNV-1a, 32 bits: fast and well spread for short keys. */
export function hash32(text: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // final avalanche (murmur3 fmix32), so near keys land far apart
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** Load per unit of weight: what least-connections style policies compare. */
export function loadPerWeight(b: Backend, now: number): number {
  return (b.active + 1) / b.effectiveWeight(now);
}

/** A request target's path, without the query: what content-aware policies place (one page, one place). */
export function pathOf(target: string): string {
  const q = target.indexOf('?');
  return q === -1 ? target : target.slice(0, q);
}
