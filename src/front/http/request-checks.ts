import type { ClientExchange } from './client-exchange.ts';
import { listValues } from './hop-by-hop.ts';
import { checkWebSocketRequest } from './websocket-handshake.ts';

/** A request the front forwards: its origin-form target, and the upgrade it may ask for. */
export interface CheckedRequest {
  target: string;
  /** The upgrade protocols to forward (those of the client's list that the config allows), or undefined. */
  upgrade: string | undefined;
  /** The connection closes after this exchange (HTTP/1.0 with Transfer-Encoding, RFC 9112 §6.1). */
  closeAfter: boolean;
}

/** A request refused before any back-end sees it: the status, why, and any header to add. */
export interface Refusal {
  status: number;
  error: string;
  headers?: string[];
}

/**
 * What llhttp lets through and a proxy must not, in the order of RFC 9112: Host (§3.2),
 * the request target (§3.2.2), transfer codings (§6.1), and upgrades (RFC 9110 §7.8,
 * RFC 6455 §4). llhttp itself refuses CL with TE, bad chunks, obs-fold, bare CR/LF.
 */
export function checkRequest(ex: ClientExchange, upgrades: readonly string[]): CheckedRequest | Refusal {
  const raw = ex.rawHeaders;
  const names = ex.lowerNames;
  const hostAt = names.indexOf('host');
  if (hostAt >= 0 && names.indexOf('host', hostAt + 1) >= 0) return refuse(400, 'more than one Host header');
  if (hostAt < 0 && ex.versionMinor >= 1) return refuse(400, 'an HTTP/1.1 request needs a Host header');
  const host = hostAt < 0 ? undefined : raw[2 * hostAt + 1];
  if (host !== undefined && !AUTHORITY.test(host)) return refuse(400, 'the Host header is not a valid host[:port]');
  const target = originForm(ex.url, ex.method, host);
  if (typeof target !== 'string') return target;

  const codings = names.includes('transfer-encoding') ? listValues(raw, names, 'transfer-encoding') : NONE;
  if (codings.length > 0) {
    const other = codings.find((c) => c !== 'chunked');
    // 501, as RFC 9112 §6.1 says and nginx answers: the request is well formed, the coding is one the front does not forward.
    if (other !== undefined) return refuse(501, `transfer coding '${other.slice(0, 40)}' is not supported (only chunked)`);
    if (codings.length > 1) return refuse(400, 'chunked applied more than once (RFC 9112 §7)');
  }
  const closeAfter = codings.length > 0 && ex.versionMinor === 0;
  const upgrade = ex.upgrade ? chooseUpgrade(ex, upgrades) : undefined;
  if (upgrade !== undefined && typeof upgrade !== 'string') return upgrade;
  return { target, upgrade, closeAfter };
}

const NONE: string[] = [];

function refuse(status: number, error: string, headers?: string[]): Refusal {
  return { status, error, headers };
}

/** RFC 3986 authority as Host (and HTTP/2's :authority) carries it: IP literal or reg-name / IPv4, and an optional port. */
export const AUTHORITY = /^(?:\[[0-9A-Fa-f:.]+\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)(?::[0-9]*)?$/;
const ABSOLUTE = /^(https?):\/\/([^/?#]*)([^#]*)$/i;
const DEFAULT_PORT: Record<string, string> = { http: '80', https: '443' };

/** The origin-form target to forward, or why the target is refused (RFC 9112 §3.2). */
function originForm(url: string, method: string, host: string | undefined): string | Refusal {
  if (url.charCodeAt(0) === 47 /* '/' */) return url;
  if (url === '*' && method === 'OPTIONS') return url;
  const m = ABSOLUTE.exec(url);
  if (!m) return refuse(400, 'request target must be origin-form or absolute-form');
  const [, scheme, authority, rest] = m;
  if (authority.includes('@')) return refuse(400, 'credentials in the request target');
  if (!AUTHORITY.test(authority) || authority === '') return refuse(400, 'malformed absolute-form target');
  if (host === undefined || !sameAuthority(authority, host, scheme.toLowerCase())) {
    return refuse(400, `absolute-form authority '${authority.slice(0, 100)}' differs from Host '${(host ?? '').slice(0, 100)}'`);
  }
  return rest === '' ? '/' : rest.charCodeAt(0) === 63 /* '?' */ ? `/${rest}` : rest;
}

/**
 * Two authorities name the same origin (RFC 9110 §4.2.3): host case-insensitively, an empty
 * or absent port as the scheme's default. A trailing dot on the host is dropped, as nginx
 * drops it from Host: "example." and "example" are the same name in DNS.
 */
export function sameAuthority(a: string, b: string, scheme: string): boolean {
  const x = splitAuthority(a, scheme);
  const y = splitAuthority(b, scheme);
  return x.host === y.host && x.port === y.port;
}

function splitAuthority(authority: string, scheme: string): { host: string; port: string } {
  const lower = authority.toLowerCase();
  const colon = lower.lastIndexOf(':');
  const hasPort = colon >= 0 && colon > lower.lastIndexOf(']');
  let host = hasPort ? lower.slice(0, colon) : lower;
  let port = hasPort ? lower.slice(colon + 1).replace(/^0+(?=\d)/, '') : '';
  if (host.endsWith('.') && host.length > 1) host = host.slice(0, -1);
  if (port === '' || port === DEFAULT_PORT[scheme]) port = DEFAULT_PORT[scheme] ?? '';
  return { host, port };
}

/**
 * The protocols of the client's Upgrade list that the config allows (RFC 9110 §7.8), or
 * undefined when none is (the request then goes on as an ordinary one, its Upgrade
 * dropped). An HTTP/1.0 Upgrade is ignored, as §7.8 requires. A WebSocket handshake must be
 * whole and of version 13.
 */
function chooseUpgrade(ex: ClientExchange, allowed: readonly string[]): string | Refusal | undefined {
  if (ex.method === 'CONNECT') return refuse(405, 'CONNECT is not supported: the front is not a forward proxy');
  if (ex.versionMinor === 0) return undefined;
  const raw = ex.rawHeaders;
  const names = ex.lowerNames;
  const chosen = listValues(raw, names, 'upgrade').filter((p) => allowed.includes(p.split('/')[0]));
  if (chosen.length === 0) return undefined;
  if (chosen.some((p) => p.split('/')[0] === 'websocket')) {
    const fault = checkWebSocketRequest(ex.method, ex.values('sec-websocket-key'), ex.values('sec-websocket-version'));
    if (fault) return fault;
  }
  return chosen.join(', ');
}
