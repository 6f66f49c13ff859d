import type { DatabaseSync } from 'node:sqlite';
import type { Logger } from 'pino';
import type { CommandRegistry } from '../commands/registry.ts';
import type { HostTable } from '../config/host-table.ts';
import { registerOutboxCommands } from '../critical/commands.ts';
import { CriticalService } from '../critical/critical-service.ts';
import { CriticalInbox, type BackupGate } from '../critical/inbox.ts';
import type { Peer } from '../net/peer.ts';
import type { GroupCommit } from '../store/group-commit.ts';
import type { HomeStore } from '../records/stores/home-store.ts';
import type { Part } from './lifecycle.ts';
import { HomeLane } from '../critical/home-lane.ts';
import { termPairOf } from '../homes/terms/voters.ts';

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

  private readonly store: HomeStore;
  private readonly log: Logger;

  /** `store`: the home's users and records; one that applies critical messages itself (PostgreSQL) keeps their ids too, pruned with the inbox. */
  private readonly laneTo: (home: string) => HomeLane | undefined;

  constructor(opts: { self: string; table: HostTable; db: DatabaseSync; commit: GroupCommit; registry: CommandRegistry; peers: Map<string, Peer>; log: Logger; backup: BackupGate; store: HomeStore }) {
    const lanes = homeLanes(opts.self, opts.table, opts.peers, opts.log);
    this.laneTo = (home) => laneTo(home, opts.self, opts.table, opts.peers, opts.log);
    this.store = opts.store;
    this.log = opts.log;
    this.inbox = new CriticalInbox(opts.db, opts.registry, opts.commit, opts.log, opts.backup, { batch: opts.store.batch?.bind(opts.store) });
    this.service = new CriticalService({ self: opts.self, db: opts.db, commit: opts.commit, inbox: this.inbox, peers: opts.peers, lanes, settings: opts.table.critical, log: opts.log });
    registerOutboxCommands(opts.registry, this.service);
    this.retentionMs = opts.table.critical.inboxRetentionHours * 3_600_000;
  }

  /** A library node joined (issue 28): its writes go in a lane that follows its lease, where it keeps terms. */
  homeAdded(home: string): void {
    const lane = this.laneTo(home);
    if (lane) this.service.addLane(lane);
  }

  async start(): Promise<void> {
    await this.service.start();
    const prune = () => {
      const before = Date.now() - this.retentionMs;
      this.inbox.prune(before);
      this.store.pruneApplied?.(before).catch((err: unknown) => this.log.warn({ event: 'applied_prune_failed', err: (err as Error).message }, `cannot prune the store's applied message ids now: ${(err as Error).message}`));
    };
    prune();
    this.pruneTimer = setInterval(prune, Math.min(this.retentionMs, 3_600_000));
    this.pruneTimer.unref();
  }

  drain(): void {
    clearInterval(this.pruneTimer);
    this.service.stop();
  }
}

/** A lane for each home with terms (issue 27), on every node but the home and its backup (they reach it directly, or are it). */
function homeLanes(self: string, table: HostTable, peers: Map<string, Peer>, log: Logger): HomeLane[] {
  return table.nodes.flatMap((n) => laneTo(n.id, self, table, peers, log) ?? []);
}

function laneTo(home: string, self: string, table: HostTable, peers: Map<string, Peer>, log: Logger): HomeLane | undefined {
  const pair = termPairOf(table, home);
  if (!pair || pair.home === self || pair.backup === self) return undefined;
  return new HomeLane(peers.get(pair.home)!, peers.get(pair.backup)!, log);
}
