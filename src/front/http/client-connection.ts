import type { Socket } from 'node:net';
import type { ConnectionOwner } from './connection-owner.ts';
import type { ExchangeConnection, PauseReason } from './exchange-connection.ts';
import type { ConnectionLimits, FrontConnection } from './front-connection.ts';
import { Http1Exchange } from './http1-exchange.ts';
import { createRequestParser, METHODS, type ParseError, type RequestParser } from './llhttp.ts';

/**
 * One client connection: llhttp reads the socket directly and calls back here. Requests are
 * answered in order, one at a time; pipelined ones wait in a short queue (reading stops
 * while any wait, so a client cannot make the front buffer without bound).
 *
 * An upgrade request is an ordinary exchange until its back-end answers 101: llhttp stops
 * after it, reading stops, and what the client sent after it is kept. On 101 the socket
 * becomes a tunnel with those bytes first (startTunnel); on any other answer they are
 * parsed as HTTP and reading resumes, so nothing reaches a back-end unchecked.
 */
export class ClientConnection implements ExchangeConnection, FrontConnection {
  readonly socket: Socket;
  readonly remoteAddress: string;
  readonly secure: boolean;
  /** Strict-Transport-Security for this connection's answers, as configured when it opened (HTTPS only). */
  readonly hsts: string | undefined;
  private readonly owner: ConnectionOwner;
  private readonly parser: RequestParser;
  /** The exchange being answered. */
  private current: Http1Exchange | undefined;
  private readonly queue: Http1Exchange[] = [];
  /** The exchange whose body the parser is reading (the current one or a queued one). */
  private parsing: Http1Exchange | undefined;
  /** The upgrade request after which llhttp stopped, and the bytes that followed it. */
  private stoppedAt: Http1Exchange | undefined;
  private afterUpgrade: Buffer | undefined;
  private resumeQueued = false;
  private pendingHeaders: string[] = [];
  private pendingUrl = '';
  private readonly paused = new Set<PauseReason>();
  private consumed = true;
  /** When the head now being received began (ms), 0 if none is: the header timeout, which also covers a new connection that sends nothing. */
  headStart = Date.now();
  /** When the body now being received began (ms), 0 if none is. */
  bodyStart = 0;
  /** When the connection last became idle between requests (ms), 0 otherwise. For the idle timeout. */
  idleSince = 0;
  /** Close once the current response is written (the front is stopping, or the client half-closed). */
  closing = false;

  constructor(socket: Socket, owner: ConnectionOwner) {
    this.socket = socket;
    this.remoteAddress = socket.remoteAddress ?? '';
    this.secure = (socket as { encrypted?: boolean }).encrypted === true;
    this.hsts = this.secure ? owner.hsts : undefined;
    this.owner = owner;
    this.parser = createRequestParser(owner.maxHeaderBytes, this);
    // The parser reads from the handle in C++; the JS side only sees EOF and errors (resume() lets 'end' come).
    this.parser.consume(this.handle!);
    socket.resume();
    socket.on('error', () => {}); // 'close' follows
    socket.on('end', this.onEnd);
    socket.on('close', this.onClose);
  }

  /** The socket's libuv handle (net's internal `_handle`): the parser reads it, and it stops and starts reads. */
  private get handle(): { readStart(): void; readStop(): void } | null {
    return (this.socket as unknown as { _handle: { readStart(): void; readStop(): void } | null })._handle;
  }

  get busy(): boolean {
    return this.current !== undefined || this.headStart !== 0;
  }

  /** From the server's timer: a head, a body or an idle spell that took too long ends the connection. */
  sweep(now: number, limits: ConnectionLimits): void {
    if (this.headStart !== 0 && now - this.headStart > limits.headersMs) {
      this.owner.clientError(this, 'HEADERS_TIMEOUT', `no whole request head within ${limits.headersMs} ms`);
      this.answerAndClose('408 Request Timeout');
    } else if (this.bodyStart !== 0 && now - this.bodyStart > limits.bodyMs) {
      this.socket.destroy();
    } else if (this.idleSince !== 0 && now - this.idleSince > limits.idleMs) {
      this.socket.destroy();
    }
  }

  // ---- parser callbacks (this object is the parser's callback table) --------------

  readonly onMessageBegin = (): void => {
    this.headStart = Date.now();
    this.idleSince = 0;
  };

  readonly onHeaders = (headers: string[], url: string): void => {
    // Heads of more than 32 fields arrive in parts; trailers arrive here too (and are dropped).
    if (this.headStart === 0) return;
    this.pendingHeaders.push(...headers);
    this.pendingUrl += url;
  };

  readonly onHeadersComplete = (_major: number, minor: number, headers: string[] | undefined, method: number, url: string | undefined, _status: number, _message: string, upgrade: boolean, keepAlive: boolean): number => {
    if (!headers) {
      headers = this.pendingHeaders;
      this.pendingHeaders = [];
    }
    if (!url) {
      url = this.pendingUrl;
      this.pendingUrl = '';
    }
    const exchange = new Http1Exchange(this, METHODS[method] ?? 'GET', url, minor, headers, keepAlive, upgrade);
    const now = Date.now();
    this.headStart = 0;
    this.parsing = exchange;
    this.bodyStart = now;
    if (this.current) {
      this.queue.push(exchange);
      this.pauseReading('queue');
    } else {
      this.current = exchange;
      this.dispatch(exchange);
    }
    return 0;
  };

  readonly onBody = (chunk: Buffer): void => {
    try {
      this.parsing?.bodyChunk(chunk);
    } catch (err) {
      this.internalError(err);
    }
  };

  readonly onMessageComplete = (): void => {
    const exchange = this.parsing;
    this.parsing = undefined;
    this.bodyStart = 0;
    this.pendingHeaders = []; // trailers, if any
    if (exchange?.upgrade) this.stoppedAt = exchange; // llhttp stops here (onExecute keeps the rest)
    try {
      exchange?.bodyEnd();
    } catch (err) {
      this.internalError(err);
    }
  };

  readonly onExecute = (result: number | ParseError, buffer?: Buffer): void => {
    if (typeof result !== 'number') {
      // Bytes after a request that said Connection: close are ignored; it is answered, then the connection closes.
      if (result.code === 'HPE_CLOSED_CONNECTION') {
        this.closing = true;
        if (!this.current) this.socket.destroySoon();
        return;
      }
      return this.protocolError(result.code, result.reason);
    }
    if (this.stoppedAt && this.afterUpgrade === undefined) {
      // llhttp stopped after an upgrade request: keep the rest, read nothing more until its answer.
      this.afterUpgrade = Buffer.from((buffer ?? this.parser.getCurrentBuffer()).subarray(result));
      this.pauseReading('upgrade');
      // The front may have answered it already, before llhttp stopped (a refusal, a 503).
      this.maybeResume();
    }
  };

  private dispatch(exchange: Http1Exchange): void {
    try {
      this.owner.request(exchange);
    } catch (err) {
      this.internalError(err);
    }
  }

  /** A bug below must cost this connection, never the process (an exception would cross llhttp). */
  private internalError(err: unknown): void {
    this.owner.clientError(this, 'INTERNAL', err instanceof Error ? (err.stack ?? err.message) : String(err));
    this.socket.destroy();
  }

  // ---- reading ------------------------------------------------------------------

  pauseReading(reason: PauseReason): void {
    if (this.paused.size === 0 && this.consumed) this.handle?.readStop();
    this.paused.add(reason);
  }

  resumeReading(reason: PauseReason): void {
    if (!this.paused.delete(reason) || this.paused.size > 0 || !this.consumed) return;
    this.handle?.readStart();
  }

  // ---- the response side --------------------------------------------------------

  /** From the exchange: its response is complete. The next request (if any) goes on. */
  responseDone(exchange: Http1Exchange): void {
    if (exchange !== this.current) return;
    this.current = undefined;
    if (exchange.aborted) return;
    if (exchange.closeAfter || (this.closing && this.queue.length === 0)) {
      this.closing = true;
      this.queue.length = 0;
      // Closes once the client has taken the rest; one that never reads goes at the idle timeout.
      this.idleSince = Date.now();
      this.socket.destroySoon();
      return;
    }
    if (exchange === this.stoppedAt) {
      // Answered without a switch: what followed it is HTTP again (after this call returns).
      this.idleSince = Date.now();
      this.maybeResume();
      return;
    }
    const next = this.queue.shift();
    if (next) {
      this.current = next;
      if (this.queue.length === 0) this.resumeReading('queue');
      this.dispatch(next);
      return;
    }
    if (this.headStart === 0) this.idleSince = Date.now();
  }

  /**
   * Parsing resumes once both have happened, in either order: llhttp stopped after the upgrade
   * request (its rest is kept), and the request was answered without a switch.
   */
  private maybeResume(): void {
    const stopped = this.stoppedAt;
    if (!stopped || this.afterUpgrade === undefined || !stopped.finished || stopped === this.current || this.closing || this.resumeQueued) return;
    this.resumeQueued = true;
    queueMicrotask(this.resumeAfterUpgrade);
  }

  private readonly resumeAfterUpgrade = (): void => {
    this.resumeQueued = false;
    const rest = this.afterUpgrade;
    this.stoppedAt = this.afterUpgrade = undefined;
    if (!this.consumed) return;
    if (rest && rest.length) this.onExecute(this.parser.execute(rest), rest);
    if (!this.stoppedAt) this.resumeReading('upgrade');
  };

  /**
   * The back-end switched protocols: writes the 101 head and hands the socket over, with
   * the bytes the client sent after its request. The connection stays counted (and capped)
   * by the server until the socket closes.
   */
  startTunnel(exchange: Http1Exchange, head: string): { socket: Socket; rest: Buffer } {
    if (exchange !== this.current || exchange !== this.stoppedAt) throw new Error('only the upgrade request being answered can switch protocols');
    const rest = this.afterUpgrade ?? Buffer.alloc(0);
    this.stoppedAt = this.afterUpgrade = undefined;
    this.current = undefined;
    this.socket.off('end', this.onEnd);
    this.release();
    // Reads were stopped on the handle, behind net's back: start them again for the stream.
    this.paused.clear();
    this.handle?.readStart();
    this.socket.write(head, 'latin1');
    return { socket: this.socket, rest };
  }

  /** Stops taking requests: an idle connection closes now, a busy one after its response. */
  close(): void {
    this.closing = true;
    if (!this.busy) this.socket.destroy();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private protocolError(code: string, reason: string): void {
    this.owner.clientError(this, code, reason);
    const current = this.current;
    this.closing = true;
    this.queue.length = 0;
    if (current && current.headersSent) return void this.socket.destroy();
    current?.abort();
    this.current = undefined;
    const status = code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    this.answerAndClose(status);
  }

  /** A bare error answer outside any exchange (bad request, header timeout): no body, and the connection closes. */
  answerAndClose(status: string): void {
    this.headStart = 0;
    if (this.current) return void this.socket.destroy(); // mid-response: no room for an answer
    if (this.socket.writable) this.socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`, 'latin1');
    this.socket.destroySoon();
  }

  private readonly onEnd = (): void => {
    // The client will send nothing more: answer what it asked for whole, then close. A
    // request whose body is cut short can never be answered: that is the client leaving.
    this.closing = true;
    if (!this.current || this.parsing) this.socket.destroy();
  };

  private readonly onClose = (): void => {
    const current = this.current;
    this.current = undefined;
    this.queue.length = 0;
    current?.abort();
    if (this.parsing !== current) this.parsing?.abort();
    this.release();
    this.owner.closed(this);
  };

  /** Detaches and frees the parser (once: on close, or when the socket becomes a tunnel). */
  private release(): void {
    if (!this.consumed) return;
    this.consumed = false;
    const parser = this.parser;
    parser.unconsume();
    // Not while a parser callback may be on the stack.
    setImmediate(() => parser.close());
  }
}
