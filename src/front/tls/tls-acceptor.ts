import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { CertificateSet } from '../../tls/certificate-set.ts';
import { readClientHello, type ClientHello } from '../../tls/client-hello.ts';

/** The ALPN protocol of ACME's TLS-ALPN-01 challenge (RFC 8737 §6.2). */
const ACME_TLS_ALPN = 'acme-tls/1';

const PLAIN_BODY = 'plain HTTP was sent to the HTTPS port\n';
const PLAIN_HTTP_ANSWER = `HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${PLAIN_BODY.length}\r\nconnection: close\r\n\r\n${PLAIN_BODY}`;

/** What the acceptor asks of ACME (the front's AcmeManager): a challenge's context, an on-demand name's certificate. */
export interface AcmeHandshakes {
  challenges: { alpnAnswer(name: string): Promise<SecureContext | undefined> };
  /** For a name without a certificate: resolves once it has one (undefined: not a name to order). */
  onDemand(name: string): Promise<unknown> | undefined;
}

export interface TlsListenerSettings {
  certificates: CertificateSet;
  /** A client whose SNI names no certificate (or that sends none) is refused, not given the default. */
  strictSni: boolean;
  /** The Strict-Transport-Security value sent on every HTTPS answer, if configured. */
  hsts: string | undefined;
  /** The protocols offered by ALPN, the preferred first (h2 when HTTP/2 is on). */
  alpn: string[];
  /** front.listen.tls.acme: TLS-ALPN-01 answers, and on-demand names. */
  acme?: AcmeHandshakes;
}

/**
 * The TLS side of the front's HTTPS listener: reads each new connection's ClientHello
 * (client-hello.ts), lets the certificate set pick the context for it (the name, and RSA or
 * ECDSA), then hands the bytes to OpenSSL for the handshake. A connection is pending from its
 * accept until its handshake ends: the front counts it against maxConnections and drops it
 * past the header timeout (a slow hello or handshake is a slow-loris too).
 */
export class TlsAcceptor {
  /** Raw sockets in their hello or handshake -> when they arrived. */
  private readonly pending = new Map<Socket, number>();
  private readonly settings: () => TlsListenerSettings;
  private readonly secured: (socket: TLSSocket) => void;
  private readonly failed: (code: string, reason: string, remoteAddress: string) => void;

  constructor(settings: () => TlsListenerSettings, secured: (socket: TLSSocket) => void, failed: (code: string, reason: string, remoteAddress: string) => void) {
    this.settings = settings;
    this.secured = secured;
    this.failed = failed;
  }

  get size(): number {
    return this.pending.size;
  }

  accept(raw: Socket): void {
    this.pending.set(raw, Date.now());
    raw.on('error', () => {}); // 'close' follows
    raw.once('close', () => this.pending.delete(raw));
    // The hello's pieces, read again only once as many bytes as it needs have come (no copy per byte).
    const chunks: Buffer[] = [];
    let total = 0;
    let need = 5;
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      total += chunk.length;
      if (total < need) return;
      const received = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      chunks.length = 0;
      chunks.push(received);
      const hello = readClientHello(received);
      if (typeof hello === 'number') return void (need = hello);
      raw.off('data', onData);
      chunks.length = 0;
      this.handshake(raw, received, hello);
    };
    raw.on('data', onData);
  }

  /** The hello read: a certificate picked and the handshake begun, or the connection refused. */
  private handshake(raw: Socket, received: Buffer, hello: ClientHello | null): void {
    const address = raw.remoteAddress ?? '';
    if (hello === null) {
      // Plain HTTP on the HTTPS port (nginx says so too); anything else is cut.
      if (/^[A-Z]{3,7} /.test(received.subarray(0, 8).toString('latin1'))) raw.end(PLAIN_HTTP_ANSWER);
      return this.refuse(raw, 'TLS_NO_HELLO', 'the first bytes are not a TLS ClientHello', address);
    }
    const tls = this.settings();
    const name = hello.serverName;
    // RFC 8737 §3: a CA's challenge offers acme-tls/1 alone; it gets the challenge's certificate and nothing else.
    if (hello.alpn.length === 1 && hello.alpn[0] === ACME_TLS_ALPN && tls.acme && name !== undefined) {
      raw.pause();
      tls.acme.challenges.alpnAnswer(name).then((context) => {
        if (!this.pending.has(raw)) return; // swept or closed meanwhile
        if (!context) return this.refuse(raw, 'TLS_NO_CERTIFICATE', `no ACME challenge is pending for ${name}`, address);
        this.begin(raw, received, context, [ACME_TLS_ALPN]);
      }).catch((err: Error) => this.refuse(raw, 'INTERNAL', err.message, address));
      return;
    }
    // An on-demand name's first handshake waits for its certificate (bounded by the handshake timeout's sweep).
    const waiting = name !== undefined && !tls.certificates.serves(name) ? tls.acme?.onDemand(name) : undefined;
    if (waiting) {
      raw.pause();
      waiting.then(() => {
        if (!this.pending.has(raw)) return; // swept or closed meanwhile
        const now = this.settings();
        const context = now.certificates.pick(hello, now.strictSni);
        if (!context) return this.refuse(raw, 'TLS_NO_CERTIFICATE', `no certificate for ${name} (its on-demand order failed)`, address);
        this.begin(raw, received, context, now.alpn);
      }).catch((err: Error) => this.refuse(raw, 'INTERNAL', err.message, address));
      return;
    }
    const context = tls.certificates.pick(hello, tls.strictSni);
    if (!context) return this.refuse(raw, 'TLS_NO_CERTIFICATE', `strict SNI: no certificate for ${name ?? 'a client that names no host'}`, address);
    this.begin(raw, received, context, tls.alpn);
  }

  /** The handshake with OpenSSL, from the hello already read. */
  private begin(raw: Socket, received: Buffer, context: SecureContext, alpn: string[]): void {
    if (raw.destroyed) return;
    const address = raw.remoteAddress ?? '';
    // The hello goes back in front of the stream; TLSSocket feeds what is buffered to OpenSSL first.
    raw.pause();
    raw.unshift(received);
    const socket = new TLSSocket(raw, { isServer: true, secureContext: context, ALPNProtocols: alpn });
    const failed = (err: Error & { code?: string }) => {
      if (this.pending.delete(raw)) this.failed(err.code ?? 'TLS_ERROR', err.message.slice(0, 200), address);
    };
    socket.on('error', failed);
    socket.once('secure', () => {
      socket.off('error', failed); // the connection's own handlers take over
      // A server TLSSocket made outside tls.Server never clears this flag itself, and
      // node:http2 waits for it (a 'secureConnect' that a server socket never emits).
      (socket as unknown as { secureConnecting: boolean }).secureConnecting = false;
      this.pending.delete(raw);
      // The CA's challenge handshake carries no request: it is done once the certificate was seen.
      if (socket.alpnProtocol === ACME_TLS_ALPN) return void socket.destroySoon();
      this.secured(socket);
    });
  }

  /** Drops connections whose hello and handshake took longer than timeoutMs. */
  sweep(now: number, timeoutMs: number): void {
    for (const [raw, since] of this.pending) {
      if (now - since > timeoutMs) this.refuse(raw, 'TLS_HANDSHAKE_TIMEOUT', `no finished handshake within ${timeoutMs} ms`, raw.remoteAddress ?? '');
    }
  }

  /** Closes every connection still in its handshake (the front stops). */
  close(): void {
    for (const raw of this.pending.keys()) raw.destroy();
  }

  private refuse(raw: Socket, code: string, reason: string, address: string): void {
    this.pending.delete(raw);
    this.failed(code, reason, address);
    if (raw.writableEnded) raw.destroySoon(); // an answer is on its way out: close once it is written
    else raw.destroy();
  }
}
