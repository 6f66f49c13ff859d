import type { Socket } from 'node:net';
import { ClientExchange } from './client-exchange.ts';
import type { ExchangeConnection } from './exchange-connection.ts';

/** Up to this many body bytes are copied in behind the head, so both leave in one write (a copy costs less than a writev below it). */
const JOIN_BYTES = 16 * 1024;

/**
 * An exchange on an HTTP/1.x connection (client-connection.ts): the response framed for
 * this client (length as given, chunked for HTTP/1.1 when no length is known,
 * close-delimited for HTTP/1.0). It stands in for node:http's IncomingMessage +
 * ServerResponse, without their streams.
 */
export class Http1Exchange extends ClientExchange {
  readonly connection: ExchangeConnection;
  /** The client lets the connection carry another request after this one. */
  readonly keepAlive: boolean;
  /** The connection closes once this response is written. */
  closeAfter = false;
  private head = '';
  private chunked = false;
  private noBody = false;

  constructor(connection: ExchangeConnection, method: string, url: string, versionMinor: number, rawHeaders: string[], keepAlive: boolean, upgrade: boolean) {
    const lowerNames = new Array<string>(rawHeaders.length >> 1);
    // A request has a body only with a Content-Length above 0 or a Transfer-Encoding (RFC 9112 §6.3).
    let body = false;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const lower = rawHeaders[i].toLowerCase();
      lowerNames[i >> 1] = lower;
      if ((lower === 'content-length' && rawHeaders[i + 1] !== '0') || lower === 'transfer-encoding') body = true;
    }
    super(method, url, versionMinor, rawHeaders, lowerNames, body, upgrade);
    this.connection = connection;
    this.keepAlive = keepAlive;
  }

  get clientIp(): string {
    return this.connection.remoteAddress;
  }

  get secure(): boolean {
    return this.connection.secure;
  }

  get serverName(): string | undefined {
    return (this.connection.socket as { servername?: string }).servername || undefined;
  }

  closeConnection(): void {
    this.connection.closing = true;
  }

  pause(): void {
    this.connection.pauseReading('body');
  }

  resume(): void {
    this.connection.resumeReading('body');
  }

  // ---- response -----------------------------------------------------------------

  writeHead(status: number, reason: string, headers: string[]): void {
    if (this.head || this.headersSent) throw new Error('response head written twice');
    let head = `HTTP/1.1 ${status} ${reason}\r\n`;
    const hasLength = this.eachField(reason, headers, this.connection.hsts, (name, value) => {
      head += `${name}: ${value}\r\n`;
    });
    if (status === 101) {
      // Switching protocols: the caller names the protocol (Connection, Upgrade); no body framing.
      this.head = `${head}\r\n`;
      return;
    }
    this.noBody = this.method === 'HEAD' || status === 204 || status === 304 || status < 200;
    // A body still arriving when the answer starts cannot be skipped safely: close after.
    let close = !this.keepAlive || this.connection.closing || !this.bodyComplete;
    if (!this.noBody && !hasLength) {
      if (this.versionMinor >= 1) {
        this.chunked = true;
        head += 'transfer-encoding: chunked\r\n';
      } else {
        close = true; // HTTP/1.0: the end of the body is the end of the connection
      }
    }
    if (close) head += 'connection: close\r\n';
    else if (this.versionMinor === 0) head += 'connection: keep-alive\r\n';
    this.closeAfter = close;
    this.head = `${head}\r\n`;
  }

  write(chunk: Buffer, done?: () => void): boolean {
    if (this.finished || this.aborted) {
      done?.();
      return true;
    }
    const socket = this.connection.socket;
    if (this.noBody || chunk.length === 0) {
      if (!this.headersSent) this.sendHead();
      done?.();
      return true;
    }
    if (this.headersSent && !this.chunked) return socket.write(chunk, done);
    if (!this.headersSent && !this.chunked && chunk.length <= JOIN_BYTES) {
      // A small answer's head and body leave as one buffer: one plain write, no cork and writev.
      const head = this.head;
      const out = Buffer.allocUnsafe(head.length + chunk.length);
      out.write(head, 0, 'latin1');
      out.set(chunk, head.length);
      this.headersSent = true;
      done?.();
      return socket.write(out);
    }
    // Head and first bytes (or a chunk and its framing) leave in one writev.
    socket.cork();
    if (!this.headersSent) {
      socket.write(this.head, 'latin1');
      this.headersSent = true;
    }
    let ok: boolean;
    if (this.chunked) {
      socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      socket.write(chunk, done);
      ok = socket.write('\r\n', 'latin1');
    } else {
      ok = socket.write(chunk, done);
    }
    socket.uncork();
    return ok;
  }

  /** Completes the response; the connection moves on to the next request (or closes). */
  end(): void {
    if (this.finished) return;
    this.finished = true;
    if (!this.aborted) {
      if (!this.bodyComplete) this.closeAfter = true;
      if (!this.headersSent) this.sendHead();
      if (this.chunked) this.connection.socket.write('0\r\n\r\n', 'latin1');
    }
    this.connection.responseDone(this);
  }

  switchProtocols(): { socket: Socket; rest: Buffer } {
    this.headersSent = true;
    this.finished = true;
    return this.connection.startTunnel(this, this.head);
  }

  writeContinue(): void {
    if (this.versionMinor >= 1 && !this.headersSent) this.connection.socket.write('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
  }

  onDrain(callback: () => void): void {
    this.connection.socket.once('drain', callback);
  }

  destroy(): void {
    this.connection.socket.destroy();
  }

  private sendHead(): void {
    this.connection.socket.write(this.head, 'latin1');
    this.headersSent = true;
  }
}
