import type { Logger } from 'pino';
import { acmeItemKey, readIssued, type HeldCertificate, type IssuedPem } from './issued-certificate.ts';

/** A name not yet stored (no front ordered it yet) is looked for this often... */
const MISSING_POLL_MS = 5000;
/** ...a held one this often: a renewal another front stored is served within a minute. */
const HELD_POLL_MS = 60_000;

export interface StoredCertificatesOptions {
  /** The ACME directory the fronts order from (the items' scope). */
  directory: string;
  names: string[];
  /** The node that keeps the ACME state (acmeHome). */
  home: string;
  call: (to: string, command: string, args: unknown) => Promise<unknown>;
  log: Logger;
  /** The certificates held changed: the listener puts them in service. */
  changed: () => void;
}

/**
 * A node's HTTP port serving what the fronts' ACME ordered (nodes[].tls.acme): the certificates
 * stored on the ACME home for its names, read and checked like the fronts read them, a newer one
 * (a renewal) taken up within a minute. The node never orders: a front whose acme.names hold the
 * name does (and answers the CA's challenges).
 */
export class StoredCertificates {
  private readonly opts: StoredCertificatesOptions;
  private readonly held = new Map<string, HeldCertificate>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private unreachable = false;

  constructor(opts: StoredCertificatesOptions) {
    this.opts = opts;
  }

  start(): void {
    void this.round();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** The certificates held now, still valid. */
  issued(): IssuedPem[] {
    const now = Date.now();
    return [...this.held.values()].filter((h) => h.notAfter > now).map((h) => h.pem);
  }

  private async round(): Promise<void> {
    const { directory, names, home, call, log } = this.opts;
    let changed = false;
    let failed = false;
    for (const name of names) {
      try {
        const item = (await call(home, 'acme.get', { key: acmeItemKey(directory, 'cert', name) })) as { value?: unknown } | undefined;
        const found = readIssued(typeof item?.value === 'string' ? item.value : undefined, name);
        const had = this.held.get(name);
        // Only a certificate for the name, valid, and newer than the one held (as the fronts take them up).
        if (found && found.notAfter > Date.now() && (!had || found.notAfter > had.notAfter)) {
          this.held.set(name, found);
          changed = true;
          log.info({ event: 'acme_certificate_taken_up', name, serial: found.serial, notAfter: new Date(found.notAfter).toISOString() }, `serving the ACME certificate for ${name} the fronts keep on ${home}`);
        }
      } catch (err) {
        failed = true;
        if (!this.unreachable) log.warn({ event: 'acme_home_unreachable', home, err: (err as Error).message }, `cannot read the ACME certificates on ${home}; the ones in service stay`);
      }
    }
    if (this.unreachable && !failed) log.info({ event: 'acme_home_reachable', home }, `the ACME certificates on ${home} can be read again`);
    this.unreachable = failed;
    if (this.stopped) return;
    if (changed) this.opts.changed();
    const missing = failed || names.some((n) => !this.held.has(n));
    this.timer = setTimeout(() => void this.round(), missing ? MISSING_POLL_MS : HELD_POLL_MS);
    this.timer.unref();
  }
}
