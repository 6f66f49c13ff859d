import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { acmeHome } from '../../../acme/issued-certificate.ts';
import type { CallNode } from '../../../client/node-connection.ts';
import type { HostTable } from '../../../config/host-table.ts';
import type { FrontConfig } from '../../config.ts';
import { AcmeCache } from './acme-cache.ts';
import { trustDirectory } from './acme-issuer.ts';
import { AcmeItems } from '../../../acme/acme-items.ts';
import { AcmeManager } from './acme-manager.ts';

/**
 * This front's ACME (front.listen.tls.acme), if it has one: its state on the cluster's ACME
 * home, its own copies under the cluster's dataDir (a folder per front, by its listen port:
 * served at start even while the home is down), the CA's directory trusted as configured.
 */
export function frontAcme(table: HostTable, cfg: FrontConfig, call: CallNode, log: Logger, changed: () => void): AcmeManager | undefined {
  const acme = cfg.listen.tls?.acme;
  if (!acme) return undefined;
  trustDirectory(acme, dirname(table.file));
  const items = new AcmeItems(call, acmeHome(table, acme.home));
  const cache = new AcmeCache(join(table.dataDir, `front-${cfg.listen.port}`, 'acme'), acme.directory, log);
  // A holder name unique to this process: a lease is this process's, not its host's.
  return new AcmeManager({ settings: acme, items, holder: `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`, log, cache, changed });
}
