import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { CertificateSet } from './certificate-set.ts';
import { readClientHello } from './client-hello.ts';

export interface TlsListenerSettings {
  certificates: CertificateSet;
  /** A client whose SNI names no certificate (or that sends none) is refused, not given the default. */
  strictSni: boolean;
  /** The Strict-Transport-Security value sent on every HTTPS answer, if configured. */
  hsts: string | undefined;
}

/**
 * The TLS side of the front's HTTPS listener: reads each new connection's ClientHello
 * (client-hello.ts), lets the certificate set pick the context for it (the name, and RSA or
 * ECDSA), then hands the bytes to OpenSSL for the handshake. A connection is pending from its
 * first byte until its handshake ends: the front counts it against maxConnections and drops it
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
    const address = raw.remoteAddress ?? '';
    this.pending.set(raw, Date.now());
    raw.on('error', () => {}); // 'close' follows
    raw.once('close', () => this.pending.delete(raw));
    let received: Buffer | undefined;
    const onData = (chunk: Buffer) => {
      received = received ? Buffer.concat([received, chunk]) : chunk;
      const hello = readClientHello(received);
      if (hello === undefined) return;
      raw.off('data', onData);
      if (hello === null) return this.refuse(raw, 'TLS_NO_HELLO', 'the first bytes are not a TLS ClientHello', address);
      const tls = this.settings();
      const context = tls.certificates.pick(hello, tls.strictSni);
      if (!context) return this.refuse(raw, 'TLS_NO_CERTIFICATE', `strict SNI: no certificate for ${hello.serverName ?? 'a client that names no host'}`, address);
      // The hello goes back in front of the stream; TLSSocket feeds what is buffered to OpenSSL first.
      raw.pause();
      raw.unshift(received);
      const socket = new TLSSocket(raw, { isServer: true, secureContext: context });
      socket.once('secure', () => {
        this.pending.delete(raw);
        this.secured(socket);
      });
      socket.on('error', (err: Error & { code?: string }) => {
        if (this.pending.delete(raw)) this.failed(err.code ?? 'TLS_ERROR', err.message.slice(0, 200), address);
      });
    };
    raw.on('data', onData);
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
    raw.destroy();
  }
}
