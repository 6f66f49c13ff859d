import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { UpstreamConnection } from './upstream/connection.ts';

/**
 * A switched connection (WebSocket, after the back-end's 101): bytes flow both ways
 * untouched, with back-pressure each way, until either side closes or nothing moves for
 * `idleMs` (HAProxy's `timeout tunnel`); then both sides close.
 */
export class Tunnel {
  /** The client's socket (HTTP/1.1), or its HTTP/2 stream (RFC 8441). */
  private readonly client: Duplex & { setTimeout(ms: number): unknown };
  private readonly upstream: Socket;
  private readonly onEnd: () => void;
  private ended = false;

  constructor(client: Duplex & { setTimeout(ms: number): unknown }, clientRest: Buffer, conn: UpstreamConnection, upstreamRest: Buffer, idleMs: number, onEnd: () => void) {
    this.client = client;
    this.upstream = conn.socket;
    this.onEnd = onEnd;
    const { upstream } = this;
    // The back-end's socket reads through the front's shared buffer (net's onread), so its
    // bytes come from the connection, copied, rather than from 'data' events.
    conn.tunnelTo((chunk) => {
      if (!client.write(chunk)) {
        upstream.pause();
        client.once('drain', () => upstream.resume());
      }
    });
    if (upstreamRest.length) client.write(upstreamRest);
    if (clientRest.length) upstream.write(clientRest);
    client.pipe(upstream);
    upstream.on('end', () => client.end());
    for (const socket of [client, upstream]) {
      socket.setTimeout(idleMs);
      socket.on('timeout', this.end);
      socket.on('error', this.end);
      socket.on('close', this.end);
    }
    // A side already gone ends it, once the caller holds the tunnel.
    if (client.destroyed || upstream.destroyed) queueMicrotask(this.end);
  }

  /** A reload's timeouts.tunnelIdleMs applies to open tunnels too. */
  setIdle(ms: number): void {
    this.client.setTimeout(ms);
    this.upstream.setTimeout(ms);
  }

  readonly end = (): void => {
    if (this.ended) return;
    this.ended = true;
    this.client.destroy();
    this.upstream.destroy();
    this.onEnd();
  };
}
