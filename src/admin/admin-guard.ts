// What every admin listener checks before it answers (the front's admin listener, and a node's
// /metrics and /dashboard): a page the operator opens in a browser can send requests to a
// loopback listener (a cross-site fetch or form) and, by DNS rebinding (its own name resolving
// to 127.0.0.1), read the answers as its own origin. So:
// - Host names this listener (loopback, its configured name, the address the connection came
//   to), on its port: a rebound name is refused, 403 "Invalid Host header" as webpack-dev-server
//   says it, and as Vite and Rails' HostAuthorization answer it (403).
// - A cross-site Origin (or Sec-Fetch-Site) is refused: 403.
// - With a token configured, every request shows it, loopback included: 401.
// - A request that changes something (any method but GET and HEAD) shows the token or the
//   header X-Cohort-Admin: a cross-site page can send neither without a CORS preflight, which
//   no admin listener approves.
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { showsAdminToken } from './admin-token.ts';

/** The header a tokenless client sends with a request that changes something (`cohort front drain` does). */
export const ADMIN_HEADER = 'x-cohort-admin';

export interface AdminListener {
  /** Names this listener answers to besides loopback and the connection's own address (its configured host, a publicUrl's). */
  names: readonly string[];
  token: string | undefined;
  /** The 401's text. */
  tokenHint?: string;
}

export interface AdminRefusal {
  status: 401 | 403;
  message: string;
  headers: Record<string, string>;
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'];

/** Why this request may not reach the admin listener, or undefined when it may. */
export function adminRefusal(req: IncomingMessage, listener: AdminListener): AdminRefusal | undefined {
  const host = req.headers.host;
  if (!hostIsOurs(host, req, listener.names)) {
    return refuse(403, `Invalid Host header (${JSON.stringify(String(host ?? '').slice(0, 100))}): this admin listener answers to its own address only (loopback, or its configured name), never to another name (DNS rebinding)`);
  }
  if (crossSite(req, host!)) return refuse(403, 'a request from another site (Origin or Sec-Fetch-Site) is refused by the admin listener');
  if (listener.token !== undefined && !showsAdminToken(req, listener.token)) {
    return { status: 401, message: listener.tokenHint ?? 'admin token required (Authorization: Bearer ...)', headers: { 'www-authenticate': 'Bearer' } };
  }
  const changes = req.method !== 'GET' && req.method !== 'HEAD';
  if (changes && listener.token === undefined && !req.headers[ADMIN_HEADER]) {
    return refuse(403, `a ${req.method} to the admin listener needs the header X-Cohort-Admin: 1 (or the admin token): a browser page cannot send it from another site`);
  }
  return undefined;
}

function refuse(status: 403, message: string): AdminRefusal {
  return { status, message, headers: {} };
}

/** Host is `name[:port]` with the port the connection came to (80, or 443 over TLS, when absent) and a name of ours. */
function hostIsOurs(host: string | undefined, req: IncomingMessage, names: readonly string[]): boolean {
  if (!host) return false;
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(host);
  if (!m) return false;
  const name = unbracket(m[1]).toLowerCase();
  const port = m[2] === undefined ? (tlsSocket(req) ? 443 : 80) : Number(m[2]);
  if (port !== req.socket.localPort) return false;
  if (LOOPBACK_NAMES.includes(name)) return true;
  if (names.some((n) => unbracket(n).toLowerCase() === name)) return true;
  // An address literal the connection really came to (a listener on 0.0.0.0 reached by its IP): a rebound name is never a literal.
  const local = req.socket.localAddress?.replace(/^::ffff:/, '');
  return isIP(name) !== 0 && local !== undefined && name === local.toLowerCase();
}

function tlsSocket(req: IncomingMessage): boolean {
  return (req.socket as { encrypted?: boolean }).encrypted === true;
}

function unbracket(name: string): string {
  return name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name;
}

/** The browser says the request comes from another origin: an Origin that is not this host, or Sec-Fetch-Site. */
function crossSite(req: IncomingMessage, host: string): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return true;
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  try {
    const url = new URL(origin);
    return (url.protocol !== 'http:' && url.protocol !== 'https:') || url.host !== new URL(`${tlsSocket(req) ? 'https' : 'http'}://${host}`).host;
  } catch {
    return true; // "null" (a sandboxed or file page) and anything unparsable
  }
}
