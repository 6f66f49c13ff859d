import type { DatabaseSync } from 'node:sqlite';
import type { Logger } from 'pino';
import type { CommandRegistry } from '../commands/registry.ts';
import type { HostTable } from '../config/host-table.ts';
import { registerOutboxCommands } from '../critical/commands.ts';
import { CriticalService } from '../critical/critical-service.ts';
import { CriticalInbox, type BackupGate } from '../critical/inbox.ts';
import type { Peer } from '../net/peer.ts';
import type { GroupCommit } from '../store/group-commit.ts';
import type { Part } from './lifecycle.ts';

/**
 * Critical messages on a node, both ends: the inbox (applied once, kept for the host table's
 * retention, pruned hourly) and the outbox's deliveries to each peer. It starts before the node
 * listens or dials (what an earlier run left in the outbox is queued first) and drains once the
 * app instances are gone, before the links close.
 */
export class CriticalPart implements Part {
  readonly inbox: CriticalInbox;
  readonly service: CriticalService;
  private readonly retentionMs: number;
  private pruneTimer: NodeJS.Timeout | undefined;

  constructor(opts: { self: string; table: HostTable; db: DatabaseSync; commit: GroupCommit; registry: CommandRegistry; peers: Map<string, Peer>; log: Logger; backup: BackupGate }) {
    this.inbox = new CriticalInbox(opts.db, opts.registry, opts.commit, opts.log, opts.backup);
    this.service = new CriticalService({ self: opts.self, db: opts.db, commit: opts.commit, inbox: this.inbox, peers: opts.peers, settings: opts.table.critical, log: opts.log });
    registerOutboxCommands(opts.registry, this.service);
    this.retentionMs = opts.table.critical.inboxRetentionHours * 3_600_000;
  }

  async start(): Promise<void> {
    await this.service.start();
    const prune = () => this.inbox.prune(Date.now() - this.retentionMs);
    prune();
    this.pruneTimer = setInterval(prune, Math.min(this.retentionMs, 3_600_000));
    this.pruneTimer.unref();
  }

  drain(): void {
    clearInterval(this.pruneTimer);
    this.service.stop();
  }
}
