import type { Backend } from '../backend.ts';
import type { RouteConfig } from '../config.ts';
import type { ClientExchange } from '../http/client-exchange.ts';
import { stickyOf, StickyTokens } from './sticky-tokens.ts';

/** What stickiness reads and writes on a request (context.ts's RequestContext is one). */
export interface StickyRequest {
  readonly start: number;
  /** Came over HTTPS: the cookie is Secure, so a browser never sends it over plain HTTP. */
  readonly secure: boolean;
  readonly tried: Backend[];
  handoverNode: string | undefined;
  /** The back-end the sticky cookie names, if it is valid and usable. */
  stickyBackend: Backend | undefined;
  /** Set a (new or renewed) sticky cookie on the response. */
  setSticky: boolean;
  stickyToken: string | undefined;
  /** When the request's sticky cookie was issued (undefined for none, or a new one). */
  stickyIssued: number | undefined;
  /** The request's Cookie header with the sticky cookie taken out. */
  cookieRest: string | undefined;
}

/**
 * A route's cookie stickiness, around whatever its policy is: a valid cookie pins the request to
 * its back-end (a draining one still serves its sessions), any other pick gets a new cookie.
 * Source-IP stickiness needs no wrapper: it is the source_ip policy (stickyPolicy).
 */
export class Stickiness {
  private readonly tokens: StickyTokens;
  private readonly cookie: string;
  private readonly maxAgeS: number;

  constructor(cfg: RouteConfig['sticky'], backendIds: string[]) {
    this.tokens = new StickyTokens(cfg.keys, cfg.maxAgeS, backendIds);
    this.cookie = cfg.cookie;
    this.maxAgeS = cfg.maxAgeS;
  }

  /** intake: the request's sticky cookie, taken out of its Cookie header, and the back-end it names. */
  read(req: StickyRequest, ex: ClientExchange, byId: ReadonlyMap<string, Backend>): void {
    // Cookie may come split over several fields (RFC 9113 §8.2.3 gateways): read them as one.
    const cookies = ex.values('cookie');
    const sticky = stickyOf(this.tokens, this.cookie, byId, cookies.length > 1 ? cookies.join('; ') : cookies[0], req.start);
    if (!sticky) return;
    req.cookieRest = sticky.rest;
    req.stickyBackend = sticky.backend;
    req.stickyToken = sticky.token;
    req.stickyIssued = sticky.issuedMs;
    req.setSticky = sticky.renew;
  }

  /**
   * respond: the cookie of a new (or renewed) session, with Cache-Control made private at
   * `cacheControl` (its value's index in `out`, -1 for none).
   */
  respond(req: StickyRequest, backend: Backend, out: string[], cacheControl: number): void {
    if (req.setSticky) {
      const token = this.tokens.issue(backend.id, req.start);
      // A renewed session keeps counting once: under its new token, not also its old one.
      if (req.stickyToken && req.stickyIssued !== undefined) req.stickyBackend?.sessions.forget(req.stickyToken);
      req.stickyToken = token;
      req.stickyIssued = undefined;
      backend.sessions.issued(req.start);
      out.push('set-cookie', `${this.cookie}=${token}; Path=/; HttpOnly; ${req.secure ? 'Secure; ' : ''}SameSite=Lax; Max-Age=${this.maxAgeS}`);
      // A shared cache must not hand one client's session cookie to another.
      if (cacheControl < 0) out.push('cache-control', 'private');
      else if (!/private|no-store/i.test(out[cacheControl + 1])) out[cacheControl + 1] = `private, ${out[cacheControl + 1].replace(/\bpublic\b,?\s*/i, '')}`.replace(/,\s*$/, '');
    }
  }
}

/** route: the back-end the request's sticky cookie names, if it still takes it (a hand-over's landing goes where the login was handed instead). */
export function pinned(req: StickyRequest, now: number): Backend | undefined {
  const sticky = req.stickyBackend;
  if (sticky && req.handoverNode === undefined && !req.tried.includes(sticky) && sticky.usable(now)) return sticky;
  return undefined;
}

/** respond: a request of an existing session counts it as live on its back-end (draining waits for it). */
export function sessionSeen(req: StickyRequest, backend: Backend): void {
  if (req.stickyToken && req.stickyIssued !== undefined) backend.sessions.seenNow(req.stickyToken, req.stickyIssued, req.start);
}

/** The policy a route runs: its own, or source_ip when stickiness is by source IP. */
export function stickyPolicy(rc: RouteConfig): RouteConfig['policy'] {
  return rc.sticky.mode === 'source_ip' ? 'source_ip' : rc.policy;
}
