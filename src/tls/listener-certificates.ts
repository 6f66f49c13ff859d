import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { CertificateFiles, CertificateSummary } from './certificate-set.ts';
import { CertificateWatch } from './certificate-watch.ts';

const WEEK_MS = 7 * 86_400_000;

/**
 * Keeps an HTTPS listener's certificates (the front's, a node's port) current between reloads: when their files change
 * (a renewal), `apply` reads them again and puts them in service for new handshakes; files
 * that cannot be served are logged and the certificates in service stay.
 */
export class ListenerCertificates {
  private watch: CertificateWatch | undefined;
  private readonly log: Logger;
  private readonly apply: () => CertificateSummary[];

  constructor(log: Logger, apply: () => CertificateSummary[]) {
    this.log = log;
    this.apply = apply;
  }

  /** Watches the files of `tls` (paths relative to baseDir), instead of the ones watched before; none without tls. */
  follow(tls: { certificates: CertificateFiles[] } | undefined, baseDir: string): void {
    this.watch?.close();
    const files = (tls?.certificates ?? []).flatMap((c) => [resolve(baseDir, c.cert), resolve(baseDir, c.key)]);
    this.watch = files.length ? new CertificateWatch(files, () => this.reread('certificate files changed')) : undefined;
  }

  close(): void {
    this.watch?.close();
  }

  /** Reads the certificates again and puts them in service (their files changed, ACME brought one); what cannot be served is logged and the ones in service stay. */
  reread(why: string): void {
    try {
      const summary = this.apply();
      this.log.info({ event: 'certificates_reloaded', certificates: summary.map((c) => ({ file: c.file, serial: c.serial, notAfter: c.notAfter })) }, `${why}: new handshakes get them`);
      warnExpiring(this.log, summary);
    } catch (err) {
      const message = (err as Error).message;
      this.log.error({ event: 'certificates_rejected', err: message }, `${why} but they cannot be served, the ones in service stay: ${message}`);
    }
  }
}

/** A certificate past its end, or within a week of it, is said in the log (at start, at each reload and renewal). */
export function warnExpiring(log: Logger, summary: CertificateSummary[] | undefined): void {
  for (const c of summary ?? []) {
    const leftMs = Date.parse(c.notAfter) - Date.now();
    if (leftMs < WEEK_MS) log.warn({ event: leftMs < 0 ? 'certificate_expired' : 'certificate_expiring', file: c.file, names: c.names.slice(0, 10), notAfter: c.notAfter }, `${c.file} ${leftMs < 0 ? 'expired' : 'expires'} ${c.notAfter}`);
  }
}
