import type { Socket } from 'node:net';

export type PauseReason = 'body' | 'queue' | 'upgrade';

/** A client connection as its exchanges see it (client-connection.ts is the one). */
export interface ExchangeConnection {
  readonly socket: Socket;
  readonly remoteAddress: string;
  /** Close once the current response is written. */
  closing: boolean;
  pauseReading(reason: PauseReason): void;
  resumeReading(reason: PauseReason): void;
  /** The exchange's response is complete: the next request (if any) goes on. */
  responseDone(exchange: object): void;
  /** Writes the 101 head and hands the socket over, with the bytes the client sent after its request. */
  startTunnel(exchange: object, head: string): { socket: Socket; rest: Buffer };
}
