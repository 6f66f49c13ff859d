import type { ClientExchange } from './client-exchange.ts';
import type { FrontConnection } from './front-connection.ts';

/** What a client connection needs from its server (server.ts). */
export interface ConnectionOwner {
  readonly maxHeaderBytes: number;
  /** Strict-Transport-Security for HTTPS connections (undefined: not sent). */
  readonly hsts: string | undefined;
  /** The upgrades the front forwards (HTTP/2 announces extended CONNECT when websocket is one). */
  readonly upgrades: readonly string[];
  request(exchange: ClientExchange): void;
  clientError(connection: FrontConnection, code: string, reason: string): void;
  closed(connection: FrontConnection): void;
}
