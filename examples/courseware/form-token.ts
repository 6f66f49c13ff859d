// Form tokens against cross-site request forgery (OWASP's synchronizer token pattern): each
// session gets a random token, every form the course serves carries it in a hidden field, and
// a POST without the session's token is refused. SameSite=Lax cookies alone do not cover it:
// every port of a host is the same site.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type express from 'express';

const FIELD = 'form_token';

type TokenSession = { formToken?: string };

/** The session's token (made on first use): put it in every form as `hiddenField(token)`. */
export function formToken(req: express.Request): string {
  const session = req.session as unknown as TokenSession;
  session.formToken ??= randomBytes(18).toString('base64url');
  return session.formToken;
}

export function hiddenField(token: string): string {
  return `<input type="hidden" name="${FIELD}" value="${token}">`;
}

/**
 * Was this request sent from a page of another origin, as the browser tells? OWASP's order: Fetch
 * Metadata where the browser sends it (only same-origin, or none: typed or bookmarked, passes);
 * else the Origin header against the Host. Another port of the same host is another origin; a
 * sandboxed page's Origin is "null". For forms that come before a session has a token: log in, log out.
 */
export function fromOtherOrigin(req: express.Request): boolean {
  const site = req.get('sec-fetch-site');
  if (site !== undefined) return site !== 'same-origin' && site !== 'none';
  const origin = req.get('origin');
  if (origin === undefined) return false;
  try {
    // Both through URL: case and a default port do not make a difference.
    return new URL(origin).host !== new URL(`http://${req.get('host') ?? ''}`).host;
  } catch {
    return true;
  }
}

/** Does the posted form carry the session's token (and not come from another origin, where the browser says so)? */
export function formTokenOk(req: express.Request): boolean {
  if (fromOtherOrigin(req)) return false;
  const expected = (req.session as unknown as TokenSession | undefined)?.formToken;
  const sent = ((req.body ?? {}) as Record<string, unknown>)[FIELD];
  if (typeof expected !== 'string' || typeof sent !== 'string') return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(sent);
  return a.length === b.length && timingSafeEqual(a, b);
}
