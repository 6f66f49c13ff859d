import type { Logger } from 'pino';
import type { HostTable } from '../config/host-table.ts';
import { ConfigError, loadHostTable } from '../config/host-table.ts';
import { pinnedOperatorKey, readSignedFile, verifySignedFile, verifySignedTable, type SignedTable } from '../config/signed-table.ts';
import type { HostsStatus } from '../config/table-change.ts';

/** How often the front asks its node which host table version it holds (a local socket, one small answer). */
const EVERY_MS = 1000;

interface FollowerOptions {
  node: string;
  call: (node: string, cmd: string, args: unknown) => Promise<unknown>;
  /** The table the front runs on now. */
  table: () => HostTable;
  apply: (table: HostTable, hash: string) => void;
  log: Logger;
}

/**
 * The front follows the cluster's host table (issue 28): it asks its node (front.node) which
 * version the node holds; a newer one is fetched, checked against the operator's key the front
 * pins itself (<tls dir>/operator.pub: a node is not trusted to vouch for it), and applied as a
 * reload (access nodes added become back-ends once their health check passes). What reload
 * refuses (listen, admin and the like) is logged once per version, and the front runs on.
 */
export class TableFollower {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private refused = 0;
  private readonly opts: FollowerOptions;

  constructor(opts: FollowerOptions) {
    this.opts = opts;
  }

  start(): void {
    if (!pinnedOperatorKey(this.opts.table().tlsDir)) return; // an unversioned cluster: its table changes by SIGHUP only
    this.timer = setInterval(() => void this.check(), EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async check(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    const { node, call, log } = this.opts;
    try {
      const held = (await call(node, 'hosts.current', {})) as HostsStatus;
      const running = this.opts.table();
      if (held.version <= running.version || held.version === this.refused) return;
      const signed = (await call(node, 'hosts.fetch', {})) as SignedTable;
      const next = verifySignedTable(signed, pinnedOperatorKey(running.tlsDir)!, running.file);
      if (next.version <= running.version) return;
      try {
        this.opts.apply(next.table, next.hash);
        log.info({ event: 'front_table_followed', version: next.version, via: node }, `host table version ${next.version} (from ${node}) applied`);
      } catch (err) {
        this.refused = next.version;
        log.error({ event: 'front_table_refused', version: next.version, err: (err as Error).message }, `host table version ${next.version} not applied: ${(err as Error).message}`);
      }
    } catch (err) {
      log.debug({ event: 'front_table_check_failed', err: (err as Error).message }, 'could not ask the node for its host table');
    } finally {
      this.busy = false;
    }
  }
}

/**
 * The front's host table from its file (at start, SIGHUP, POST /reload): where the operator's key
 * is pinned, only a signed one, as for a node (its hash says which text of its version it is).
 */
export function loadFrontTable(file: string): { table: HostTable; hash: string | undefined } {
  const table = loadHostTable(file);
  const key = pinnedOperatorKey(table.tlsDir);
  if (!key) return { table, hash: undefined };
  const signed = readSignedFile(file);
  if (!signed) throw new ConfigError(file, [`not signed (no ${file}.sig), and the operator's key is pinned (${table.tlsDir}/operator.pub): cohort hosts sign`]);
  const verified = verifySignedFile(signed, key, file);
  return { table: verified.table, hash: verified.hash };
}
