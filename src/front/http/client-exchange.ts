import type { Duplex } from 'node:stream';
import { fieldValues } from './hop-by-hop.ts';
import { httpDate } from './http-date.ts';
import { hasInvalidHeaderChar, isToken } from './llhttp.ts';

/**
 * One request from a client and the response to it, as the request path sees it whatever
 * the protocol: the head (HTTP/2's translated to HTTP/1.1 fields, see http2/http2-request.ts),
 * the body as it arrives, and a writer of the response. http1-exchange.ts frames the response
 * on an HTTP/1.x connection, http2/http2-exchange.ts on an HTTP/2 stream.
 */
export abstract class ClientExchange {
  readonly method: string;
  /** The request target as received (HTTP/2: :path). */
  readonly url: string;
  /** HTTP/1.x's minor version; HTTP/2 requests count as 1.1 (their translation follows 1.1's rules). */
  readonly versionMinor: number;
  /** Header names and values: [name, value, name, value, ...]. */
  readonly rawHeaders: string[];
  /** The header names in lower case, one per pair. */
  readonly lowerNames: string[];
  /** The client asks to switch protocols (HTTP/1.1 Upgrade, HTTP/2 extended CONNECT). */
  readonly upgrade: boolean;
  /** Called once if the client goes away, or breaks the protocol, before the response ended. */
  onAbort: (() => void) | undefined;
  aborted = false;
  /** The whole body has arrived (or there was none). */
  bodyComplete: boolean;
  headersSent = false;
  /** end() was called: the response is complete as far as the front is concerned. */
  finished = false;
  private bodyHeld: Buffer[] | null = null;
  private onChunk: ((chunk: Buffer) => void) | undefined;
  private onBodyEnd: (() => void) | undefined;

  constructor(method: string, url: string, versionMinor: number, rawHeaders: string[], lowerNames: string[], hasBody: boolean, upgrade: boolean) {
    this.method = method;
    this.url = url;
    this.versionMinor = versionMinor;
    this.rawHeaders = rawHeaders;
    this.lowerNames = lowerNames;
    this.bodyComplete = !hasBody;
    this.upgrade = upgrade;
  }

  abstract get clientIp(): string;
  /** Came over TLS (the front's HTTPS listener). */
  abstract get secure(): boolean;
  /** TLS: the name the client's handshake asked for (SNI). */
  abstract get serverName(): string | undefined;
  /** The client's connection closes after this response (HTTP/1.x); an HTTP/2 stream's siblings go on. */
  abstract closeConnection(): void;
  /** Stops reading the body from the client (back-pressure on a streamed body). */
  abstract pause(): void;
  abstract resume(): void;
  /**
   * Prepares the response head (sent with the first body bytes, or at end()). Throws, with
   * nothing written, on a header name that is not a token or a value with a character HTTP
   * forbids. `headers` must not hold hop-by-hop fields: the framing is the front's.
   */
  abstract writeHead(status: number, reason: string, headers: string[]): void;
  /**
   * Writes body bytes; false means the client is behind (wait for onDrain). `done` is called
   * once the writer reads `chunk` no more: when its write is done, or at once if it copied the
   * bytes or wrote nothing (the chunk may be a view of a buffer that is reused after that).
   */
  abstract write(chunk: Buffer, done?: () => void): boolean;
  /** Completes the response. */
  abstract end(): void;
  /** Sends the 101 (HTTP/2: 200) prepared by writeHead and hands the byte stream over, with what the client sent after its request. */
  abstract switchProtocols(): { socket: Duplex & { setTimeout(ms: number): unknown }; rest: Buffer };
  /** Tells a client that sent Expect: 100-continue to go on with its body. */
  abstract writeContinue(): void;
  /** Calls back once the client has taken what was written. */
  abstract onDrain(callback: () => void): void;
  /** Breaks the response off: the client sees an incomplete response, never a short one. */
  abstract destroy(): void;

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

  /** A whole small response of the front's own (errors, refusals). */
  respond(status: number, reason: string, headers: string[], body: string): void {
    const bytes = Buffer.from(body);
    this.writeHead(status, reason, [...headers, 'content-length', String(bytes.length)]);
    this.write(bytes);
    this.end();
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

  /** From the connection: body bytes. */
  bodyChunk(chunk: Buffer): void {
    if (this.onChunk) this.onChunk(chunk);
    else (this.bodyHeld ??= []).push(chunk);
  }

  /** From the connection: the body is whole. */
  bodyEnd(): void {
    this.bodyComplete = true;
    const onEnd = this.onBodyEnd;
    this.onChunk = this.onBodyEnd = undefined;
    onEnd?.();
  }

  /** From the connection: the client left (or broke the protocol) before the response ended. */
  abort(): void {
    if (this.aborted || this.finished) return;
    this.aborted = true;
    this.onAbort?.();
  }

  /**
   * Checks a response head's fields and lists them for the protocol's writer, with what the
   * front adds: a Date if the answer has none (RFC 9110 §6.6.1), and Strict-Transport-Security
   * over HTTPS when configured (RFC 6797 §7.2) unless the app sent its own. Returns whether a
   * Content-Length was among them. A throw leaves what the writer gathered unused.
   */
  protected eachField(reason: string, headers: string[], hsts: string | undefined, field: (name: string, value: string) => void): boolean {
    if (hasInvalidHeaderChar(reason)) throw new Error('invalid reason phrase');
    let hasLength = false;
    let hasDate = false;
    let hasHsts = hsts === undefined;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i];
      const value = headers[i + 1];
      if (!isToken(name)) throw new Error(`invalid header name ${JSON.stringify(name)}`);
      if (hasInvalidHeaderChar(value)) throw new Error(`invalid character in header ${name}`);
      if (name.length === 14 && name.toLowerCase() === 'content-length') hasLength = true;
      else if (name.length === 4 && name.toLowerCase() === 'date') hasDate = true;
      else if (!hasHsts && name.length === 25 && name.toLowerCase() === 'strict-transport-security') hasHsts = true;
      field(name, value);
    }
    if (!hasDate) field('date', httpDate());
    if (!hasHsts) field('strict-transport-security', hsts!);
    return hasLength;
  }
}
