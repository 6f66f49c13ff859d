import { createSecureContext, type SecureContext } from 'node:tls';
import type { AcmeItems } from './acme-items.ts';
import type { IssuedPem } from './acme-issuer.ts';

/** How long a challenge's answer is kept in the node network: an order that takes longer has failed. */
const CHALLENGE_TTL_MS = 10 * 60_000;
/** Answers this front fetched from the node network, kept this long (the CA asks again within seconds). */
const FETCHED_TTL_MS = 30_000;
/** Bound on answers kept here: a flood of made-up tokens cannot fill memory. */
const MAX_KEPT = 1000;
/** Lookups in the node network at once: past it a request for an unknown token is answered none (a flood of made-up tokens is not passed on). */
const MAX_LOOKUPS = 16;

/**
 * The answers to ACME challenges in flight (RFC 8555 §8.3 HTTP-01, RFC 8737 TLS-ALPN-01). The
 * front that orders puts each answer here and in the node network: the CA may ask any front
 * (several behind one name), and one that did not order finds the answer there.
 */
export class ChallengeAnswers {
  private readonly items: AcmeItems;
  private readonly http = new Map<string, { value: string | undefined; until: number }>();
  private readonly alpn = new Map<string, { context: SecureContext | undefined; until: number }>();
  private lookups = 0;

  constructor(items: AcmeItems) {
    this.items = items;
  }

  /** Puts (or, with undefined, takes away) an HTTP-01 answer. */
  async setHttp(token: string, keyAuthorization: string | undefined): Promise<void> {
    if (keyAuthorization === undefined) {
      this.http.delete(token);
      return;
    }
    keep(this.http, token, { value: keyAuthorization, until: Date.now() + CHALLENGE_TTL_MS });
    await this.items.put(`http-01:${token}`, keyAuthorization, CHALLENGE_TTL_MS);
  }

  async setAlpn(name: string, pair: IssuedPem | undefined): Promise<void> {
    if (pair === undefined) {
      this.alpn.delete(name);
      return;
    }
    keep(this.alpn, name, { context: contextOf(pair), until: Date.now() + CHALLENGE_TTL_MS });
    await this.items.put(`tls-alpn-01:${name}`, JSON.stringify(pair), CHALLENGE_TTL_MS);
  }

  /** The key authorization for a token, here or in the node network; undefined if none is pending. */
  async httpAnswer(token: string): Promise<string | undefined> {
    if (!/^[A-Za-z0-9_-]{1,256}$/.test(token)) return undefined; // RFC 8555 §8.3: base64url
    const kept = this.http.get(token);
    if (kept && kept.until > Date.now()) return kept.value;
    const value = (await this.lookup(`http-01:${token}`))?.value;
    keep(this.http, token, { value, until: Date.now() + (value === undefined ? 1000 : FETCHED_TTL_MS) });
    return value;
  }

  /** The acme-tls/1 certificate's context for a name, here or in the node network. */
  async alpnAnswer(name: string): Promise<SecureContext | undefined> {
    const kept = this.alpn.get(name);
    if (kept && kept.until > Date.now()) return kept.context;
    const stored = (await this.lookup(`tls-alpn-01:${name}`))?.value;
    let context: SecureContext | undefined;
    try {
      context = stored === undefined ? undefined : contextOf(JSON.parse(stored) as IssuedPem);
    } catch {
      context = undefined; // a stored answer that does not parse answers nothing
    }
    keep(this.alpn, name, { context, until: Date.now() + (context === undefined ? 1000 : FETCHED_TTL_MS) });
    return context;
  }

  private async lookup(key: string): Promise<{ value: string } | undefined> {
    if (this.lookups >= MAX_LOOKUPS) return undefined;
    this.lookups++;
    try {
      return await this.items.get(key);
    } catch {
      return undefined; // the node network cannot tell: no answer, the CA tries again
    } finally {
      this.lookups--;
    }
  }
}

function contextOf(pair: IssuedPem): SecureContext {
  return createSecureContext({ cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' });
}

function keep<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  if (map.size >= MAX_KEPT) map.delete(map.keys().next().value!);
  map.set(key, value);
}
