import type { ClientExchange } from './client-exchange.ts';
import type { ExchangeConnection } from './exchange-connection.ts';

/** What a client connection needs from its server (server.ts). */
export interface ConnectionOwner {
  readonly maxHeaderBytes: number;
  /** Strict-Transport-Security for HTTPS connections (undefined: not sent). */
  readonly hsts: string | undefined;
  request(exchange: ClientExchange): void;
  clientError(connection: ExchangeConnection, code: string, reason: string): void;
  closed(connection: ExchangeConnection): void;
}
