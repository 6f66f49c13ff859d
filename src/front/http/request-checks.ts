import type { ClientExchange } from './client-exchange.ts';

/**
 * What llhttp lets through and a proxy must not (RFC 9112 §3.2): a missing Host header
 * (HTTP/1.1), two Host headers, and an absolute-form target whose authority differs from
 * Host. Returns the reason to refuse with 400, or the origin-form target to forward.
 */
export function checkTarget(ex: ClientExchange): { error: string } | { target: string } {
  const hosts = ex.headerCount('host');
  if (hosts > 1) return { error: 'more than one Host header' };
  if (hosts === 0 && ex.versionMinor >= 1) return { error: 'an HTTP/1.1 request needs a Host header' };
  const url = ex.url;
  if (url.charCodeAt(0) === 47 /* '/' */) return { target: url };
  if (url === '*' && ex.method === 'OPTIONS') return { target: url };
  if (!/^https?:\/\//i.test(url)) return { error: 'request target must be origin-form or absolute-form' };
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { error: 'malformed absolute-form target' };
  }
  if (parsed.username || parsed.password) return { error: 'credentials in the request target' };
  const host = ex.header('host') ?? '';
  if (parsed.host.toLowerCase() !== host.toLowerCase()) {
    return { error: `absolute-form authority '${parsed.host}' differs from Host '${host}'` };
  }
  return { target: `${parsed.pathname}${parsed.search}` };
}

/** Methods a retry may repeat (RFC 9110 §9.2.2). */
export const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** Hop-by-hop headers (RFC 9110 §7.6.1), plus any that Connection names. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authenticate', 'proxy-authorization']);

export function connectionListed(value: string | undefined): Set<string> | undefined {
  if (!value) return undefined;
  const set = new Set<string>();
  for (const token of value.split(',')) {
    const t = token.trim().toLowerCase();
    if (t && t !== 'close' && t !== 'keep-alive') set.add(t);
  }
  return set.size ? set : undefined;
}

export function isHopByHop(lowerName: string, listed: Set<string> | undefined): boolean {
  return HOP_BY_HOP.has(lowerName) || (listed !== undefined && listed.has(lowerName));
}
