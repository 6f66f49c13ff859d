import { hstsValue } from '../config/tls-schema.ts';
import type { FrontConfig } from './config.ts';
import type { HttpServerOptions } from './http/server.ts';
import { CertificateSet } from '../tls/certificate-set.ts';
import { TicketKeyRing } from '../tls/ticket-keys.ts';
import type { AcmeManager } from './tls/acme/acme-manager.ts';

/** A session resumes this long without front.listen.tls.tickets (Mozilla's intermediate ssl_session_timeout). */
const SESSION_LIFETIME_S = 86_400;
/** A new ticket key every 12 hours without front.listen.tls.tickets (tls-schema.ts's default). */
const TICKET_ROTATE_S = 43_200;

/**
 * The listener's settings; with front.listen.tls, its certificates read from their files (this
 * throws on a bad one). `tickets` is the ring in service: kept when the config's tickets did not
 * change (a random key must outlive a reload), else a new one.
 */
export function listenerOptions(cfg: FrontConfig, baseDir: string, tickets: TicketKeyRing | undefined, acme?: AcmeManager): HttpServerOptions {
  const { limits, timeouts } = cfg;
  const tls = cfg.listen.tls;
  return {
    maxHeaderBytes: limits.maxHeaderBytes,
    maxConnections: limits.maxClientConnections,
    headersMs: timeouts.headersMs,
    bodyMs: Math.max(timeouts.headersMs, 300_000),
    idleMs: timeouts.idleMs,
    upgrades: cfg.upgrades,
    tls: tls && {
      certificates: new CertificateSet(tls.certificates, baseDir, tls.profile, ticketRing(tls.tickets, cfg.node !== undefined, tickets), tls.tickets?.lifetimeS ?? SESSION_LIFETIME_S, acme?.issued()),
      strictSni: tls.strictSni,
      hsts: hstsValue(tls.hsts),
      alpn: tls.http2 ? ['h2', 'http/1.1'] : ['http/1.1'],
      acme,
    },
  };
}

/** Keys shared through the node network when the front has a node and no secret is given (ticket-keys.ts). */
function ticketRing(t: { secret?: string; rotateS: number; lifetimeS: number } | undefined, hasNode: boolean, previous: TicketKeyRing | undefined): TicketKeyRing {
  const settings = { secret: t?.secret, shared: t?.secret === undefined && hasNode, rotateMs: (t?.rotateS ?? TICKET_ROTATE_S) * 1000, lifetimeMs: (t?.lifetimeS ?? SESSION_LIFETIME_S) * 1000 };
  return previous?.sameAs(settings) ? previous : new TicketKeyRing(settings);
}
