import type { Logger } from 'pino';
import type { CommandRegistry } from '../commands/registry.ts';
import type { HostTable } from '../config/host-table.ts';
import { z } from 'zod';
import { recordsInPostgres } from '../config/schema.ts';
import { backupOf, homesBackedUpBy } from '../homes/backup-of.ts';
import { HomeTerm, type HomeFence } from '../homes/terms/home-term.ts';
import { registerTermCommands } from '../homes/terms/term-commands.ts';
import { TermStore } from '../homes/terms/term-store.ts';
import { Voter } from '../homes/terms/voter.ts';
import { homesVotedOnBy, termPairOf, votersOf } from '../homes/terms/voters.ts';
import type { Part, PartHealth } from './lifecycle.ts';


/**
 * A node's part in the homes' terms (issue 27): as a voter (a library node, or an access node
 * marked `voter`) it keeps the terms of its domain's homes on disk and answers renewals and
 * claims; as a home with a backup and at least 3 voters, it holds its own lease. A node with
 * neither does nothing here, and a home without terms is never fenced.
 */
export class NodeTerms implements Part, HomeFence {
  /** This node's own home's terms (undefined: no terms for it). */
  readonly home: HomeTerm | undefined;
  /** The terms of the homes this node is the backup of: it claims one once its home has been silent for a lease (promotion). */
  readonly backedUp = new Map<string, HomeTerm>();
  private readonly store: TermStore | undefined;
  private readonly voter: Voter | undefined;
  /** Whether this node's copy of a home is whole (set by the homes part, made after this one). */
  private copyWhole: (home: string) => boolean = () => false;

  constructor(opts: { self: string; table: HostTable; dataDir: string; registry: CommandRegistry; call: (to: string, cmd: string, args: unknown) => Promise<unknown>; log: Logger }) {
    const { self, table, registry } = opts;
    // Every voter of its domain keeps a voter, though no home has terms yet: a library node joining may bring one (issue 28).
    const domain = table.nodes.find((n) => n.id === self)?.domain;
    if (homesVotedOnBy(table, self).length > 0 || (domain !== undefined && votersOf(table, domain).includes(self))) {
      this.store = new TermStore(opts.dataDir);
      this.voter = new Voter({ store: this.store, leaseMs: table.homeLeaseMs, log: opts.log });
      registerTermCommands(registry, { self, table, voter: this.voter });
    }
    // Its own vote goes straight to its registry, as a peer's would (peers-only commands).
    const call = async (to: string, cmd: string, args: unknown) => (to === self ? registry.execute(cmd, args, { from: self }) : opts.call(to, cmd, args));
    const pair = termPairOf(table, self);
    this.table = table;
    this.self = self;
    this.call = call;
    this.log = opts.log;
    for (const home of homesBackedUpBy(table, self)) this.addBackedUp(home);
    registry.register({
      name: 'home.term.holder',
      summary: "whether this node holds a home's lease now (the home itself, or its backup once promoted), and at which epoch: a home's lane asks, to send its writes there",
      args: z.strictObject({ home: z.string().min(1).max(64) }),
      scope: 'any',
      run: (a) => {
        const term = a.home === self ? this.home : this.backedUp.get(a.home);
        const s = term?.status();
        return { holds: s?.leaseHeld ?? false, epoch: s?.epoch ?? 0 };
      },
    });
    if (pair) {
      this.home = new HomeTerm({ self, home: self, pair: [pair.home, pair.backup], voters: pair.voters, leaseMs: table.homeLeaseMs, call, logger: opts.log });
    } else if (backupOf(table, self) !== undefined) {
      const domain = table.nodes.find((n) => n.id === self)!.domain;
      opts.log.warn({ event: 'home_without_voters' }, `fewer than 3 voters in domain '${domain}': ${self} answers writes alone whenever its backup is away, without the voters' consent (mark access nodes voter: true)`);
    }
  }

  private readonly table: HostTable;
  private readonly self: string;
  private readonly call: (to: string, cmd: string, args: unknown) => Promise<unknown>;
  private readonly log: Logger;
  private started = false;

  /**
   * A home this node backs up: its term, which it claims once the home has been silent for a
   * lease (promotion). At start, and when a library node joins with this node as its backup (issue 28).
   */
  addBackedUp(home: string): void {
    const { table, self } = this;
    // A node whose own users are in PostgreSQL applies critical writes in its own transactions: it takes no other home's writes.
    if (this.backedUp.has(home) || recordsInPostgres(table.nodes.find((n) => n.id === self))) return;
    const theirs = termPairOf(table, home);
    if (!theirs || !this.voter) return;
    const voter = this.voter;
    // Its own vote must say the home has been silent for a lease (the voters check it too), and its copy must be whole.
    const canClaim = () => this.copyWhole(home) && voter.silentMs(home) >= table.homeLeaseMs;
    const term = new HomeTerm({ self, home, pair: [theirs.home, theirs.backup], voters: theirs.voters, leaseMs: table.homeLeaseMs, call: this.call, logger: this.log, canClaim });
    this.backedUp.set(home, term);
    if (this.started) term.start();
  }

  /** The homes part says which copies are whole (a backup claims only with a whole copy). */
  attachCopies(whole: (home: string) => boolean): void {
    this.copyWhole = whole;
  }

  fence(what?: string): void {
    this.home?.fence(what);
  }

  async leased(what?: string): Promise<void> {
    await this.home?.leased(2000, what);
  }

  start(): void {
    this.started = true;
    this.home?.start();
    for (const t of this.backedUp.values()) t.start();
  }

  drain(): void {
    this.started = false;
    this.home?.stop();
    for (const t of this.backedUp.values()) t.stop();
  }

  stop(): void {
    this.store?.close();
  }

  status(): PartHealth {
    if (!this.home) return { ok: true, detail: this.voter ? 'votes on its domain\'s homes' : 'no terms here' };
    const s = this.home.status();
    return s.leaseHeld ? { ok: true, detail: `holds its home's lease at epoch ${s.epoch}` } : { ok: false, detail: `does not hold its home's lease (${s.votersAnswered.length} of ${s.voters.length} voters answered)` };
  }
}
