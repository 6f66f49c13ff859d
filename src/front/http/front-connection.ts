/** The timeouts the server's one timer enforces on every connection (server.ts). */
export interface ConnectionLimits {
  /** A request head must arrive whole within this (slow-loris); a new connection must send one within it. */
  headersMs: number;
  /** A request body must arrive whole within this. */
  bodyMs: number;
  /** A connection with no request under way for this long is closed. */
  idleMs: number;
}

/** A client connection as the server holds it, whatever its protocol (HTTP/1.x or HTTP/2). */
export interface FrontConnection {
  readonly remoteAddress: string;
  /** Applies the timeouts (called about four times per shortest timeout). */
  sweep(now: number, limits: ConnectionLimits): void;
  /** Stops taking requests: idle now, busy after the responses under way (HTTP/2: GOAWAY). */
  close(): void;
  /** Ends it at once (the front's grace ran out). */
  destroy(): void;
}
