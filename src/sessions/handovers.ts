import { RecentMap } from '../recent-map.ts';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { CohortError } from '../errors.ts';

/** What a hand-over carries: who logged in, and what her session starts with. */
export interface Handover {
  domain: string;
  user: string;
  data: Record<string, unknown>;
}

/** A hand-over token: `<node id>.<256 random bits, base64url>`; group 1 is the node (the host table's node-id rule). */
export const HANDOVER_TOKEN_PATTERN = '([A-Za-z0-9][A-Za-z0-9_-]{0,31})\\.[A-Za-z0-9_-]{43}';

/** The browser's half of a hand-over: 256 random bits, base64url, kept in a cookie by the browser that logged in. */
export const HANDOVER_NONCE_PATTERN = '[A-Za-z0-9_-]{43}';

/**
 * Where an app takes a hand-over up (`<path>?cohort_handover=<token>`): the one path on which
 * a front reads the token as a routing hint, and the path of the nonce cookie.
 */
export const HANDOVER_PATH = '/login/handover';

/** The node a hand-over token is for. */
export function tokenNode(token: string): string {
  return token.slice(0, token.indexOf('.'));
}

/** A fresh browser nonce, and the digest of it that the node taking the login keeps. */
export function newHandoverNonce(): { nonce: string; digest: string } {
  const nonce = randomBytes(32).toString('base64url');
  return { nonce, digest: nonceDigest(nonce) };
}

function nonceDigest(nonce: string): string {
  return createHash('sha256').update(nonce).digest('hex');
}

/** A target or message with every hand-over token in it replaced (for logs: a token in a log is a login). */
export function redactHandover(text: string): string {
  return text.includes('cohort_handover=') ? text.replace(/cohort_handover=[^&#\s"]*/g, 'cohort_handover=[redacted]') : text;
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
  private readonly waiting = new RecentMap<string, Handover & { until: number; nonceDigest: string }>(MAX_WAITING);
  private readonly ttlMs: number;

  constructor(ttlMs: number) {
    this.ttlMs = ttlMs;
  }

  /** A token for a login handed over to node `target`: its id first, so a front can route by it. */
  static newToken(target: string): string {
    return `${target}.${randomBytes(32).toString('base64url')}`;
  }

  /** `digest`: the SHA-256 (hex) of the nonce the browser that logged in holds. */
  offer(token: string, h: Handover, digest: string, now = Date.now()): void {
    // Oldest first in the map: the expired ones go before any live one is dropped.
    for (const [t, w] of this.waiting) {
      if (w.until >= now) break;
      this.waiting.delete(t);
    }
    this.waiting.set(token, { ...h, until: now + this.ttlMs, nonceDigest: digest });
  }

  /**
   * The login, once, by the browser that logged in (it shows the nonce: login CSRF otherwise,
   * someone else's link logging her in as him): refused if unknown here, used already, expired,
   * or shown without its nonce. That last refusal leaves the token to its own browser: one who
   * got hold of a link can neither use it nor spend it (256 bits of nonce are not guessed).
   */
  take(token: string, nonce: string, now = Date.now()): Handover {
    const h = this.waiting.get(token);
    if (!h || h.until < now) {
      this.waiting.delete(token);
      throw new CohortError('refused', 'this login hand-over is unknown here, used already or expired: log in again');
    }
    // Both digests are 32 bytes: compared in constant time.
    if (!timingSafeEqual(Buffer.from(nonceDigest(nonce), 'hex'), Buffer.from(h.nonceDigest, 'hex'))) {
      throw new CohortError('refused', 'this login hand-over was started in another browser: log in again in this one');
    }
    this.waiting.delete(token);
    return { domain: h.domain, user: h.user, data: h.data };
  }
}
