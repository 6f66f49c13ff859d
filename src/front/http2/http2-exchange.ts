import { constants, type ServerHttp2Stream } from 'node:http2';
import { ClientExchange } from '../http/client-exchange.ts';
import type { TranslatedRequest } from './http2-request.ts';

const { NGHTTP2_NO_ERROR, NGHTTP2_PROTOCOL_ERROR, NGHTTP2_INTERNAL_ERROR } = constants;

const isSwitchField = (name: string): boolean => {
  const lower = name.toLowerCase();
  return lower === 'connection' || lower === 'upgrade' || lower === 'sec-websocket-accept';
};

/** For 'error' events: the 'close' that follows each one is what is handled. */
export const ignore = (): void => {};

/** What an HTTP/2 exchange needs of its connection (http2-connection.ts). */
export interface StreamOwner {
  readonly remoteAddress: string;
  readonly serverName: string | undefined;
  readonly hsts: string | undefined;
  /** The exchange's stream closed (it counts no more against the connection's idle time). */
  streamClosed(exchange: Http2Exchange): void;
  /** A bug below the stream's events: it costs the stream, never the process. */
  internalError(stream: ServerHttp2Stream, err: unknown): void;
}

/**
 * An exchange on one HTTP/2 stream: the request translated to HTTP/1.1 (http2-request.ts),
 * its data checked against its content-length as it comes (RFC 9113 §8.1.1), and the
 * response written as HEADERS and DATA frames. A client's RST_STREAM aborts it, and with it
 * the upstream request (respond.ts). An RFC 8441 WebSocket answers 200 for the back-end's 101
 * and the stream becomes the tunnel's client side.
 */
export class Http2Exchange extends ClientExchange {
  readonly stream: ServerHttp2Stream;
  /** When the stream opened (the body timeout counts from here). */
  readonly opened = Date.now();
  private readonly owner: StreamOwner;
  private readonly websocket: boolean;
  private readonly contentLength: number;
  private received = 0;
  private response: string[] | undefined;
  private noBody = false;
  /** The response ended before the request body did: what still comes is dropped. */
  private discarding = false;

  constructor(owner: StreamOwner, stream: ServerHttp2Stream, request: TranslatedRequest) {
    super(request.method, request.url, 1, request.rawHeaders, request.lowerNames, request.hasBody, request.websocket);
    this.owner = owner;
    this.stream = stream;
    this.websocket = request.websocket;
    this.contentLength = request.contentLength;
    stream.on('error', ignore); // 'close' follows
    stream.on('close', this.onClose);
    // A WebSocket's data is the tunnel's, read only once it switches.
    if (request.hasBody) {
      stream.on('data', this.onData);
      stream.once('end', this.onEnd);
    } else if (!request.websocket && !stream.endAfterHeaders) {
      // HEADERS without END_STREAM: an empty DATA frame with it may still come. Not when the
      // request ended with its headers: a readable side read to its end lets node:http2 close
      // the stream while the response's last write is in flight, and each such close costs an
      // ERR_STREAM_DESTROYED built (with its stack) by node's Writable (a tenth of the CPU).
      stream.resume();
    }
  }

  get clientIp(): string {
    return this.owner.remoteAddress;
  }

  get secure(): boolean {
    return true;
  }

  get serverName(): string | undefined {
    return this.owner.serverName;
  }

  /** Streams are independent: a refused request costs its stream, not its connection's others. */
  closeConnection(): void {}

  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }

  private readonly onClose = (): void => {
    this.owner.streamClosed(this);
    this.guard(() => this.abort());
  };

  private readonly onData = (chunk: Buffer): void => {
    if (this.discarding) return;
    this.received += chunk.length;
    if (this.contentLength >= 0 && this.received > this.contentLength) return this.malformed();
    this.guard(() => this.bodyChunk(chunk));
  };

  private readonly onEnd = (): void => {
    if (this.discarding) return;
    if (this.contentLength >= 0 && this.received !== this.contentLength) return this.malformed();
    this.guard(() => this.bodyEnd());
  };

  /** The request path runs inside node:http2's events here: nothing it throws may cross them. */
  private guard(work: () => void): void {
    try {
      work();
    } catch (err) {
      this.owner.internalError(this.stream, err);
    }
  }

  /** More or less data than content-length said: a stream error, and the upstream request is abandoned. */
  private malformed(): void {
    this.stream.close(NGHTTP2_PROTOCOL_ERROR);
    this.abort();
  }

  // ---- response -----------------------------------------------------------------

  writeHead(status: number, reason: string, headers: string[]): void {
    if (this.response || this.headersSent) throw new Error('response head written twice');
    const switching = status === 101;
    if (switching !== this.websocket && (switching || (status >= 200 && status < 300))) {
      // A 2xx to an extended CONNECT would tell the client its tunnel is open.
      throw new Error(switching ? 'a switch the request did not ask for' : 'the back-end did not switch protocols');
    }
    // A flat list of fields (node:http2 takes one since Node 24): no object keyed by each name,
    // no lower-casing here (node does it), repeated fields sent as they came.
    const out: string[] = [':status', switching ? '200' : String(status)];
    this.eachField(reason, headers, this.owner.hsts, (name, value) => {
      // The 101's own fields mean nothing in HTTP/2 (RFC 8441 §5).
      if (switching && isSwitchField(name)) return;
      out.push(name, value);
    });
    this.noBody = this.method === 'HEAD' || status === 204 || status === 304;
    this.response = out;
  }

  write(chunk: Buffer, done?: () => void): boolean {
    if (this.finished || this.aborted || this.stream.destroyed) {
      done?.();
      return true;
    }
    if (this.noBody || chunk.length === 0) {
      if (!this.headersSent) this.sendHead(this.noBody);
      done?.();
      return true;
    }
    if (!this.headersSent) this.sendHead(false);
    return this.stream.write(chunk, done);
  }

  end(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.aborted || this.stream.destroyed) return;
    if (!this.headersSent) this.sendHead(true);
    else if (!this.noBody) this.stream.end();
    if (!this.bodyComplete) {
      // Answered before the whole body came (a refusal, an early answer): the rest is dropped.
      this.discarding = true;
      this.holdBody();
      this.stream.resume();
    }
    // A request the client has not ended (a body cut short, or none but no END_STREAM) would hold
    // the stream, and the connection, open: RST_STREAM NO_ERROR once the response is written
    // (RFC 9113 §8.1; node sends it after the data).
    if (!this.stream.endAfterHeaders && !this.stream.readableEnded) this.stream.close(NGHTTP2_NO_ERROR);
  }

  switchProtocols(): { socket: ServerHttp2Stream; rest: Buffer } {
    this.sendHead(false);
    this.finished = true;
    return { socket: this.stream, rest: Buffer.alloc(0) };
  }

  writeContinue(): void {
    if (!this.headersSent && !this.stream.destroyed) this.stream.additionalHeaders({ ':status': 100 });
  }

  onDrain(callback: () => void): void {
    this.stream.once('drain', callback);
  }

  destroy(): void {
    this.stream.close(NGHTTP2_INTERNAL_ERROR);
  }

  private sendHead(endStream: boolean): void {
    this.headersSent = true;
    try {
      this.stream.respond(this.response, { endStream });
    } catch {
      // node:http2 refused the head (writeHead checked what it could): the client sees a reset, not a bad answer.
      this.stream.close(NGHTTP2_INTERNAL_ERROR);
    }
  }
}
