import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { SecureContext } from 'node:tls';
import { connectTrusted } from './cluster-trust.ts';

/** One probe's outcome: the answer's status and fields, or where it failed (L4: connect; L7: the HTTP exchange) and why. */
export type ProbeOutcome =
  | { answered: true; status: number; headers: IncomingHttpHeaders }
  | { answered: false; layer: 'L4' | 'L7'; detail: string };

export interface ProbeOptions {
  host: string;
  port: number;
  path: string;
  timeoutMs: number;
  userAgent: string;
  /** Answered only once the whole body has come (the front's checks); else at the head (the supervisor's). */
  untilEnd: boolean;
  /** Over HTTPS, the certificate checked against the CAs of this context (a node's port with tls). */
  tls?: { trust: SecureContext };
}

/**
 * One HTTP GET of a health path on a fresh connection, within timeoutMs: the front's active
 * checks of its back-ends and the supervisor's of its app instances. What counts as healthy is
 * each caller's.
 */
export function httpProbe(o: ProbeOptions): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    let done = false;
    let connected = false;
    const finish = (r: ProbeOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      resolve(r);
    };
    // 64 KiB of answer head, as the front's own response parser takes on real traffic (node's default is 16).
    const options = { host: o.host, port: o.port, path: o.path, method: 'GET', agent: false as const, maxHeaderSize: 65_536, headers: { 'user-agent': o.userAgent, connection: 'close' } };
    const onResponse = (res: IncomingMessage) => {
      const answer: ProbeOutcome = { answered: true, status: res.statusCode ?? 0, headers: res.headers };
      res.resume();
      if (!o.untilEnd) return finish(answer);
      res.once('end', () => finish(answer));
      res.once('error', (err) => finish({ answered: false, layer: 'L7', detail: err.message }));
    };
    // A TLS failure (an untrusted certificate) comes after the connection: L7, with OpenSSL's reason.
    const tls = o.tls;
    // Over TLS its own connection (no agent: an agent would dial plain TCP itself).
    const req = tls ? request({ ...options, agent: undefined, createConnection: () => connectTrusted(o.host, o.port, tls.trust) }, onResponse) : request(options, onResponse);
    req.once('socket', (socket) => {
      if (!socket.connecting) connected = true;
      else socket.once('connect', () => (connected = true));
    });
    const timer = setTimeout(() => finish({ answered: false, layer: connected ? 'L7' : 'L4', detail: `no answer within ${o.timeoutMs} ms` }), o.timeoutMs);
    req.once('error', (err) => finish({ answered: false, layer: connected ? 'L7' : 'L4', detail: connected ? err.message : `connect failed: ${err.message}` }));
    req.end();
  });
}
