import { createSecureContext, type SecureContext } from 'node:tls';
import type { AcmeItems } from '../../../acme/acme-items.ts';
import type { IssuedPem } from '../../../acme/issued-certificate.ts';
import { RecentMap } from '../../../recent-map.ts';

/** How long a challenge's answer is kept in the node network: an order that takes longer has failed. */
const CHALLENGE_TTL_MS = 10 * 60_000;
/** Answers this front fetched from the node network are kept this briefly: the CA's few checks come within it, a retried order's new answer soon after. */
const FETCHED_TTL_MS = 2000;
/** Bound on fetched answers kept: a flood of made-up tokens cannot fill memory. */
const MAX_FETCHED = 1000;
/** Bound on this front's own answers (one or two per order in flight). */
const MAX_OWN = 1000;
/** Lookups in the node network at once: past it a request for an unknown token is answered none (a flood of made-up tokens is not passed on). */
const MAX_LOOKUPS = 16;

interface Fetched<V> {
  value: V | undefined;
  until: number;
}

/**
 * The answers to ACME challenges in flight (RFC 8555 §8.3 HTTP-01, RFC 8737 TLS-ALPN-01). The
 * front that orders puts each answer here and in the node network: the CA may ask any front
 * (several behind one name), and one that did not order finds the answer there. This front's
 * own answers are kept apart from what it fetched, so a flood of lookups cannot push them out.
 */
export class ChallengeAnswers {
  private readonly items: AcmeItems;
  private readonly ownHttp = new RecentMap<string, string>(MAX_OWN);
  private readonly ownAlpn = new RecentMap<string, SecureContext>(MAX_OWN);
  private readonly fetchedHttp = new RecentMap<string, Fetched<string>>(MAX_FETCHED);
  private readonly fetchedAlpn = new RecentMap<string, Fetched<SecureContext>>(MAX_FETCHED);
  private lookups = 0;

  constructor(items: AcmeItems) {
    this.items = items;
  }

  /** Puts (or, with undefined, takes away) an HTTP-01 answer, here and on the home. */
  async setHttp(token: string, keyAuthorization: string | undefined): Promise<void> {
    const key = `http-01:${token}`;
    if (keyAuthorization === undefined) {
      this.ownHttp.delete(token);
      return this.items.remove(key).catch(() => undefined);
    }
    this.ownHttp.set(token, keyAuthorization);
    await this.items.put(key, keyAuthorization, CHALLENGE_TTL_MS);
  }

  async setAlpn(name: string, pair: IssuedPem | undefined): Promise<void> {
    const key = `tls-alpn-01:${name}`;
    if (pair === undefined) {
      this.ownAlpn.delete(name);
      return this.items.remove(key).catch(() => undefined);
    }
    this.ownAlpn.set(name, contextOf(pair));
    await this.items.put(key, JSON.stringify(pair), CHALLENGE_TTL_MS);
  }

  /** The key authorization for a token, here or in the node network; undefined if none is pending. */
  async httpAnswer(token: string): Promise<string | undefined> {
    if (!/^[A-Za-z0-9_-]{1,256}$/.test(token)) return undefined; // RFC 8555 §8.3: base64url
    const own = this.ownHttp.get(token);
    if (own !== undefined) return own;
    return this.fetch(this.fetchedHttp, token, `http-01:${token}`, (value) => value);
  }

  /** The acme-tls/1 certificate's context for a name, here or in the node network. */
  async alpnAnswer(name: string): Promise<SecureContext | undefined> {
    const own = this.ownAlpn.get(name);
    if (own !== undefined) return own;
    return this.fetch(this.fetchedAlpn, name, `tls-alpn-01:${name}`, (value) => contextOf(JSON.parse(value) as IssuedPem));
  }

  /** A stored answer, cached briefly; a lookup skipped (too many at once) or failed is not cached. */
  private async fetch<V>(cache: RecentMap<string, Fetched<V>>, id: string, key: string, read: (value: string) => V): Promise<V | undefined> {
    const kept = cache.get(id);
    if (kept && kept.until > Date.now()) return kept.value;
    if (this.lookups >= MAX_LOOKUPS) return undefined;
    this.lookups++;
    let stored: string | undefined;
    try {
      stored = (await this.items.get(key))?.value;
    } catch {
      return undefined; // the node network cannot tell: no answer now, the CA tries again
    } finally {
      this.lookups--;
    }
    let value: V | undefined;
    try {
      value = stored === undefined ? undefined : read(stored);
    } catch {
      value = undefined; // a stored answer that does not parse answers nothing
    }
    cache.set(id, { value, until: Date.now() + FETCHED_TTL_MS });
    return value;
  }
}

function contextOf(pair: IssuedPem): SecureContext {
  return createSecureContext({ cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' });
}
