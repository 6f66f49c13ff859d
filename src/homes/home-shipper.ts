import { randomBytes } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import type { Logger } from 'pino';
import { z } from 'zod';
import { CohortError } from '../errors.ts';
import { withTimeout } from '../timeout.ts';
import type { HomeLog, LoggedEntry } from './home-log.ts';
import type { ReplicaAnswer } from './replica-store.ts';
import { SnapshotReader } from './snapshot-reader.ts';
import { WaitingWrites } from './waiting-writes.ts';
import type { TermStatus } from './terms/home-term.ts';

/** Entries sent to the backup in one message at most. */
export const MAX_SHIP_ENTRIES = 256;
/** While the backup is behind or unreachable, how often the home tries again (and, in step, asks what it holds). */
const RETRY_MS = 1000;
/**
 * How long a write waits for its backup, from the moment it is ready to be answered, before it
 * is answered on the home alone (and the backup counts as out of step): less than a critical
 * message's sender waits (critical.waitMs, 2 s by default), and far less than a link's request
 * timeout. A backup that answers later is not lost: it says what it holds, and the log goes on
 * from there.
 */
export const BACKUP_ANSWER_MS = 1500;

type Call = (to: string, cmd: string, args: unknown) => Promise<unknown>;

/** The home's terms as its shipper sees them (terms/home-term.ts): writes are answered alone only once a majority of voters recorded the backup out of step. */
export interface AloneConsent {
  /** False: resolves once a majority recorded it (rejects con_lost if none does in time). True: told with the next renewals. */
  setInSync(inSync: boolean): Promise<void>;
}
// A peer's answer: its log id is shown to operators (why), so it is held to what a log id is.
const answer = z.object({ lsn: z.number().int().min(-1), logId: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/).nullable() });

export interface BackupStatus {
  backup: string;
  /** Every change up to this log number is on the backup, as last heard (-1: nothing known yet, or it needs a snapshot). */
  acked: number;
  /** The home's newest log number. */
  lsn: number;
  /** Writes wait for the backup (false: it is unreachable, catching up, or its copy is not this home's, and writes are answered on the home alone). */
  inSync: boolean;
  /** When it last fell out of step, if it did. */
  outOfSyncSince: number | null;
  /** Why it is out of step, if it is. */
  why: string | null;
  /** Changes the backup does not hold yet, as last heard. */
  lag: number;
  /** The backup's copy is one this home cannot account for, left for the operator (not overwritten). */
  copyRefused: boolean;
  /** Seconds this home has answered writes on its own (its backup out of step) since the node started. */
  aloneSeconds: number;
  /** Its terms with its domain's voters (null: fewer than 3 voters; absent: a node of an earlier version). */
  term?: TermStatus | null;
}

/**
 * The home's side of its backup (issue 27): sends its log to the backup in order, one batch in
 * flight, and drops what the backup holds. A write's answer waits (settled) until the backup
 * holds it, so an acknowledged write is on two machines. When the backup cannot be reached, does
 * not answer in time, or holds less than it did, the home says so and answers writes on its own
 * until the backup has caught up (the log from where it stopped, or a snapshot when the log no
 * longer reaches back that far, or its copy is new or of an earlier run of this home's log). A
 * copy this home cannot account for (of a log id it never had, or ahead of its log: this home's
 * database was replaced) is never overwritten: that is for the operator, and it is logged.
 */
export class HomeShipper {
  private readonly self: string;
  private readonly backup: string;
  private readonly log: HomeLog;
  private readonly db: DatabaseSync;
  private readonly call: Call;
  private readonly logger: Logger;
  private readonly maxChars: number;
  /** Made at the first snapshot: the stores make their tables after this shipper is built. */
  private snapshots: SnapshotReader | undefined;
  private acked = -1;
  /** What the backup holds was heard since the last check (the timer asks again each second). */
  private known = false;
  /** The backup holds every change: reported as in step. */
  private inSync = false;
  /**
   * Writes wait for the backup: while in step, and from the start until it is first heard from
   * (a restart does not answer writes alone for the moment it takes to ask); the per-write
   * deadline still answers them alone if it does not answer.
   */
  private writesWait = true;
  /** The log's newest number when this process started: a backup first heard holding more than it kept entries this home lost. */
  private readonly startLast: number;
  private heardOnce = false;
  /** The backup's copy was refused (foreign): the operator decides. */
  private refusedCopy = false;
  private outOfSyncSince: number | null = Date.now();
  /** Time spent answering writes alone, in spells that ended (the current one: since outOfSyncSince while writes do not wait). */
  private aloneMs = 0;
  private why: string | null = 'not heard from yet';
  private busy = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly waiting = new WaitingWrites();
  /** Without terms (fewer than 3 voters), a home answers alone as soon as its backup is out of step. */
  private readonly consent: AloneConsent | undefined;

  constructor(opts: { self: string; backup: string; log: HomeLog; db: DatabaseSync; call: Call; logger: Logger; maxFrameBytes: number; consent?: AloneConsent }) {
    this.consent = opts.consent;
    this.self = opts.self;
    this.backup = opts.backup;
    this.log = opts.log;
    this.db = opts.db;
    this.call = opts.call;
    this.logger = opts.logger;
    this.maxChars = Math.floor(opts.maxFrameBytes / 4);
    this.startLast = opts.log.last();
  }

  start(): void {
    // Also when idle and in step: the backup is asked what it holds, so one that restarted with
    // its copy lost (a new disk) is found, and sent a snapshot, without waiting for a write.
    this.timer = setInterval(() => {
      if (this.acked > 0) this.log.drop(Math.min(this.acked, this.log.last())); // once a second, not an fsync per batch
      if (!this.inSync) {
        const dropped = this.log.trim();
        if (dropped) this.logger.warn({ event: 'home_log_trimmed', backup: this.backup, dropped }, `the log kept for backup ${this.backup} reached its bound: its ${dropped} oldest entries went (it gets a snapshot when back)`);
      }
      if (this.busy) return;
      this.known = false;
      this.kick();
    }, RETRY_MS);
    this.timer.unref();
    this.kick();
  }

  /** The node stops: writes still waiting for the backup are not answered ok (their senders try again). */
  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.inSync = false;
    this.writesWait = false;
    this.waiting.refuseAll(new CohortError('con_lost', `the node is stopping before its backup ${this.backup} confirmed this write; it was kept here and may be sent again`));
  }

  status(): BackupStatus {
    const lsn = this.log.last();
    return { backup: this.backup, acked: this.acked, lsn, inSync: this.inSync, outOfSyncSince: this.outOfSyncSince, why: this.why, lag: Math.max(0, lsn - Math.max(0, this.acked)), copyRefused: this.refusedCopy, aloneSeconds: (this.aloneMs + this.aloneSpellMs()) / 1000 };
  }

  /** The current spell of writes answered alone, if one is under way. */
  private aloneSpellMs(): number {
    return !this.writesWait && !this.stopped && this.outOfSyncSince !== null ? Date.now() - this.outOfSyncSince : 0;
  }

  /**
   * Resolves once the backup holds every change committed so far, or, while it is out of step,
   * once this home may answer alone (at once without terms; with them, once a majority of voters
   * recorded that the backup lacks writes: the write is then on this node alone, and the backup
   * gets it when it catches up). The backup has BACKUP_ANSWER_MS at most (then it is out of
   * step). Rejects when the node stops, or (con_lost) when no majority of voters records it.
   */
  settled(): Promise<void> {
    return this.wait(false);
  }

  /**
   * Resolves once the backup holds every change committed so far; rejects (con_lost) if it is
   * out of step or falls out of step first. For a change that must never be on the home alone
   * when it is answered ok: a password changed (the old one must not work at the backup).
   */
  confirmed(): Promise<void> {
    if (!this.inSync) return Promise.reject(this.notConfirmed());
    return this.wait(true);
  }

  private wait(strict: boolean): Promise<void> {
    if (this.stopped) return Promise.reject(new CohortError('con_lost', 'the node is stopping'));
    const lsn = this.log.last();
    if (this.acked >= lsn) return Promise.resolve();
    if (!this.writesWait) return this.alone();
    const waited = this.waiting.add(lsn, strict, BACKUP_ANSWER_MS, () => this.outOfStep(`${this.backup} did not confirm a write within ${BACKUP_ANSWER_MS} ms`));
    this.kick();
    return waited;
  }

  /** A write answered on this home alone: once the voters recorded that its backup lacks it (at once without terms). */
  private alone(): Promise<void> {
    return this.consent ? this.consent.setInSync(false) : Promise.resolve();
  }

  private notConfirmed(): CohortError {
    return new CohortError('con_lost', `backup ${this.backup} is out of step (${this.why ?? 'not heard from yet'}): a change that must be on both copies was not confirmed; try again when it is back`);
  }

  private kick(): void {
    if (this.busy || this.stopped) return;
    this.busy = true;
    this.ship().then(
      () => {
        this.busy = false;
        if (!this.stopped && this.writesWait && this.acked < this.log.last()) this.kick();
      },
      (err: unknown) => {
        this.busy = false;
        this.known = false; // asked again next time: it may have lost its copy, or kept more than it said
        // Not heard from since this node started (its links are still coming up): asked again soon; writes wait for it up to their deadline.
        if (!this.heardOnce && this.writesWait && !this.stopped) return void setTimeout(() => this.kick(), 100).unref();
        this.outOfStep(`${this.backup} cannot be reached (${(err as Error).message})`);
      },
    );
  }

  private async ship(): Promise<void> {
    if (!this.known && !this.heard(await this.ask('home.replica.held', { home: this.self }))) return;
    for (let target = this.log.last(); this.acked < target && !this.stopped; target = this.log.last()) {
      const first = this.log.first();
      // The log no longer reaches back to what the backup holds, or its copy is new: a snapshot.
      if (this.acked < 0 || first === undefined || first > this.acked + 1) {
        await this.snapshot();
        continue;
      }
      const batch = this.wholeJobs(this.log.since(this.acked, MAX_SHIP_ENTRIES, this.maxChars));
      if (!this.heard(await this.ask('home.replicate', { home: this.self, logId: this.log.id, from: this.acked, entries: batch.map((b) => b.entry) }))) return;
    }
    if (!this.inSync && !this.stopped && this.acked >= this.log.last()) {
      this.aloneMs += this.aloneSpellMs();
      this.inSync = true;
      this.writesWait = true;
      this.logger.info({ event: 'home_backup_in_sync', backup: this.backup, lsn: this.acked, behindMs: Date.now() - (this.outOfSyncSince ?? Date.now()) }, `backup ${this.backup} holds every change: writes wait for it again`);
      this.outOfSyncSince = null;
      this.why = null;
      // After writes wait again: every write answered from now on is on the backup.
      void this.consent?.setInSync(true);
    }
  }

  /**
   * A batch that ends inside a critical message's job is cut before the job (it goes whole in
   * the next one); a job that alone is more than a batch goes whole by itself, up to a batch's
   * budget in characters (a quarter of a link's frame: a frame holds it). So the backup never
   * holds a message's effect without its applied id, nor the id without the effect. A job larger
   * than that (a put of 1000 values of 4 KiB and more, with the default frame) goes in parts, as the log would without
   * jobs, and it is said: a frame too large would only cut the link, again and again.
   */
  private wholeJobs(batch: LoggedEntry[]): LoggedEntry[] {
    const last = batch.at(-1);
    if (!last || last.job === 0 || this.log.jobOf(last.lsn + 1) !== last.job) return batch;
    const start = batch.findIndex((b) => b.job === last.job);
    if (start > 0) return batch.slice(0, start);
    const whole = this.log.jobEntries(last.job, this.acked, this.maxChars);
    if (whole) return whole;
    this.logger.warn({ event: 'home_log_job_in_parts', backup: this.backup, from: batch[0].lsn }, `a critical message's changes are larger than a batch can carry whole: sent to backup ${this.backup} in parts (its effect may be held there without its applied id until the last part)`);
    return batch;
  }

  private async snapshot(): Promise<void> {
    const from = this.log.last();
    const id = randomBytes(9).toString('base64url');
    this.logger.info({ event: 'home_backup_snapshot', backup: this.backup, lsn: from, held: this.acked }, `sending backup ${this.backup} a snapshot (it holds ${this.acked}, the log starts at ${this.log.first() ?? 'none'})`);
    const part = (p: 'begin' | 'rows' | 'end', entries: unknown[]) => this.ask('home.snapshot', { home: this.self, part: p, id, logId: this.log.id, entries, lsn: from });
    await part('begin', []);
    this.snapshots ??= new SnapshotReader(this.db);
    for (const entries of this.snapshots.pages(MAX_SHIP_ENTRIES, this.maxChars)) {
      if (this.stopped) throw new CohortError('con_lost', 'stopping');
      await part('rows', entries);
    }
    this.heard(await part('end', []));
  }

  private async ask(cmd: string, args: unknown): Promise<ReplicaAnswer> {
    const out = answer.safeParse(await withTimeout(this.call(this.backup, cmd, args), BACKUP_ANSWER_MS));
    if (!out.success) throw new CohortError('bad_frame', `${this.backup} answered ${cmd} with something else than { lsn, logId }`);
    return out.data;
  }

  /**
   * What the backup holds now (it is on its disk, so writes up to it are answered). False when
   * its copy cannot be built on: nothing more is sent, and the home stays out of step.
   */
  private heard(held: ReplicaAnswer): boolean {
    this.known = true;
    this.refusedCopy = false;
    const first = !this.heardOnce;
    this.heardOnce = true;
    if (held.lsn >= 0 && held.logId !== this.log.id) {
      // A copy of an earlier run of this home's log missed what was not logged: made again. One of a log this home never had is left alone.
      if (held.logId !== null && this.log.knows(held.logId)) {
        this.acked = -1;
        this.outOfStep(`${this.backup}'s copy is of an earlier run of this home's log: it is sent a snapshot`);
        return true;
      }
      return this.foreign(`${this.backup} holds a copy of ${this.self} from a log this node never had (${held.logId}, up to ${held.lsn}): this node's database was replaced. Not overwritten; if this node's data is the one to keep, remove ${this.backup}'s replicas/${this.self}.db`);
    }
    // Ahead of the log: of what this home has (a restore to an older file), or, first heard, of what it had when it started (its entries since then were never sent).
    if (held.lsn > this.log.last() || (first && held.lsn > this.startLast)) {
      return this.foreign(`${this.backup} holds ${held.lsn} of this home's changes, more than it has made (${this.log.last()}): this node's database was restored from an older copy. Not overwritten; if this node's data is the one to keep, remove ${this.backup}'s replicas/${this.self}.db`);
    }
    // Less than it held before: its copy was lost or cut short. Writes stop waiting for it until it is whole again.
    if (held.lsn < this.acked) this.outOfStep(`${this.backup} holds ${held.lsn} of this home's changes, having held ${this.acked}: its copy was lost`);
    this.acked = held.lsn;
    this.waiting.held(held.lsn);
    return true;
  }

  private foreign(why: string): false {
    if (this.why !== why) this.logger.error({ event: 'home_backup_copy_refused', backup: this.backup, why }, why);
    this.refusedCopy = true;
    this.acked = -1;
    this.outOfStep(why);
    return false;
  }

  private outOfStep(why: string): void {
    if (this.writesWait) {
      this.inSync = false;
      this.writesWait = false;
      this.outOfSyncSince = Date.now();
      this.logger.warn({ event: 'home_backup_out_of_sync', backup: this.backup, why }, `${why}: writes are answered on this node alone until its backup has caught up`);
      this.alone().catch(() => {}); // the voters are told now, not at the next write
    }
    this.why = why;
    this.waiting.outOfStep(() => this.notConfirmed(), () => this.alone());
  }
}
