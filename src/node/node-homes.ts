import type { DatabaseSync } from 'node:sqlite';
import type { Logger } from 'pino';
import type { CommandRegistry } from '../commands/registry.ts';
import { recordsInPostgres } from '../config/schema.ts';
import type { HostTable } from '../config/host-table.ts';
import { backupOf, homesBackedUpBy } from '../homes/backup-of.ts';
import { registerHomeBackupCommands } from '../homes/commands.ts';
import { registerCopyCommands, type CopyUse } from '../homes/copy-commands.ts';
import { HomeLog } from '../homes/home-log.ts';
import { LoginRelay } from '../homes/login-relay.ts';
import { HomeShipper, type BackupStatus } from '../homes/home-shipper.ts';
import type { HomeTerm } from '../homes/terms/home-term.ts';
import { registerRestoreCommand } from '../homes/terms/restore-command.ts';
import { TakenOverHomes } from '../homes/terms/taken-over.ts';
import type { NodeTerms } from './node-terms.ts';
import { ReplicaStore } from '../homes/replica-store.ts';
import type { BackupGate } from '../critical/inbox.ts';
import type { DomainPolicy } from '../records/domain-policy.ts';
import type { CopiesHeld } from '../records/home-lookup.ts';
import type { FailureLimiter, FailureSink } from '../records/rate-limit.ts';
import type { Part, PartHealth } from './lifecycle.ts';

/**
 * Homes and their backups on a node (issue 27): a library node logs every change to its users
 * and records and ships it to its backup, and keeps copies of the homes it is the backup of.
 * It starts before the node listens (writes wait for the backup until it is first heard from,
 * each up to its deadline), drains before any link closes, and stops after the links.
 */
export class NodeHomes implements Part, BackupGate, CopiesHeld {
  /** Where the stores put each change (off on a node without a backup). */
  readonly log: HomeLog;
  /** Where the login limiter tells its failures (to the backup, which counts them too; nowhere without one). */
  readonly loginFailures: FailureSink;
  private readonly relay: LoginRelay | undefined;
  /** One per copy kept here: the logins checked on it, told to its home once it is back. */
  private readonly copyRelays: LoginRelay[] = [];
  /** Answers given from the copies kept here, while their homes could not be reached. */
  readonly copyAnswers: Record<CopyUse, number> = { read: 0, login: 0 };
  private readonly lastCopyNotice = new Map<string, number>();
  /** Applied message ids are kept on the copies as long as the inbox keeps them. */
  private readonly retentionMs: number;
  private pruneTimer: NodeJS.Timeout | undefined;
  private readonly shipper: HomeShipper | undefined;
  private readonly replicas = new Map<string, ReplicaStore>();
  private readonly term: HomeTerm | undefined;
  /** The homes whose writes this node took over (promoted), handed back once they return. */
  readonly takenOver: TakenOverHomes;

  constructor(opts: { self: string; table: HostTable; db: DatabaseSync; dataDir: string; registry: CommandRegistry; policy: DomainPolicy; terms: NodeTerms; ownLogins: Pick<FailureLimiter, 'told'>; call: (to: string, cmd: string, args: unknown) => Promise<unknown>; log: Logger }) {
    const { self, table, db, log } = opts;
    this.term = opts.terms.home;
    const entry = table.nodes.find((n) => n.id === self);
    const backup = backupOf(table, self);
    this.log = new HomeLog(db, backup !== undefined);
    const domainOf = (id: string) => table.nodes.find((n) => n.id === id)!.domain;
    this.retentionMs = table.critical.inboxRetentionHours * 3_600_000;
    if (backup) {
      this.relay = new LoginRelay({ home: self, domain: domainOf(self), to: backup, call: opts.call, logger: log });
      this.shipper = new HomeShipper({ self, backup, log: this.log, db, call: opts.call, logger: log, maxFrameBytes: table.link.maxFrameBytes, consent: this.term });
    } else if (recordsInPostgres(entry)) {
      log.info({ event: 'home_in_postgres' }, `${self}'s users and records are in PostgreSQL: its standby is their backup`);
    } else if (entry?.role === 'library') log.warn({ event: 'home_without_backup' }, `no other library node in ${self}'s domain: its users and records have no backup`);
    this.loginFailures = this.relay ?? { failed: () => {}, forgiven: () => {} };
    this.keep = { domainOf, dataDir: opts.dataDir, call: opts.call, log };
    for (const home of homesBackedUpBy(table, self)) this.keepCopyOf(home);
    // Promotion (issue 27): the homes whose writes this node may take over, and a home taking its users back.
    opts.terms.attachCopies((home) => this.replicas.get(home)?.whole() ?? false);
    this.takenOver = new TakenOverHomes({ copies: this.replicas, terms: opts.terms.backedUp, call: opts.call, log, maxFrameBytes: table.link.maxFrameBytes });
    if (this.term) registerRestoreCommand(opts.registry, { self, table, db, term: this.term, homeLog: this.log, log });
    registerHomeBackupCommands(opts.registry, { self, table, replicas: this.replicas, status: () => this.backupStatus(), ownLogins: opts.ownLogins, takenOver: (home) => this.takenOver.epochHeld(home) });
    registerCopyCommands(opts.registry, { self, replicas: this.replicas, policy: opts.policy, call: opts.call, log, answered: (home, use) => this.answeredFromCopy(home, use, log) });
  }

  private readonly keep: { domainOf: (id: string) => string; dataDir: string; call: (to: string, cmd: string, args: unknown) => Promise<unknown>; log: Logger };
  private started = false;

  /**
   * A home whose copy this node keeps: at start, and when a library node joins with this node as
   * its backup (issue 28: its home then sends it a snapshot, as to any new copy).
   */
  keepCopyOf(home: string): void {
    if (this.replicas.has(home)) return;
    const { domainOf, dataDir, call, log } = this.keep;
    const relay = new LoginRelay({ home, domain: domainOf(home), to: home, call, logger: log });
    this.copyRelays.push(relay);
    this.replicas.set(home, new ReplicaStore(dataDir, home, relay));
    if (this.started) relay.start();
  }

  /** The home whose copy here holds this user, if any (home.query says so: she is found while her home is down). A copy being made from a snapshot speaks for no one. */
  copyHolding(domain: string, user: string): string | undefined {
    for (const [home, replica] of this.replicas) if (replica.whole() && replica.users.exists(domain, user)) return home;
    return undefined;
  }

  private answeredFromCopy(home: string, use: CopyUse, log: Logger): void {
    this.copyAnswers[use]++;
    // Once a minute per home, not per answer: a home down under load would flood the log.
    const now = Date.now();
    if (now - (this.lastCopyNotice.get(home) ?? 0) < 60_000) return;
    this.lastCopyNotice.set(home, now);
    log.warn({ event: 'home_copy_answering', home, use }, `answering for ${home}'s users from the copy kept here: ${home} cannot be reached by the nodes asking`);
  }

  /** Where this home's backup stands (null: no backup here). */
  backupStatus(): BackupStatus | null {
    const s = this.shipper?.status();
    return s ? { ...s, term: this.term?.status() ?? null } : null;
  }

  /** Resolves once the backup holds every change so far; rejects if it is out of step (no backup: at once). */
  confirmed(): Promise<void> {
    return this.shipper?.confirmed() ?? Promise.resolve();
  }

  beginJob(): void {
    this.log.beginJob();
  }

  endJob(): void {
    this.log.endJob();
  }

  applied(sender: string, mid: string, result: unknown, at: number): void {
    this.log.append(['applied', sender, mid, result, at]);
  }

  /** Changes logged by this process so far (a transaction that added some waits for the backup). */
  appended(): number {
    return this.log.appended;
  }

  /** Resolves once this home's backup holds every change committed so far (at once while it is out of step); rejects once the node stops. */
  settled(): Promise<void> {
    return this.shipper?.settled() ?? Promise.resolve();
  }

  start(): void {
    this.started = true;
    this.shipper?.start();
    this.takenOver.start();
    this.relay?.start();
    for (const r of this.copyRelays) r.start();
    const prune = () => {
      for (const r of this.replicas.values()) r.pruneApplied(Date.now() - this.retentionMs);
    };
    prune();
    this.pruneTimer = setInterval(prune, Math.min(this.retentionMs, 3_600_000));
    this.pruneTimer.unref();
  }

  /**
   * The node stops: before any part lets go of its links, writes waiting for the backup, and
   * those that come while the others drain, are answered con_lost (their senders try again
   * after the restart), never ok on this node alone.
   */
  drain(): void {
    this.started = false;
    this.shipper?.stop();
    this.takenOver.stop();
    this.relay?.stop();
    for (const r of this.copyRelays) r.stop();
    clearInterval(this.pruneTimer);
  }

  /** After the links and sockets (declared before them). */
  stop(): void {
    for (const r of this.replicas.values()) r.close();
  }

  status(): PartHealth {
    const copies = [...this.replicas.keys()];
    const kept = copies.length ? `; keeps the copies of ${copies.join(', ')}` : '';
    const s = this.shipper?.status();
    if (!s) return { ok: true, detail: `no home backup here${kept}` };
    const step = s.inSync ? `in step (log ${s.acked})` : `out of step since ${new Date(s.outOfSyncSince ?? Date.now()).toISOString()} (holds ${s.acked} of ${s.lsn})`;
    return { ok: true, detail: `backup ${s.backup} ${step}${kept}` };
  }
}
