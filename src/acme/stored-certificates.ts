import type { Logger } from 'pino';
import type { AcmeItems } from './acme-items.ts';
import { acmeItemKey, newerIssued, type HeldCertificate, type IssuedPem } from './issued-certificate.ts';

/** A name not yet stored (no front ordered it yet) is looked for this often... */
const MISSING_POLL_MS = 5000;
/** ...a held one this often: a renewal another front stored is served within a minute. */
const HELD_POLL_MS = 60_000;

interface StoredCertificatesOptions {
  /** The ACME directory the fronts order from (the items' scope). */
  directory: string;
  names: string[];
  /** The ACME state, on the cluster's ACME home. */
  items: AcmeItems;
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
    const { directory, names, items, log } = this.opts;
    const home = items.home;
    let changed = false;
    let failed = false;
    for (const name of names) {
      try {
        const found = newerIssued((await items.get(acmeItemKey(directory, 'cert', name)))?.value, name, this.held.get(name));
        if (found) {
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
