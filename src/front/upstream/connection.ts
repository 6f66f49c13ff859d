import { connect, type Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import { connectTrusted } from '../../net/cluster-trust.ts';
import { ResponseParser, type ResponseEvents, type Switch } from '../http/response-parser.ts';
import { UpstreamError } from './upstream-error.ts';

/** One request/response on an upstream connection, from the proxy's side. */
export interface Exchange extends ResponseEvents {
  readonly method: string;
  /** The protocols the request asks to upgrade to, if it does. */
  readonly upgrade: string | undefined;
  /** The connection failed; `started` says whether any response byte had arrived. */
  onError(err: Error, started: boolean): void;
  /** The back-end switched protocols; the connection has left its pool and is the exchange's now. */
  onSwitch(conn: UpstreamConnection, response: Switch): void;
}

/**
 * Each plain connection reads into a buffer of its own, and body bytes go to the client as
 * views of it: no copy per read, and no new 64 KiB buffer per read for the collector to chase
 * (with large bodies, a copy per read made major collections a fifth of the front's CPU). A
 * writer that keeps a view borrows the buffer until its write is done; a read never lands in a
 * buffer on loan (the connection takes a spare one instead, and the loaned one becomes a spare
 * when its last loan ends).
 */
const READ_BYTES = 64 * 1024;
const MAX_SPARES = 64;
/**
 * Reads smaller than this are copied (small copies come from node's pool): a client that reads
 * nothing while a back-end streams small pieces would otherwise pin a whole read buffer per piece.
 */
const VIEW_MIN_BYTES = 16 * 1024;

class ReadBuffer {
  readonly bytes = Buffer.allocUnsafeSlow(READ_BYTES);
  /** Views of it still held by writes under way. */
  lent = 0;
}

const spares: ReadBuffer[] = [];
const takeBuffer = (): ReadBuffer => spares.pop() ?? new ReadBuffer();
/** A buffer no socket reads into any more: a spare once no loan holds it (the last loan's return brings it back then). */
const giveBack = (buffer: ReadBuffer): void => {
  if (buffer.lent === 0 && spares.length < MAX_SPARES) spares.push(buffer);
};

/** HTTPS to a back-end (a node's HTTP port with tls): a context holding the CAs its certificate must chain to; its name is the host's. */
export interface UpstreamTls {
  trust: SecureContext;
}

/** One connection's TLS: the trust, and the pool's last session with the back-end (resumed: no full handshake per new connection). */
export interface UpstreamTlsDial extends UpstreamTls {
  session: Buffer | undefined;
  onSession: (session: Buffer) => void;
}

/**
 * A keep-alive HTTP/1.1 connection to one back-end, carrying one request at a time.
 * When a response ends it tells its pool whether it can be reused.
 */
export class UpstreamConnection {
  readonly socket: Socket;
  private readonly parser: ResponseParser;
  private readonly onFree: (conn: UpstreamConnection, reusable: boolean) => void;
  private exchange: Exchange | undefined;
  private bodyDone = true;
  /** Once the connection is a tunnel: where its bytes go. */
  private tunnelSink: ((chunk: Buffer) => void) | undefined;
  /** Where the next read lands (plain connections; over TLS node's own buffers come as 'data'). */
  reading: ReadBuffer | undefined;
  /** The read being delivered is a view of `reading` (not a copy). */
  private viewing = false;
  lastUsed = Date.now();
  closed = false;
  /** Checked out of its pool (the pool's to set): a second release of it changes nothing. */
  checkedOut = false;

  private constructor(socket: Socket, maxHeaderBytes: number, onFree: (conn: UpstreamConnection, reusable: boolean) => void, reading: ReadBuffer | undefined) {
    this.socket = socket;
    this.reading = reading;
    this.parser = new ResponseParser(maxHeaderBytes);
    this.onFree = onFree;
    socket.on('error', () => {}); // 'close' follows and reports
    socket.on('close', this.onClose);
    socket.on('timeout', this.onTimeout);
  }

  /** No byte either way for this long fails the exchange under way (or closes an idle connection). */
  setTimeout(ms: number): void {
    this.socket.setTimeout(ms);
  }

  /** Gives back a connection that was acquired but never used. */
  release(): void {
    if (!this.exchange) this.onFree(this, !this.closed);
  }

  static open(host: string, port: number, timeoutMs: number, maxHeaderBytes: number, onFree: (conn: UpstreamConnection, reusable: boolean) => void, tls?: UpstreamTls | UpstreamTlsDial): Promise<UpstreamConnection> {
    return new Promise((resolve, reject) => {
      let conn: UpstreamConnection | undefined;
      // Reads reach the parser without the stream machinery (net's onread), each into the
      // buffer the connection names for it (asked again after every read).
      let first: ReadBuffer | undefined = tls ? undefined : takeBuffer();
      const onread = {
        buffer: () => (conn?.reading ?? first ?? takeBuffer()).bytes,
        callback: (n: number, buf: Buffer) => {
          conn?.onRead(buf, n);
          return true;
        },
      };
      // Over TLS the certificate is checked against tls.ca and the host's name (or address); its
      // reads come as 'data' (tls.connect has no onread).
      const socket = tls
        ? dialTls(host, port, tls).setNoDelay(true).on('data', (chunk: Buffer) => conn?.onData(chunk))
        : connect({ host, port, noDelay: true, onread });
      // A dial that fails never reads: its buffer is a spare again.
      const failed = () => {
        if (first) giveBack(first);
        first = undefined;
      };
      const timer = setTimeout(() => {
        socket.destroy();
        failed();
        reject(new UpstreamError('connect_timeout', `no connection to ${host}:${port} within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('error', (err) => {
        clearTimeout(timer);
        failed();
        reject(new UpstreamError('connect_failed', `cannot connect to ${host}:${port}: ${err.message}`));
      });
      socket.once(tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        conn = new UpstreamConnection(socket, maxHeaderBytes, onFree, first);
        first = undefined;
        resolve(conn);
      });
    });
  }

  /** Sends a request head (and a whole body, if given, else one that follows); the response goes to `exchange`. */
  send(head: string, body: Buffer | null, exchange: Exchange, bodyFollows = false): void {
    this.exchange = exchange;
    this.bodyDone = !bodyFollows;
    this.parser.expect(exchange, exchange.method === 'HEAD', exchange.upgrade !== undefined);
    if (body && body.length) {
      this.socket.cork();
      this.socket.write(head, 'latin1');
      this.socket.write(body);
      this.socket.uncork();
    } else {
      this.socket.write(head, 'latin1');
    }
  }

  /** Streams a piece of the request body (already framed by the caller). */
  writeBody(chunk: Buffer | string): boolean {
    return this.socket.write(chunk);
  }

  endBody(trailer?: string): void {
    if (trailer) this.socket.write(trailer);
    this.bodyDone = true;
  }

  /**
   * Closes it for good, for the proxy (a refused response, a client gone): the exchange under
   * way hears nothing more from it (its close is no error of the back-end's), and the pool
   * forgets it at once.
   */
  destroy(): void {
    this.closed = true;
    const busy = this.exchange !== undefined;
    this.exchange = undefined;
    this.socket.destroy();
    if (busy) this.onFree(this, false);
  }

  private readonly onTimeout = (): void => {
    if (this.exchange) this.fail(new UpstreamError('timeout', 'the back-end sent nothing in time'));
    else this.socket.destroy();
  };

  /** A read into the connection's read buffer: delivered as it is; if a writer borrowed it, the next read goes to another. */
  private onRead(buf: Buffer, n: number): void {
    // A tunnel's writes keep what they are given, unlent: a tunnel gets copies.
    if (n < VIEW_MIN_BYTES || this.tunnelSink) return this.onData(Buffer.from(buf.subarray(0, n)));
    this.viewing = true;
    try {
      this.onData(buf.subarray(0, n));
    } finally {
      this.viewing = false;
    }
    if (this.reading && this.reading.lent > 0) this.reading = takeBuffer();
  }

  /**
   * For a writer about to keep a view of the bytes just read (a body chunk): the read buffer is
   * on loan until the returned function is called (once its write is done).
   */
  borrow(): (() => void) | undefined {
    const loaned = this.reading;
    if (!loaned || !this.viewing) return undefined; // a copy (or node's own buffer): nothing to give back
    loaned.lent++;
    let returned = false;
    return () => {
      if (returned) return;
      returned = true;
      if (--loaned.lent === 0 && loaned !== this.reading) giveBack(loaned);
    };
  }

  private onData(chunk: Buffer): void {
    // Nothing thrown here may cross net's onread callback: it fails this connection only.
    try {
      if (this.tunnelSink) return this.tunnelSink(chunk);
      this.parser.push(chunk);
      if (this.parser.switched) this.switchProtocols(this.parser.switched);
      else if (this.exchange && this.parser.idle) this.complete();
    } catch (err) {
      this.fail(err as Error);
    }
  }

  /**
   * A 101 arrived. It counts only once the whole request went out (RFC 9110 §15.2.2: the
   * switch happens after the request); then the connection leaves the pool for the exchange.
   */
  private switchProtocols(response: Switch): void {
    const exchange = this.exchange!;
    if (!this.bodyDone) return this.fail(new UpstreamError('protocol', '101 before the request body was sent'));
    this.exchange = undefined;
    this.socket.setTimeout(0);
    this.socket.off('timeout', this.onTimeout);
    this.onFree(this, false);
    try {
      exchange.onSwitch(this, response);
    } catch (err) {
      this.socket.destroy();
      exchange.onError(err as Error, true);
    }
  }

  /** From now on every byte from the back-end goes to `sink` (the connection is a tunnel). */
  tunnelTo(sink: (chunk: Buffer) => void): void {
    this.tunnelSink = sink;
  }

  private complete(): void {
    this.exchange = undefined;
    this.lastUsed = Date.now();
    // Bytes after the end of a response (a body after a response to HEAD, say) answer no
    // request of ours: the connection goes, the client's exchange is already complete.
    const reusable = this.parser.keepAlive && this.bodyDone && !this.closed && !this.parser.overrun;
    if (!reusable) this.socket.destroy();
    // Paused for a slow client (respond.ts), it must read again for whoever takes it next:
    // the 'drain' that would resume it may come late, or never (an HTTP/2 stream that ended).
    else if (this.socket.isPaused()) this.socket.resume();
    this.onFree(this, reusable);
  }

  private readonly onClose = (): void => {
    this.closed = true;
    // The socket reads no more: its buffer is a spare now (or once its last loan ends).
    if (this.reading) giveBack(this.reading);
    this.reading = undefined;
    const exchange = this.exchange;
    if (!exchange) return;
    try {
      this.parser.close(); // a close-delimited body ends here
      if (this.parser.idle) return void this.complete();
    } catch (err) {
      this.fail(err as Error);
    }
  };

  private fail(err: Error): void {
    const exchange = this.exchange;
    this.exchange = undefined;
    this.closed = true;
    this.socket.destroy();
    if (exchange) exchange.onError(err, this.parser.started);
    this.onFree(this, false);
  }
}

/**
 * A TLS connection to a back-end, resuming the pool's last session with it when there is one.
 * A session goes to the pool only from a connection whose certificate checked out (TLS 1.2 gives
 * it before the handshake ends: it waits for 'secureConnect', which comes only once verified).
 */
function dialTls(host: string, port: number, tls: UpstreamTls | UpstreamTlsDial) {
  const dial = 'onSession' in tls ? tls : undefined;
  const socket = connectTrusted(host, port, tls.trust, { ALPNProtocols: ['http/1.1'], session: dial?.session });
  if (dial) {
    let verified = false;
    let early: Buffer | undefined;
    socket.once('secureConnect', () => {
      verified = true;
      if (early) dial.onSession(early);
    });
    socket.on('session', (session: Buffer) => (verified ? dial.onSession(session) : (early = session)));
  }
  return socket;
}
