import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { listenOn } from '../../net/listen.ts';
import { plain } from '../../net/plain-reply.ts';
import { hostName } from '../../host-name.ts';

/** Where ACME's HTTP-01 challenges are asked (RFC 8555 §8.3): never redirected. */
const ACME_CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

/** A Host field: a DNS name or an IP literal, with an optional port (RFC 9110 §7.2); nothing else is echoed into a Location. */
const HOST = /^(?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9.-]{1,253})(?::\d{1,5})?$/;

/**
 * The front's plain HTTP listener when it serves HTTPS (`front.redirect`): every request gets a
 * 308 to the same path and query on the HTTPS listener (308 keeps the method and body, RFC 9110
 * §15.4.9), as Caddy does; ACME challenge paths are the exception (HTTP-01 answers with
 * front.listen.tls.acme, else 404). Nothing is proxied from here, so nothing reaches a back-end in clear.
 */
export class RedirectServer {
  private readonly server: Server;
  private readonly httpsPort: number;
  private readonly serves: (name: string) => boolean;
  /** ACME's HTTP-01 answers (front.listen.tls.acme), set once the front has them. */
  httpChallenge: ((token: string) => Promise<string | undefined>) | undefined;

  /** serves: whether the HTTPS listener has a certificate for a host name (only those are redirected to). */
  constructor(httpsPort: number, limits: { maxConnections: number; headersMs: number; maxHeaderBytes: number }, serves: (name: string) => boolean) {
    this.httpsPort = httpsPort;
    this.serves = serves;
    // The front's own slow-loris bounds (timeouts.headersMs, limits.maxHeaderBytes) hold here too.
    this.server = createServer({ headersTimeout: limits.headersMs, requestTimeout: limits.headersMs, keepAliveTimeout: 5000, maxHeaderSize: limits.maxHeaderBytes }, (req, res) => this.answer(req, res));
    this.server.maxConnections = limits.maxConnections;
  }

  listen(port: number, host: string): Promise<void> {
    return listenOn(this.server, { port, host });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private answer(req: IncomingMessage, res: ServerResponse): void {
    const refuse = (status: number, why: string) => plain(res, status, why, { connection: 'close' });
    let target = req.url ?? '';
    const hosts = req.headersDistinct.host ?? [];
    // One Host (RFC 9112 §3.2); an absolute-form target names the host itself (§3.2.2).
    if (hosts.length > 1) return refuse(400, 'Bad Request: more than one Host field');
    let host = hosts[0];
    if (/^https?:\/\//i.test(target)) {
      const url = URL.canParse(target) ? new URL(target) : undefined;
      if (!url) return refuse(400, 'Bad Request: a target that is not a URL');
      host = url.host;
      target = `${url.pathname}${url.search}`;
    }
    if (!target.startsWith('/') || host === undefined || !HOST.test(host)) return refuse(400, 'Bad Request: a redirect to HTTPS needs a Host field and a path');
    if (target.startsWith(ACME_CHALLENGE_PREFIX)) return this.challenge(target.slice(ACME_CHALLENGE_PREFIX.length), res);
    const name = hostName(host);
    // Only to a name the HTTPS listener has a certificate for: a Location is never a host the client made up.
    if (!this.serves(name)) return refuse(404, 'this front serves no site of that name over HTTPS');
    const port = this.httpsPort === 443 ? '' : `:${this.httpsPort}`;
    res.writeHead(308, { location: `https://${name}${port}${target}`, 'content-length': 0, connection: 'close' });
    res.end();
  }

  /** RFC 8555 §8.3: the key authorization as text, or 404. */
  private challenge(token: string, res: ServerResponse): void {
    const answer = this.httpChallenge?.(token) ?? Promise.resolve(undefined);
    answer.then((value) => {
      if (res.destroyed || res.headersSent) return;
      if (value === undefined) return plain(res, 404, 'no ACME challenge is pending here', { connection: 'close' });
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': Buffer.byteLength(value), 'cache-control': 'no-store' });
      res.end(value);
    }).catch(() => res.destroy());
  }
}
