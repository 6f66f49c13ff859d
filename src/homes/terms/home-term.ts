import type { Logger } from 'pino';
import { z } from 'zod';
import { CohortError } from '../../errors.ts';
import { withTimeout } from '../../timeout.ts';
import { majorityOf } from './voters.ts';
import type { Vote } from './voter.ts';

type Call = (to: string, cmd: string, args: unknown) => Promise<unknown>;

/** A primary counts on its lease for this share of it after the round a majority answered (clocks may run at slightly different rates). */
const LEASE_SHARE = 0.75;
/** How long a write waits for a majority to record that the home answers alone, before it is refused (con_lost: sent again). */
export const CONSENT_MS = 3000;

// Epochs are bounded (2^40: a new one each second for 30,000 years), so a voter's answer cannot push the next claim past what voters take.
export const MAX_EPOCH = 2 ** 40;
// Up to MAX_EPOCH + 1, as the voters' commands take (a claim is the epoch held plus one).
const vote = z.object({ ok: z.boolean(), epoch: z.number().int().min(0).max(MAX_EPOCH + 1), primary: z.string().max(64), inSync: z.boolean(), version: z.number().int().min(0), why: z.string().max(500).optional() });

/** What the home's commands ask of its terms before they touch its users or records. */
export interface HomeFence {
  /** Throws con_lost unless this home holds its lease (synchronous: inside the inbox's transaction). */
  fence(what?: string): void;
  /** Waits a little for the lease (a node just started), then as fence(). */
  leased(what?: string): Promise<void>;
}

export interface TermStatus {
  /** The epoch this node holds the home's writes at (0: it does not). */
  epoch: number;
  /** The lease is held: writes and reads are taken. */
  leaseHeld: boolean;
  /** Milliseconds of lease left (0 when not held). */
  leaseLeftMs: number;
  /** What a majority of voters last recorded of the backup (null: nothing recorded at this epoch yet). */
  inSyncRecorded: boolean | null;
  /** The voters that answered the last round. */
  votersAnswered: string[];
  voters: string[];
  /** The highest epoch heard of, and who holds it, when it is not this node's. */
  heldBy: { epoch: number; primary: string } | null;
}

/**
 * A home's side of its terms (issue 27): it takes its writes only at an epoch a majority of its
 * domain's voters granted it, and only while its lease holds (renewed with all voters each
 * eighth of a lease, counted on for three quarters of a lease from the start of the round a
 * majority answered, by this node's monotonic clock). It tells the voters whether its backup
 * holds every write it acknowledged; it answers a write alone (the backup away) only once a
 * majority has recorded that it does not, so its backup cannot be promoted past that write.
 * Each process run starts a new epoch (the voters grant it at once to the primary they hold).
 */
export class HomeTerm {
  readonly home: string;
  private readonly self: string;
  private readonly pair: readonly string[];
  private readonly voters: readonly string[];
  private readonly leaseMs: number;
  private readonly call: Call;
  private readonly now: () => number;
  private readonly logger: Logger;
  private readonly consentMs: number;
  /** When this node may claim the home's next epoch (its backup: only once the home has been silent for a lease, its copy whole). */
  private readonly canClaim: () => boolean;
  private epoch = 0;
  private leaseUntil = 0;
  /** After a release, no claim for a lease: the partner takes the next epoch. */
  private noClaimUntil = 0;
  /** The backup holds every acknowledged write, as this node last decided; `version` counts its changes within the epoch. */
  private desired = false;
  private version = 0;
  /** What a majority recorded at this epoch. */
  private recorded: { version: number; inSync: boolean } | null = null;
  /** The highest epoch any voter told of (the next claim is above it), and the highest another node holds. */
  private highest = 0;
  private other: { epoch: number; primary: string } = { epoch: 0, primary: '' };
  private answered: string[] = [];
  /** Epochs this node won as the home's backup (promotions), since it started. */
  promotions = 0;
  private busy = false;
  private again = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private waiters: { resolve: () => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];

  constructor(opts: { self: string; home: string; pair: readonly string[]; voters: readonly string[]; leaseMs: number; call: Call; logger: Logger; now?: () => number; consentMs?: number; canClaim?: () => boolean }) {
    this.consentMs = opts.consentMs ?? CONSENT_MS;
    this.canClaim = opts.canClaim ?? (() => true);
    this.self = opts.self;
    this.home = opts.home;
    this.pair = opts.pair;
    this.voters = opts.voters;
    this.leaseMs = opts.leaseMs;
    this.call = opts.call;
    this.logger = opts.logger;
    this.now = opts.now ?? (() => performance.now());
  }

  start(): void {
    this.timer = setInterval(() => this.kick(), Math.max(100, Math.floor(this.leaseMs / 8)));
    this.timer.unref();
    this.kick();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.leaseUntil = 0;
    this.settleWaiters(new CohortError('con_lost', 'the node is stopping'));
  }

  /** Writes and reads of the home are taken here now. */
  holdsLease(): boolean {
    return this.epoch > 0 && this.now() < this.leaseUntil;
  }

  /** Throws con_lost unless the lease is held (the sender tries again, here or where the home's writes went). */
  fence(what = 'this'): void {
    if (this.holdsLease()) return;
    const where = this.other.epoch > this.epoch ? `; ${this.other.primary} holds epoch ${this.other.epoch}` : '';
    throw new CohortError('con_lost', `${this.self} does not hold ${this.home}'s lease now (${this.epoch ? `epoch ${this.epoch}, no majority of voters answered lately` : 'no epoch granted yet'}${where}): ${what} is not taken here; try again`);
  }

  /** Resolves once the lease is held (at once if it is), or throws con_lost after `ms`. */
  async leased(ms = 2000, what?: string): Promise<void> {
    const until = this.now() + ms;
    while (!this.holdsLease() && !this.stopped && this.now() < until) await new Promise((r) => setTimeout(r, 50));
    this.fence(what);
  }

  /** A majority recorded that the backup lacks writes: this home may answer writes alone. */
  aloneAllowed(): boolean {
    return this.holdsLease() && this.desired === false && this.recorded?.inSync === false && this.recorded.version === this.version;
  }

  /**
   * The backup fell out of step (false) or holds everything again (true). False returns once a
   * majority recorded it (then writes may be answered alone), or rejects con_lost after
   * CONSENT_MS; true is told to the voters with the next renewals.
   */
  setInSync(inSync: boolean): Promise<void> {
    if (this.desired !== inSync) {
      this.desired = inSync;
      this.version++;
      this.kick();
    }
    if (inSync || this.aloneAllowed()) {
      this.settleWaiters(null);
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const w = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          reject(new CohortError('con_lost', `no majority of ${this.home}'s voters recorded within ${this.consentMs} ms that its backup is out of step: the write is not answered on ${this.self} alone; try again`));
        }, this.consentMs),
      };
      this.waiters.push(w);
    });
  }

  status(): TermStatus {
    const left = this.holdsLease() ? Math.round(this.leaseUntil - this.now()) : 0;
    const heldBy = this.other.epoch > this.epoch ? this.other : null;
    return { epoch: this.epoch, leaseHeld: left > 0, leaseLeftMs: left, inSyncRecorded: this.recorded?.inSync ?? null, votersAnswered: this.answered, voters: [...this.voters], heldBy };
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.busy) return void (this.again = true);
    this.busy = true;
    this.again = false;
    this.round().then(
      () => {
        this.busy = false;
        if (this.again) this.kick();
      },
      (err: unknown) => {
        this.busy = false;
        this.logger.warn({ event: 'home_term_round_failed', home: this.home, err: String(err) }, `a round with ${this.home}'s voters failed: ${(err as Error).message}`);
      },
    );
  }

  /** Renews at the epoch held; without one (a start, or one lost to a later epoch), claims the next. */
  private async round(): Promise<void> {
    if (this.epoch === 0) return this.canClaim() && this.now() >= this.noClaimUntil ? this.claim() : undefined;
    const started = this.now();
    const sent = { epoch: this.epoch, version: this.version, inSync: this.desired };
    const votes = await this.ask('home.term.renew', { home: this.home, ...sent });
    if (this.stopped || this.epoch !== sent.epoch) return;
    const ok = votes.filter((v) => v.vote?.ok && v.vote.epoch === sent.epoch);
    if (ok.length >= majorityOf(this.voters.length)) {
      this.leaseUntil = Math.max(this.leaseUntil, started + LEASE_SHARE * this.leaseMs);
      if (!this.recorded || sent.version >= this.recorded.version) this.recorded = { version: sent.version, inSync: sent.inSync };
      this.settleWaiters(null);
      // A minority holds a later epoch (a claim that did not win): a new epoch of this node's own puts them right.
      if (this.other.epoch > this.epoch) await this.claim();
      return;
    }
    if (this.other.epoch > this.epoch) {
      // Another node holds a later epoch by a majority, or may: this node takes nothing more.
      this.logger.warn({ event: 'home_term_lost', home: this.home, epoch: this.epoch, heldBy: this.other }, `${this.home}: epoch ${this.epoch} is over (${this.other.primary} holds ${this.other.epoch}): no writes taken here`);
      this.leaseUntil = 0;
      this.epoch = 0;
      this.recorded = null;
    }
  }

  /** Asks every voter whether it would grant the next epoch, then claims it if a majority would. */
  private async claim(): Promise<void> {
    const need = majorityOf(this.voters.length);
    let epoch = 0;
    // Twice at most: the first answers may tell of a later epoch than this node knew.
    for (let tries = 0; tries < 2 && !epoch && !this.stopped; tries++) {
      const next = Math.max(this.highest, this.epoch) + 1;
      const would = await this.ask('home.term.claim', { home: this.home, epoch: next, inSync: this.desired, dryRun: true });
      if (would.filter((v) => v.vote?.ok).length >= need) epoch = next;
    }
    if (!epoch || this.stopped) return;
    const args = { home: this.home, epoch, inSync: this.desired };
    const started = this.now();
    const version = this.version;
    const votes = await this.ask('home.term.claim', { ...args, dryRun: false });
    if (this.stopped) return;
    if (votes.filter((v) => v.vote?.ok && v.vote.epoch === epoch).length < need) {
      this.logger.warn({ event: 'home_term_claim_failed', home: this.home, epoch }, `${this.self} claimed ${this.home}'s epoch ${epoch} and no majority granted it`);
      return;
    }
    this.epoch = epoch;
    // What the voters hold of the backup is told anew: a grant to the backup records it in step (nothing answered at this epoch yet).
    this.version = version + 1;
    this.recorded = null;
    this.leaseUntil = started + LEASE_SHARE * this.leaseMs;
    const how = this.self === this.home ? '' : ` (promoted: ${this.home} silent for a lease)`;
    if (this.self !== this.home) this.promotions++;
    this.logger.warn({ event: 'home_term_epoch', home: this.home, epoch, promoted: this.self !== this.home }, `${this.self} takes ${this.home}'s writes at epoch ${epoch}${how}`);
    this.kick();
  }

  /**
   * Hands the home's writes on (its backup giving them back to the home, once the home holds
   * everything): the voters record the partner in step, then this node's lease ends at every
   * voter that hears it, so the partner may claim the next epoch at once. This node takes no
   * writes from the first step on (the caller fences them).
   */
  async release(): Promise<void> {
    if (this.epoch === 0) throw new CohortError('con_lost', `${this.self} holds no epoch of ${this.home}`);
    if (!this.desired) {
      this.desired = true;
      this.version++;
    }
    const sent = { epoch: this.epoch, version: this.version, inSync: true, release: true };
    const votes = await this.ask('home.term.renew', { home: this.home, ...sent });
    if (votes.filter((v) => v.vote?.ok && v.vote.epoch === sent.epoch && v.vote.inSync).length < majorityOf(this.voters.length)) {
      throw new CohortError('con_lost', `no majority of ${this.home}'s voters recorded its partner in step: ${this.self} keeps its epoch`);
    }
    this.logger.warn({ event: 'home_term_released', home: this.home, epoch: this.epoch }, `${this.self} hands ${this.home}'s writes on (epoch ${this.epoch} ends)`);
    this.epoch = 0;
    this.leaseUntil = 0;
    this.recorded = null;
    this.desired = false;
    this.noClaimUntil = this.now() + this.leaseMs;
  }

  /** Every voter at once; each answer parsed (a voter is a peer, not trusted to be well-formed), failures as undefined. */
  private async ask(cmd: string, args: Record<string, unknown>): Promise<{ voter: string; vote: Vote | undefined }[]> {
    const timeout = Math.max(200, Math.floor(this.leaseMs / 4));
    const answers = await Promise.allSettled(this.voters.map((v) => withTimeout(this.call(v, cmd, args), timeout)));
    const out = answers.map((a, i) => {
      const parsed = a.status === 'fulfilled' ? vote.safeParse(a.value) : undefined;
      const v = parsed?.success ? (parsed.data as Vote) : undefined;
      if (v && v.epoch > this.highest) this.highest = v.epoch;
      if (v && v.primary !== this.self && v.epoch > this.other.epoch) this.other = { epoch: v.epoch, primary: v.primary };
      return { voter: this.voters[i], vote: v };
    });
    this.answered = out.filter((o) => o.vote).map((o) => o.voter);
    return out;
  }

  /** Writes waiting for consent: answered (null: alone is allowed now, or the backup is back) or refused. */
  private settleWaiters(err: Error | null): void {
    if (!err && !(this.desired || this.aloneAllowed())) return;
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      if (err) w.reject(err);
      else w.resolve();
    }
  }
}
