import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Sticky-session tokens (seed 001's opaque cookie): `<issued>-<nonce>.<server>.<mac>`, where
 * <server> is an HMAC of the back-end id (it reveals no address, port or even the id) and
 * <mac> signs both. The nonce makes each session's token its own, so sessions can be
 * counted (draining); tokens without one (issued before it existed) still verify.
 * Keys rotate: any listed key verifies, the first one signs.
 */
export class StickyTokens {
  private readonly keys: Buffer[];
  private readonly maxAgeMs: number;
  /** Per key: opaque server tag -> back-end id. */
  private readonly tags: Map<string, string>[];

  constructor(keys: string[], maxAgeS: number, backendIds: string[]) {
    this.keys = keys.map((k) => Buffer.from(k));
    this.maxAgeMs = maxAgeS * 1000;
    this.tags = this.keys.map((key) => new Map(backendIds.map((id) => [tag(key, id), id])));
  }

  issue(backendId: string, now = Date.now()): string {
    const body = `${Math.floor(now / 1000).toString(36)}-${randomBytes(6).toString('base64url')}.${tag(this.keys[0], backendId)}`;
    return `${body}.${mac(this.keys[0], body)}`;
  }

  /** The back-end a token names, when it was issued, and whether it should be re-issued (old key); undefined if forged, stale or unknown. */
  verify(token: string, now = Date.now()): { backendId: string; issuedMs: number; renew: boolean } | undefined {
    const parts = token.split('.');
    if (parts.length !== 3 || token.length > 100) return undefined;
    const [issued, server, sig] = parts;
    const body = `${issued}.${server}`;
    const dash = issued.indexOf('-');
    const issuedMs = parseInt(dash < 0 ? issued : issued.slice(0, dash), 36) * 1000;
    if (!Number.isFinite(issuedMs) || now - issuedMs > this.maxAgeMs || issuedMs > now + 60_000) return undefined;
    for (let i = 0; i < this.keys.length; i++) {
      const expected = Buffer.from(mac(this.keys[i], body));
      const given = Buffer.from(sig);
      if (expected.length !== given.length || !timingSafeEqual(expected, given)) continue;
      const backendId = this.tags[i].get(server);
      return backendId === undefined ? undefined : { backendId, issuedMs, renew: i > 0 || now - issuedMs > this.maxAgeMs / 2 };
    }
    return undefined;
  }
}

function tag(key: Buffer, backendId: string): string {
  return createHmac('sha256', key).update(`server:${backendId}`).digest().subarray(0, 9).toString('base64url');
}

function mac(key: Buffer, body: string): string {
  return createHmac('sha256', key).update(body).digest().subarray(0, 12).toString('base64url');
}

/** The value of cookie `name` in a Cookie header, and the header without it. */
export function takeCookie(header: string | undefined, name: string): { value: string | undefined; rest: string } {
  if (!header) return { value: undefined, rest: '' };
  let value: string | undefined;
  const kept: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    const k = (eq < 0 ? part : part.slice(0, eq)).trim();
    if (k === name) value = part.slice(eq + 1).trim();
    else if (part.trim()) kept.push(part.trim());
  }
  return { value, rest: kept.join('; ') };
}

/**
 * The sticky cookie of a request: the Cookie header without it (undefined if it was not there),
 * and the usable back-end it names if it is valid (forged, stale or unknown: none).
 */
export function stickyOf<B extends { usable(now: number): boolean }>(
  tokens: StickyTokens,
  cookieName: string,
  byId: ReadonlyMap<string, B>,
  cookieHeader: string | undefined,
  now: number,
): { rest: string; backend?: B; token?: string; issuedMs?: number; renew: boolean } | undefined {
  const { value, rest } = takeCookie(cookieHeader, cookieName);
  if (value === undefined) return undefined;
  const verdict = tokens.verify(value, now);
  const backend = verdict && byId.get(verdict.backendId);
  if (!verdict || !backend || !backend.usable(now)) return { rest, renew: false };
  return { rest, backend, token: value, issuedMs: verdict.issuedMs, renew: verdict.renew };
}
