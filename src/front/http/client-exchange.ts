import type { Socket } from 'node:net';
import type { ExchangeConnection } from './exchange-connection.ts';
import { fieldValues } from './hop-by-hop.ts';
import { httpDate } from './http-date.ts';
import { hasInvalidHeaderChar, isToken } from './llhttp.ts';

/**
 * One request from a client and the response to it: the parsed head, the body as it
 * arrives, and a writer that frames the response for this client (length as given,
 * chunked for HTTP/1.1 when no length is known, close-delimited for HTTP/1.0).
 * It stands in for node:http's IncomingMessage + ServerResponse, without their streams.
 */
export class ClientExchange {
  readonly connection: ExchangeConnection;
  readonly method: string;
  readonly url: string;
  readonly versionMinor: number;
  /** Header names and values as received: [name, value, name, value, ...]. */
  readonly rawHeaders: string[];
  /** The header names in lower case, one per pair. */
  readonly lowerNames: string[];
  /** The client lets the connection carry another request after this one. */
  readonly keepAlive: boolean;
  /** llhttp saw an upgrade (Connection: upgrade with Upgrade, or CONNECT): it stops parsing after this request. */
  readonly upgrade: boolean;
  /** Called once if the client goes away, or breaks the protocol, before the response ended. */
  onAbort: (() => void) | undefined;
  aborted = false;
  /** The whole body has arrived (or there was none). */
  bodyComplete = false;
  headersSent = false;
  /** end() was called: the response is complete as far as the front is concerned. */
  finished = false;
  /** The connection closes once this response is written. */
  closeAfter = false;
  private head = '';
  private chunked = false;
  private noBody = false;
  private bodyHeld: Buffer[] | null = null;
  private onChunk: ((chunk: Buffer) => void) | undefined;
  private onBodyEnd: (() => void) | undefined;

  constructor(connection: ExchangeConnection, method: string, url: string, versionMinor: number, rawHeaders: string[], keepAlive: boolean, upgrade: boolean) {
    this.connection = connection;
    this.method = method;
    this.url = url;
    this.versionMinor = versionMinor;
    this.rawHeaders = rawHeaders;
    const lowerNames = new Array<string>(rawHeaders.length >> 1);
    // A request has a body only with a Content-Length above 0 or a Transfer-Encoding (RFC 9112 §6.3).
    let body = false;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const lower = rawHeaders[i].toLowerCase();
      lowerNames[i >> 1] = lower;
      if ((lower === 'content-length' && rawHeaders[i + 1] !== '0') || lower === 'transfer-encoding') body = true;
    }
    this.lowerNames = lowerNames;
    this.bodyComplete = !body;
    this.keepAlive = keepAlive;
    this.upgrade = upgrade;
  }

  get clientIp(): string {
    return this.connection.remoteAddress;
  }

  /** The first value of a header (by lower-case name), or undefined. */
  header(lowerName: string): string | undefined {
    const names = this.lowerNames;
    for (let i = 0; i < names.length; i++) if (names[i] === lowerName) return this.rawHeaders[2 * i + 1];
    return undefined;
  }

  /** Every value of a header (by lower-case name), as received. */
  values(lowerName: string): string[] {
    return fieldValues(this.rawHeaders, this.lowerNames, lowerName);
  }

  // ---- request body -------------------------------------------------------------

  /** Body bytes are held or may still come (false: the request is all head). */
  get hasBody(): boolean {
    return !this.bodyComplete || this.bodyHeld !== null;
  }

  /** Delivers the body: what is held at once, the rest as it comes, then onEnd. */
  readBody(onChunk: (chunk: Buffer) => void, onEnd: () => void): void {
    const held = this.bodyHeld;
    this.bodyHeld = null;
    if (held) for (const chunk of held) onChunk(chunk);
    if (this.bodyComplete) return onEnd();
    this.onChunk = onChunk;
    this.onBodyEnd = onEnd;
  }

  /** Keeps what arrives from now on until the next readBody(). */
  holdBody(): void {
    this.onChunk = this.onBodyEnd = undefined;
  }

  /** Stops reading from the client (back-pressure on a streamed body). */
  pause(): void {
    this.connection.pauseReading('body');
  }

  resume(): void {
    this.connection.resumeReading('body');
  }

  /** From the parser. */
  bodyChunk(chunk: Buffer): void {
    if (this.onChunk) this.onChunk(chunk);
    else (this.bodyHeld ??= []).push(chunk);
  }

  /** From the parser. */
  bodyEnd(): void {
    this.bodyComplete = true;
    const onEnd = this.onBodyEnd;
    this.onChunk = this.onBodyEnd = undefined;
    onEnd?.();
  }

  // ---- response -----------------------------------------------------------------

  /**
   * Prepares the response head (sent with the first body bytes, or at end()). Throws,
   * with nothing written, on a header name that is not a token or a value with a character
   * HTTP forbids. `headers` must not hold hop-by-hop fields: the framing is the front's.
   */
  writeHead(status: number, reason: string, headers: string[]): void {
    if (this.head || this.headersSent) throw new Error('response head written twice');
    if (hasInvalidHeaderChar(reason)) throw new Error('invalid reason phrase');
    let head = `HTTP/1.1 ${status} ${reason}\r\n`;
    let hasLength = false;
    let hasDate = false;
    const hsts = this.connection.hsts;
    let hasHsts = hsts === undefined;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i];
      const value = headers[i + 1];
      if (!isToken(name)) throw new Error(`invalid header name ${JSON.stringify(name)}`);
      if (hasInvalidHeaderChar(value)) throw new Error(`invalid character in header ${name}`);
      if (name.length === 14 && name.toLowerCase() === 'content-length') hasLength = true;
      else if (name.length === 4 && name.toLowerCase() === 'date') hasDate = true;
      else if (!hasHsts && name.length === 25 && name.toLowerCase() === 'strict-transport-security') hasHsts = true;
      head += `${name}: ${value}\r\n`;
    }
    // A response forwarded without a Date gets one (RFC 9110 §6.6.1), as do the front's own.
    if (!hasDate) head += `date: ${httpDate()}\r\n`;
    // HSTS over HTTPS only (RFC 6797 §7.2), on every answer, unless the app sent its own.
    if (!hasHsts) head += `strict-transport-security: ${hsts}\r\n`;
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

  /** Writes body bytes; false means the client is behind (wait for onDrain). */
  write(chunk: Buffer): boolean {
    if (this.finished || this.aborted) return true;
    const socket = this.connection.socket;
    if (this.noBody || chunk.length === 0) {
      if (!this.headersSent) this.sendHead();
      return true;
    }
    if (this.headersSent && !this.chunked) return socket.write(chunk);
    // Head and first bytes (or a chunk and its framing) leave in one writev.
    socket.cork();
    if (!this.headersSent) {
      socket.write(this.head, 'latin1');
      this.headersSent = true;
    }
    let ok: boolean;
    if (this.chunked) {
      socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      socket.write(chunk);
      ok = socket.write('\r\n', 'latin1');
    } else {
      ok = socket.write(chunk);
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

  /** A whole small response of the front's own (errors, refusals). */
  respond(status: number, reason: string, headers: string[], body: string): void {
    const bytes = Buffer.from(body);
    this.writeHead(status, reason, [...headers, 'content-length', String(bytes.length)]);
    this.write(bytes);
    this.end();
  }

  /**
   * Sends the 101 head prepared by writeHead and hands the socket over to another protocol,
   * with the bytes the client sent after its request.
   */
  switchProtocols(): { socket: Socket; rest: Buffer } {
    this.headersSent = true;
    this.finished = true;
    return this.connection.startTunnel(this, this.head);
  }

  /** Tells a client that sent Expect: 100-continue to go on with its body. */
  writeContinue(): void {
    if (this.versionMinor >= 1 && !this.headersSent) this.connection.socket.write('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
  }

  /** Calls back once the client has taken what was written. */
  onDrain(callback: () => void): void {
    this.connection.socket.once('drain', callback);
  }

  /** Breaks the connection: the client sees an incomplete response, never a short one. */
  destroy(): void {
    this.connection.socket.destroy();
  }

  private sendHead(): void {
    this.connection.socket.write(this.head, 'latin1');
    this.headersSent = true;
  }

  /** From the connection: the client left (or broke the protocol) before the response ended. */
  abort(): void {
    if (this.aborted || this.finished) return;
    this.aborted = true;
    this.onAbort?.();
  }
}
