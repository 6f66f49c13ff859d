import type { Socket } from 'node:net';

export type PauseReason = 'body' | 'queue' | 'upgrade';

/** A client connection as its exchanges see it (client-connection.ts is the one). */
export interface ExchangeConnection {
  readonly socket: Socket;
  readonly remoteAddress: string;
  /** Over TLS (the front's HTTPS listener). */
  readonly secure: boolean;
  /** The Strict-Transport-Security value to send on this connection's answers: HTTPS only, and only if configured. */
  readonly hsts: string | undefined;
  /** Close once the current response is written. */
  closing: boolean;
  pauseReading(reason: PauseReason): void;
  resumeReading(reason: PauseReason): void;
  /** The exchange's response is complete: the next request (if any) goes on. */
  responseDone(exchange: object): void;
  /** Writes the 101 head and hands the socket over, with the bytes the client sent after its request. */
  startTunnel(exchange: object, head: string): { socket: Socket; rest: Buffer };
}
