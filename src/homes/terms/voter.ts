import type { Logger } from 'pino';
import type { Term, TermStore } from './term-store.ts';

/** A voter's answer to a renewal or a claim: whether it took it, and the term it holds now. */
export interface Vote extends Term {
  ok: boolean;
  /** Why not, when it did not. */
  why?: string;
}

/**
 * One voter's rules for a home's terms (issue 27). Time is this voter's own monotonic clock
 * (durations only: no wall clock, so an offset between machines changes nothing).
 *
 * - A renewal from the primary of the epoch it holds (or of a later one, which a majority
 *   granted) is taken: the primary's lease restarts here, and its `inSync` flag is recorded if
 *   its version is newer.
 * - A claim of epoch f is granted only if this voter holds an earlier epoch, and either the
 *   claimant is the primary it holds (the primary starting a new epoch: nothing changes hands),
 *   or the claimant is the home's other node, the holder's partner was in step (`inSync`) and the
 *   holder has not renewed for a whole lease by this voter's clock (nor has this voter been up
 *   for less than a lease: it may have missed renewals while down).
 *
 * A grant or a recorded flag is on disk before the answer leaves. Two claimants of one epoch
 * cannot both get a majority (a voter grants an epoch once); a promotion and a write answered by
 * a primary alone cannot both happen (each needs a majority, and they meet in a voter holding
 * `inSync` false).
 */
export class Voter {
  private readonly store: TermStore;
  private readonly leaseMs: number;
  private readonly now: () => number;
  private readonly startedAt: number;
  /** When each home's primary last renewed here (or was granted), by this voter's clock. */
  private readonly renewedAt = new Map<string, number>();
  private readonly log: Logger | undefined;

  constructor(opts: { store: TermStore; leaseMs: number; now?: () => number; log?: Logger }) {
    this.store = opts.store;
    this.leaseMs = opts.leaseMs;
    this.now = opts.now ?? (() => performance.now());
    this.startedAt = this.now();
    this.log = opts.log;
  }

  term(home: string): Term {
    return this.store.get(home);
  }

  /** Milliseconds since the home's primary last renewed here (or since this voter started, if later). */
  silentMs(home: string): number {
    return this.now() - Math.max(this.renewedAt.get(home) ?? this.startedAt, this.startedAt);
  }

  /** `release`: the primary hands the home on: its lease ends here now (its partner may claim at once, if in step). */
  renew(from: string, home: string, r: { epoch: number; version: number; inSync: boolean; release?: boolean }): Vote {
    const t = this.store.get(home);
    if (r.epoch < t.epoch) return { ok: false, ...t, why: `epoch ${r.epoch} is over: ${t.primary} holds ${home} at epoch ${t.epoch}` };
    if (r.epoch === t.epoch && from !== t.primary) return { ok: false, ...t, why: `${t.primary}, not ${from}, holds ${home} at epoch ${t.epoch}` };
    let next = t;
    if (r.epoch > t.epoch) next = { epoch: r.epoch, primary: from, inSync: r.inSync, version: r.version };
    else if (r.version > t.version) next = { ...t, inSync: r.inSync, version: r.version };
    if (next !== t) this.store.put(home, next);
    this.renewedAt.set(home, r.release ? -Infinity : this.now());
    return { ok: true, ...next };
  }

  /** `dryRun`: would it grant (a candidate asks first, so a claim that cannot win changes no voter)? */
  /**
   * `pair`: the home and its backup, the only nodes that may hold its writes. `inSync`: the
   * claimant's partner holds every write it acknowledged (the primary starting a new epoch says
   * where its partner stands; a promoted partner has acknowledged nothing yet). `dryRun`: would
   * it grant (a candidate asks first, so a claim that cannot win changes no voter)?
   */
  claim(from: string, home: string, c: { epoch: number; inSync: boolean }, pair: readonly string[], dryRun = false): Vote {
    const t = this.store.get(home);
    const epoch = c.epoch;
    if (epoch <= t.epoch) return { ok: false, ...t, why: `epoch ${epoch} is not after ${t.epoch}` };
    if (!pair.includes(from)) return { ok: false, ...t, why: `${from} is neither ${home} nor its backup` };
    let inSync = c.inSync;
    if (from !== t.primary) {
      if (!t.inSync) return { ok: false, ...t, why: `${t.primary}'s partner ${from} was not in step at epoch ${t.epoch}: it may lack acknowledged writes` };
      const silent = this.silentMs(home);
      if (silent < this.leaseMs) return { ok: false, ...t, why: `${t.primary}'s lease runs ${Math.ceil(this.leaseMs - silent)} ms more here` };
      inSync = true; // nothing acknowledged at the new epoch yet: its partner (the old primary) lacks none of what was
    }
    const granted: Term = { epoch, primary: from, inSync, version: 0 };
    if (dryRun) return { ok: true, ...granted };
    this.store.put(home, granted);
    this.renewedAt.set(home, this.now());
    if (from !== t.primary) this.log?.warn({ event: 'home_term_granted', home, epoch, primary: from, was: t.primary }, `granted ${home}'s epoch ${epoch} to ${from} (${t.primary} silent for a lease)`);
    return { ok: true, ...granted };
  }
}
