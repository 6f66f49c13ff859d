import type { Logger } from 'pino';
import { appSettingsDigest, appSettingsFor, appSocketPath, loadHostTable, type HostTable } from '../config/host-table.ts';
import type { NodeEntry } from '../config/schema.ts';
import type { CommandRegistry } from '../commands/registry.ts';
import { pdeathsigAvailable } from '../supervisor/app-process.ts';
import { registerAppCommands } from '../supervisor/commands.ts';
import { AppPool } from '../supervisor/pool.ts';
import type { Part, PartHealth } from './lifecycle.ts';

/**
 * The app servers this node supervises (seed 001), if the host table gives it any, and the
 * app commands (answered either way). The node's last part: its instances start once the node
 * is up, and are stopped first, while they can still reach it.
 */
export class AppPart implements Part {
  readonly pool: AppPool | undefined;
  private readonly log: Logger;

  constructor(self: NodeEntry, table: HostTable, registry: CommandRegistry, log: Logger) {
    this.log = log;
    const id = self.id;
    const settings = appSettingsFor(table, id);
    this.pool = settings && new AppPool(self, settings, table.file, appSocketPath(table, id), log);
    registerAppCommands(registry, { self: id, pool: this.pool, readSettings: () => {
        const onDisk = loadHostTable(table.file);
        return { settings: appSettingsFor(onDisk, id), digest: appSettingsDigest(onDisk, id) };
      }, log });
  }

  start(): void {
    if (!this.pool) return;
    if (!pdeathsigAvailable) this.log.warn({ event: 'no_pdeathsig' }, 'setpriv (util-linux) not found: app instances would outlive a node killed with kill -9');
    this.pool.start();
  }

  async drain(): Promise<void> {
    await this.pool?.close();
  }

  /** How many instances are ready. A pool's problem is the doctor's apps check's to tell, not this part's. */
  status(): PartHealth {
    if (!this.pool) return { ok: true, detail: 'no app on this node' };
    const { instances } = this.pool.snapshot();
    return { ok: true, detail: `${instances.filter((i) => i.state === 'ready').length} of ${instances.length} instances ready` };
  }
}
