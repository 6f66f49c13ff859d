import { constants, performServerHandshake, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { ConnectionOwner } from '../http/connection-owner.ts';
import type { ConnectionLimits, FrontConnection } from '../http/front-connection.ts';
import { Http2Exchange, ignore, type StreamOwner } from './http2-exchange.ts';
import { translateRequest } from './http2-request.ts';

const { NGHTTP2_NO_ERROR, NGHTTP2_PROTOCOL_ERROR, NGHTTP2_INTERNAL_ERROR, NGHTTP2_CANCEL, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_FLAG_END_STREAM } = constants;

/**
 * HTTP/2's bounds, set explicitly rather than left to node's defaults (HAProxy's and nginx's
 * choices in brackets). Each stream holds at most one upstream connection, so a client
 * connection holds at most MAX_STREAMS of them at once.
 */
export const HTTP2_BOUNDS = {
  /** Streams open at once per connection [HAProxy tune.h2.max-concurrent-streams 100, nginx 128]. */
  maxConcurrentStreams: 100,
  /** Header fields per request, pseudo-headers and cookie crumbs counted [HAProxy tune.http.maxhdr 101]. */
  maxHeaderListPairs: 200,
  /** RST_STREAMs a client may send in a burst, then per second (rapid reset, CVE-2023-44487): past it, GOAWAY. */
  streamResetBurst: 200,
  streamResetRate: 33,
  /** Frames that break the protocol, and streams refused past the limit, before the connection goes. */
  maxSessionInvalidFrames: 100,
  maxSessionRejectedStreams: 100,
  /** SETTINGS and PING frames awaiting their ACK (settings and ping floods). */
  maxSettings: 32,
  maxOutstandingPings: 10,
  /** Memory nghttp2 may hold for the session, in MB (header blocks, queued frames). */
  maxSessionMemory: 10,
} as const;

/** Streams the front refuses itself (malformed, too large) before the connection goes: nghttp2's reset limit counts only the client's resets. */
const MAX_REFUSED_STREAMS = 100;

/**
 * One HTTP/2 client connection (ALPN h2 on the HTTPS listener): node:http2's session over the
 * TLS socket, each stream an exchange on the front's HTTP/1.1 request path (http2-exchange.ts).
 * nghttp2 enforces the frame layer (CONTINUATION floods are cut after a few frames, header
 * lists are bounded); the front checks what the translation to HTTP/1.1 needs
 * (http2-request.ts) and the server's timeouts: a connection must open a stream within the
 * header timeout, one with no stream open goes at the idle timeout, and a request body must
 * arrive within the body timeout. Closing sends GOAWAY and lets the open streams finish.
 */
export class Http2Connection implements FrontConnection, StreamOwner {
  readonly remoteAddress: string;
  readonly serverName: string | undefined;
  readonly hsts: string | undefined;
  private readonly socket: TLSSocket;
  private readonly owner: ConnectionOwner;
  private readonly session: ServerHttp2Session;
  private readonly streams = new Set<Http2Exchange>();
  private readonly opened = Date.now();
  private anyStream = false;
  /** Since when no stream has been open (0 while one is). */
  private idleSince = Date.now();
  private closed = false;
  private gone = false;
  private refused = 0;

  constructor(socket: TLSSocket, owner: ConnectionOwner) {
    this.socket = socket;
    this.owner = owner;
    this.remoteAddress = socket.remoteAddress ?? '';
    this.serverName = socket.servername || undefined;
    this.hsts = owner.hsts;
    const { maxConcurrentStreams, ...bounds } = HTTP2_BOUNDS;
    this.session = performServerHandshake(socket, {
      ...bounds,
      // A back-end's repeated fields go out as they came, as over HTTP/1.1 (and as HAProxy and
      // nginx relay them): node would otherwise refuse a second Content-Type and reset the stream.
      strictSingleValueFields: false,
      settings: {
        maxConcurrentStreams,
        maxHeaderListSize: owner.maxHeaderBytes,
        enablePush: false,
        // RFC 8441's WebSockets, announced only when the front forwards them.
        enableConnectProtocol: owner.upgrades.includes('websocket'),
      },
    });
    this.session.on('error', () => {}); // 'close' follows
    this.session.on('stream', this.onStream);
    this.session.once('close', this.onClose);
    socket.once('close', this.onClose);
    // The listener allows half-open TCP (for HTTP/1.1); an HTTP/2 client that sends FIN has left.
    socket.once('end', () => this.destroy());
  }

  /** Streams open now (requests under way, RFC 8441 tunnels). */
  get streamCount(): number {
    return this.streams.size;
  }

  private readonly onStream = (stream: ServerHttp2Stream, _headers: IncomingHttpHeaders, flags: number, rawHeaders: string[]): void => {
    this.anyStream = true;
    const request = translateRequest(rawHeaders, (flags & NGHTTP2_FLAG_END_STREAM) !== 0, this.owner.maxHeaderBytes);
    if ('malformed' in request) {
      this.owner.clientError(this, request.status ? 'H2_HEADERS_TOO_LARGE' : 'H2_MALFORMED', request.malformed);
      stream.on('error', ignore);
      if (++this.refused > MAX_REFUSED_STREAMS) {
        this.session.goaway(NGHTTP2_ENHANCE_YOUR_CALM);
        return this.destroy();
      }
      if (!request.status) return void stream.close(NGHTTP2_PROTOCOL_ERROR);
      stream.respond({ ':status': request.status, 'content-length': 0 }, { endStream: true });
      stream.close(NGHTTP2_NO_ERROR); // whatever body it sends is not wanted (RFC 9113 §8.1)
      return;
    }
    const exchange = new Http2Exchange(this, stream, request);
    this.streams.add(exchange);
    this.idleSince = 0;
    try {
      this.owner.request(exchange);
    } catch (err) {
      // A bug below must cost this stream, never the process.
      this.owner.clientError(this, 'INTERNAL', err instanceof Error ? (err.stack ?? err.message) : String(err));
      stream.close(NGHTTP2_INTERNAL_ERROR);
    }
  };

  streamClosed(exchange: Http2Exchange): void {
    this.streams.delete(exchange);
    if (this.streams.size === 0) this.idleSince = Date.now();
  }

  internalError(stream: ServerHttp2Stream, err: unknown): void {
    this.owner.clientError(this, 'INTERNAL', err instanceof Error ? (err.stack ?? err.message) : String(err));
    stream.close(NGHTTP2_INTERNAL_ERROR);
  }

  sweep(now: number, limits: ConnectionLimits): void {
    if (!this.anyStream && now - this.opened > limits.headersMs) {
      this.owner.clientError(this, 'HEADERS_TIMEOUT', `no request within ${limits.headersMs} ms`);
      return this.destroy();
    }
    if (this.idleSince !== 0 && now - this.idleSince > limits.idleMs) return this.close();
    for (const ex of this.streams) {
      if (!ex.bodyComplete && !ex.finished && now - ex.opened > limits.bodyMs) ex.stream.close(NGHTTP2_CANCEL);
    }
  }

  /** GOAWAY: no new streams; the open ones finish (the server's grace bounds them). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.session.destroyed) return;
    this.session.close();
  }

  destroy(): void {
    this.session.destroy();
    this.socket.destroy();
  }

  private readonly onClose = (): void => {
    if (this.gone) return;
    this.gone = true;
    this.socket.destroy();
    this.owner.closed(this);
  };
}
