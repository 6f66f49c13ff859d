import { RecentMap } from '../recent-map.ts';
import { randomBytes } from 'node:crypto';
import { CohortError } from '../errors.ts';

/** What a hand-over carries: who logged in, and what her session starts with. */
export interface Handover {
  domain: string;
  user: string;
  data: Record<string, unknown>;
}

/** A hand-over token: `<node id>.<256 random bits, base64url>`; group 1 is the node (the host table's node-id rule). */
export const HANDOVER_TOKEN_PATTERN = '([A-Za-z0-9][A-Za-z0-9_-]{0,31})\\.[A-Za-z0-9_-]{43}';

/** The node a hand-over token is for. */
export function tokenNode(token: string): string {
  return token.slice(0, token.indexOf('.'));
}

/** Hand-overs waiting at a node past this many: the oldest is dropped (a flood costs a bound, not memory). */
const MAX_WAITING = 10_000;

/**
 * Logins handed over to this node by an overloaded one (seed 000's spare servers), waiting to
 * be taken up by the user's next request here. A token is 256 random bits, registered here by
 * the node that checked the password, over the mutually authenticated link; it is good once,
 * for a short while, and only on this node.
 */
export class Handovers {
  private readonly waiting = new RecentMap<string, Handover & { until: number }>(MAX_WAITING);
  private readonly ttlMs: number;

  constructor(ttlMs: number) {
    this.ttlMs = ttlMs;
  }

  /** A token for a login handed over to node `target`: its id first, so a front can route by it. */
  static newToken(target: string): string {
    return `${target}.${randomBytes(32).toString('base64url')}`;
  }

  offer(token: string, h: Handover, now = Date.now()): void {
    // Oldest first in the map: the expired ones go before any live one is dropped.
    for (const [t, w] of this.waiting) {
      if (w.until >= now) break;
      this.waiting.delete(t);
    }
    this.waiting.set(token, { ...h, until: now + this.ttlMs });
  }

  /** The login, once: refused if unknown here, used already, or expired. */
  take(token: string, now = Date.now()): Handover {
    const h = this.waiting.get(token);
    this.waiting.delete(token);
    if (!h || h.until < now) throw new CohortError('refused', 'this login hand-over is unknown here, used already or expired: log in again');
    return { domain: h.domain, user: h.user, data: h.data };
  }
}
