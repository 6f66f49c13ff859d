import type { DatabaseSync } from 'node:sqlite';
import type { Logger } from 'pino';
import type { CommandRegistry } from '../commands/registry.ts';
import type { HostTable } from '../config/host-table.ts';
import { registerSessionCommands, StampClock } from '../sessions/commands.ts';
import { SessionCopies } from '../sessions/copies.ts';
import { registerLoginCommands } from '../sessions/login-commands.ts';
import { SessionPruner } from '../sessions/pruner.ts';
import { SessionStore } from '../sessions/session-store.ts';
import type { Part } from './lifecycle.ts';

/**
 * The node side of sessions: this node's copies, kept in step with their other copies, pruned
 * as they expire, and the login commands. It starts before the node listens (copies a write may
 * not have reached are noted first, and reads look at both copies until they are caught up).
 */
export class NodeSessions implements Part {
  readonly store: SessionStore;
  private readonly pruner: SessionPruner;
  private readonly copies: SessionCopies;

  constructor(opts: { self: string; table: HostTable; db: DatabaseSync; registry: CommandRegistry; call: (to: string, cmd: string, args: unknown) => Promise<unknown>; log: Logger }) {
    const { self, table, call, log } = opts;
    this.store = new SessionStore(opts.db);
    this.pruner = new SessionPruner(this.store, log, { maxAnonymous: table.sessionsMaxAnonymous });
    const stamps = new StampClock();
    this.copies = new SessionCopies({ self, table, store: this.store, call, log, observe: stamps.observe });
    registerLoginCommands(opts.registry, { self, table, call, log });
    registerSessionCommands(opts.registry, { store: this.store, copies: this.copies, clock: stamps });
  }

  /** A newer host table placed sessions anew (issue 28): this node's copies are owed to their new places, a batch a turn. */
  async tableChanged(previous: HostTable): Promise<void> {
    for (let after = 0; ; ) {
      const rows = this.store.idsAfter(after, 1000);
      this.copies.placedAnew(previous, rows.map((r) => r.id));
      if (rows.length < 1000) return;
      after = rows[rows.length - 1].rowid;
      await new Promise((r) => setImmediate(r));
    }
  }

  start(): void {
    this.pruner.start();
    this.copies.start();
  }

  async drain(): Promise<void> {
    await this.pruner.stop();
    this.copies.stop();
  }
}
