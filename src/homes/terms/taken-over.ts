import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { CohortError } from '../../errors.ts';
import type { HomeRecords } from '../../records/stores/home-store.ts';
import type { MovedUsers } from '../../records/stores/moved-users.ts';
import { withTimeout } from '../../timeout.ts';
import type { ReplicaStore } from '../replica-store.ts';
import { MAX_SHIP_ENTRIES } from '../home-shipper.ts';
import { SnapshotReader } from '../snapshot-reader.ts';
import type { HomeTerm } from './home-term.ts';

type Call = (to: string, cmd: string, args: unknown) => Promise<unknown>;

/** Entries in one part of a hand-back, and how long the home has to take each. */
const PART_MS = 5000;
/** How often a promoted backup looks for its home, to hand its writes back. */
const LOOK_MS = 1000;

/** A home's users whose writes this node took over: her rows, and the check before each write. */
export interface TakenOver {
  records: HomeRecords;
  /** Where the home's users moved, as the home marked them (a write for one goes on to her new home). */
  moves: MovedUsers;
  /** Throws con_lost unless this node takes the home's writes now (lease held, the voters told it answers alone, no hand-back under way). */
  fence(what: string): void;
  applyOnce(sender: string, mid: string, work: () => unknown): unknown;
}

/**
 * The homes whose writes this node took over as their backup (issue 27, promotion): a write to
 * one of their users is applied to its copy (replicas/<home>.db) while this node holds the
 * home's lease, once the voters recorded that the home lacks it (the home is down: it answers
 * alone). Once the home answers again, this node stops taking its writes, sends it the copy
 * whole (`home.restore`: the home's users, records, history and applied ids become the copy's),
 * has the voters record the home in step, and ends its lease, so the home claims the next epoch
 * at once and takes its writes again (its lane's senders follow). The home then sends this copy
 * whole again, as to a new one.
 */
export class TakenOverHomes {
  private readonly copies: Map<string, ReplicaStore>;
  private readonly terms: Map<string, HomeTerm>;
  private readonly call: Call;
  private readonly log: Logger;
  private readonly maxChars: number;
  private readonly handingBack = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(opts: { copies: Map<string, ReplicaStore>; terms: Map<string, HomeTerm>; call: Call; log: Logger; maxFrameBytes: number }) {
    this.copies = opts.copies;
    this.terms = opts.terms;
    this.call = opts.call;
    this.log = opts.log;
    this.maxChars = Math.floor(opts.maxFrameBytes / 4);
  }

  /** The epoch at which this node holds `home`'s writes (0: it does not; a copy must not take that home's log meanwhile). */
  epochHeld(home: string): number {
    return this.terms.get(home)?.status().epoch ?? 0;
  }

  /** Each home this node may take over: the epoch it holds it at (0: none), and how often it was promoted since it started. */
  status(): { home: string; epoch: number; promotions: number }[] {
    return [...this.terms].map(([home, t]) => ({ home, epoch: t.status().epoch, promotions: t.promotions }));
  }

  /** Where a user's write goes on this node when her home's writes were taken over here. */
  find(domain: string, user: string): TakenOver | undefined {
    for (const [home, term] of this.terms) {
      const copy = this.copies.get(home);
      if (!copy || !term.holdsLease() || !(copy.users.exists(domain, user) || copy.moves.mark(domain, user))) continue;
      return {
        records: copy.records,
        moves: copy.moves,
        fence: (what) => {
          if (this.handingBack.has(home)) throw new CohortError('con_lost', `${home}'s writes are being handed back to it: ${what} is taken there in a moment; try again`);
          term.fence(what);
          if (!term.aloneAllowed()) throw new CohortError('con_lost', `the voters have not yet recorded that ${home} lacks the writes taken here: ${what} waits; try again`);
        },
        applyOnce: (sender, mid, work) => copy.applyOnce(sender, mid, work),
      };
    }
    return undefined;
  }

  start(): void {
    this.timer = setInterval(() => {
      for (const [home, term] of this.terms) if (term.holdsLease() && !this.handingBack.has(home)) void this.handBackIfBack(home, term);
    }, LOOK_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async handBackIfBack(home: string, term: HomeTerm): Promise<void> {
    try {
      await withTimeout(this.call(home, 'home.term.holder', { home }), LOOK_MS);
    } catch {
      return; // still away
    }
    const copy = this.copies.get(home)!;
    this.handingBack.add(home);
    const started = Date.now();
    try {
      const id = randomBytes(9).toString('base64url');
      const part = (p: 'begin' | 'rows' | 'end', entries: unknown[]) => withTimeout(this.call(home, 'home.restore', { part: p, id, entries }), PART_MS);
      await part('begin', []);
      let rows = 0;
      for (const entries of new SnapshotReader(copy.database).pages(MAX_SHIP_ENTRIES, this.maxChars)) {
        await part('rows', entries);
        rows += entries.length;
      }
      await part('end', []);
      await term.release();
      copy.forget();
      this.log.warn({ event: 'home_handed_back', home, rows, ms: Date.now() - started }, `${home} is back: its writes are handed back to it (${rows} rows sent)`);
    } catch (err) {
      this.log.warn({ event: 'home_hand_back_failed', home, err: (err as Error).message }, `handing ${home}'s writes back failed (${(err as Error).message}): this node keeps taking them, and tries again`);
      // A release that did not go through leaves the voters told the home is in step: tell them again it is not.
      term.setInSync(false).catch(() => {});
    } finally {
      this.handingBack.delete(home);
    }
  }
}
