import { createServer, type Server, type Socket } from 'node:net';
import { listenOn } from '../../net/listen.ts';
import type { CertificateSummary } from '../../tls/certificate-set.ts';
import type { TLSSocket } from 'node:tls';
import { Http2Connection } from '../http2/http2-connection.ts';
import type { TicketKeyRing } from '../../tls/ticket-keys.ts';
import { TlsAcceptor, type TlsListenerSettings } from '../tls/tls-acceptor.ts';
import { ClientConnection } from './client-connection.ts';
import type { ConnectionOwner } from './connection-owner.ts';
import type { ClientExchange } from './client-exchange.ts';
import type { FrontConnection } from './front-connection.ts';

/** Listening sockets on the front's port; see listen(). */
const LISTENING_SOCKETS = 32;

export interface HttpServerOptions {
  maxHeaderBytes: number;
  /** Connections held at once; more are closed as they arrive. */
  maxConnections: number;
  /** A request head must arrive whole within this (slow-loris). */
  headersMs: number;
  /** A request body must arrive whole within this. */
  bodyMs: number;
  /** A keep-alive connection with no request for this long is closed. */
  idleMs: number;
  /** The upgrades the front forwards (HTTP/2 announces RFC 8441's extended CONNECT when websocket is one). */
  upgrades: readonly string[];
  /** HTTPS: the certificates, strict SNI, and the Strict-Transport-Security value (if sent). */
  tls?: TlsListenerSettings;
}

export interface HttpHandlers {
  request(exchange: ClientExchange): void;
  clientError?(code: string, reason: string, remoteAddress: string): void;
  /** A connection was closed on arrival: maxConnections are open. */
  dropped?(remoteAddress: string): void;
}

/**
 * The front's listener: TCP connections, each parsed by llhttp (see llhttp.ts), or over
 * HTTPS an HTTP/2 session when the client's ALPN chose h2 (http2/http2-connection.ts); and
 * one timer for the whole server that enforces the header, body and idle timeouts (a timer
 * per connection would cost more than the requests it watches).
 */
export class HttpServer implements ConnectionOwner {
  private options: HttpServerOptions;
  private readonly handlers: HttpHandlers;
  private readonly listeners: Server[] = [];
  private readonly connections = new Set<FrontConnection>();
  /** HTTPS: connections in their hello or handshake (counted against maxConnections, dropped at headersMs). */
  private readonly tls: TlsAcceptor;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(options: HttpServerOptions, handlers: HttpHandlers) {
    this.options = options;
    this.handlers = handlers;
    this.tls = new TlsAcceptor(() => this.options.tls!, (socket) => this.accept(socket), (code, reason, address) => this.handlers.clientError?.(code, reason, address));
  }

  /** For new connections (header size) and for all (timeouts, the connection cap): a reload. */
  configure(options: HttpServerOptions): void {
    // New handshakes get the new certificates (read per hello); connections already open keep theirs.
    this.options = options;
    if (this.sweeper) this.startSweeper();
  }

  /** HTTPS listeners only: the Strict-Transport-Security value to send, if configured. */
  get hsts(): string | undefined {
    return this.options.tls?.hsts;
  }

  get upgrades(): readonly string[] {
    return this.options.upgrades;
  }

  get maxHeaderBytes(): number {
    return this.options.maxHeaderBytes;
  }

  /** HTTPS: whether a host name has a certificate of its own. */
  serves(name: string): boolean {
    return this.options.tls?.certificates.serves(name) ?? false;
  }

  /** HTTPS: the session ticket keys in service (a reload keeps them unless their settings changed). */
  get tickets(): TicketKeyRing | undefined {
    return this.options.tls?.certificates.tickets;
  }

  /** HTTPS: the certificates in service, for /status. */
  get certificates(): CertificateSummary[] | undefined {
    return this.options.tls?.certificates.summary;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** The open connections by protocol, and the HTTP/2 streams open on them (for /status and /metrics). */
  protocolCounts(): { http1: number; h2: number; h2Streams: number } {
    let h2 = 0;
    let h2Streams = 0;
    for (const c of this.connections) {
      if (c instanceof Http2Connection) {
        h2++;
        h2Streams += c.streamCount;
      }
    }
    return { http1: this.connections.size - h2, h2, h2Streams };
  }

  /**
   * Listens on several sockets bound to one port (SO_REUSEPORT). Node accepted one
   * connection per listening socket per turn of its event loop here, and a saturated loop
   * turns about a hundred times a second: with one socket, a new client waited 4.5 s for its
   * first byte under wrk -c1000 (Python's asyncio: 50 ms); with 32, about 100 ms. Under that
   * load the p99 went from 0.58 s (172 requests past wrk's 2 s timeout) to 0.14-0.28 s (none).
   * A plain bind first makes sure no other process (an older front, say) holds the port.
   */
  async listen(port: number, host: string): Promise<void> {
    const probe = createServer();
    await listenOn(probe, { port, host, exclusive: true });
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    // A deep accept queue: a burst of new clients waits in it instead of in SYN retries.
    const backlog = Math.min(this.options.maxConnections, 4096);
    try {
      for (let i = 0; i < LISTENING_SOCKETS; i++) {
        // allowHalfOpen: a client that half-closes after its request still gets the answer.
        const server = createServer({ allowHalfOpen: true, noDelay: true }, this.options.tls ? this.acceptTls : this.accept);
        this.listeners.push(server);
        await listenOn(server, { port, host, backlog, reusePort: true });
      }
    } catch (err) {
      for (const l of this.listeners.splice(0)) l.close();
      throw err;
    }
    this.startSweeper();
  }

  private readonly accept = (socket: Socket): void => {
    if (this.connections.size >= this.options.maxConnections) {
      socket.destroy();
      this.handlers.dropped?.(socket.remoteAddress ?? '');
      return;
    }
    const h2 = (socket as TLSSocket).alpnProtocol === 'h2';
    this.connections.add(h2 ? new Http2Connection(socket as TLSSocket, this) : new ClientConnection(socket, this));
  };

  /** An HTTPS connection: counted from its accept, then its hello and handshake (tls-acceptor.ts). */
  private readonly acceptTls = (raw: Socket): void => {
    if (this.connections.size + this.tls.size >= this.options.maxConnections) {
      raw.destroy();
      this.handlers.dropped?.(raw.remoteAddress ?? '');
      return;
    }
    this.tls.accept(raw);
  };

  /** Stops accepting; idle connections close now, busy ones after their response; all by graceMs. */
  close(graceMs: number): Promise<void> {
    const closed = Promise.all(this.listeners.map((l) => new Promise<void>((resolve) => l.close(() => resolve()))));
    this.tls.close();
    for (const c of this.connections) c.close();
    setTimeout(() => {
      for (const c of this.connections) c.destroy();
    }, graceMs).unref();
    return closed.then(() => clearInterval(this.sweeper));
  }

  private startSweeper(): void {
    clearInterval(this.sweeper);
    const o = this.options;
    this.sweeper = setInterval(() => this.sweep(), Math.max(50, Math.min(1000, o.headersMs / 4, o.idleMs / 4)));
    this.sweeper.unref();
  }

  private sweep(): void {
    const now = Date.now();
    this.tls.sweep(now, this.options.headersMs);
    for (const c of this.connections) c.sweep(now, this.options);
  }

  // ---- ConnectionOwner ----------------------------------------------------------

  request(exchange: ClientExchange): void {
    this.handlers.request(exchange);
  }

  clientError(connection: FrontConnection, code: string, reason: string): void {
    this.handlers.clientError?.(code, reason, connection.remoteAddress);
  }

  closed(connection: FrontConnection): void {
    this.connections.delete(connection);
  }
}
