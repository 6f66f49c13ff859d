import { hstsValue } from '../config/tls-schema.ts';
import type { FrontConfig } from './config.ts';
import type { HttpServerOptions } from './http/server.ts';
import { CertificateSet } from './tls/certificate-set.ts';

/** The listener's settings; with front.listen.tls, its certificates read from their files (this throws on a bad one). */
export function listenerOptions(cfg: FrontConfig, baseDir: string, ticketKeys: Buffer): HttpServerOptions {
  const { limits, timeouts } = cfg;
  const tls = cfg.listen.tls;
  return {
    maxHeaderBytes: limits.maxHeaderBytes,
    maxConnections: limits.maxClientConnections,
    headersMs: timeouts.headersMs,
    bodyMs: Math.max(timeouts.headersMs, 300_000),
    idleMs: timeouts.idleMs,
    upgrades: cfg.upgrades,
    tls: tls && { certificates: new CertificateSet(tls.certificates, baseDir, tls.profile, ticketKeys), strictSni: tls.strictSni, hsts: hstsValue(tls.hsts), alpn: tls.http2 ? ['h2', 'http/1.1'] : ['http/1.1'] },
  };
}
