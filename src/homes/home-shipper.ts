import type { DatabaseSync } from 'node:sqlite';
import type { Logger } from 'pino';
import { z } from 'zod';
import { CohortError } from '../errors.ts';
import { withTimeout } from '../timeout.ts';
import type { HomeLog } from './home-log.ts';
import { SnapshotReader } from './snapshot-reader.ts';

/** Entries sent to the backup in one message at most. */
export const MAX_SHIP_ENTRIES = 256;
/** While the backup is behind or unreachable, how often the home tries again (and, in step, asks what it holds). */
const RETRY_MS = 1000;
/**
 * How long a write waits for a backup that does not answer (stopped, or its link silent) before
 * it is answered on the home alone: less than a critical message's sender waits (critical.waitMs,
 * 2 s by default), and far less than a link's request timeout, so a hung backup delays its home's
 * writes by this once, not by 10 s each. An answer that comes later is not
 * lost: the backup says what it holds, and the log goes on from there.
 */
export const BACKUP_ANSWER_MS = 1500;

type Call = (to: string, cmd: string, args: unknown) => Promise<unknown>;
const answer = z.object({ lsn: z.number().int().min(-1) });

export interface BackupStatus {
  backup: string;
  /** Every change up to this log number is on the backup (-1: not known yet, or it needs a snapshot). */
  acked: number;
  /** The home's newest log number. */
  lsn: number;
  /** Writes wait for the backup (false: it is unreachable or catching up, and writes are answered on the home alone). */
  inSync: boolean;
  /** When it last fell out of step, if it did. */
  outOfSyncSince: number | null;
}

/**
 * The home's side of its backup (issue 27): sends its log to the backup in order, one batch in
 * flight, and drops what the backup holds. A write's answer waits (settled) until the backup
 * holds it, so an acknowledged write is on two machines. When the backup cannot be reached (or
 * answers an error), the home says so in its log and answers writes on its own until the backup
 * has caught up again (it is sent the log from where it stopped, or a snapshot when the log no
 * longer reaches back that far or its copy is new).
 */
export class HomeShipper {
  private readonly self: string;
  private readonly backup: string;
  private readonly log: HomeLog;
  private readonly db: DatabaseSync;
  /** Made at the first snapshot: the stores make their tables after this shipper is built. */
  private snapshots: SnapshotReader | undefined;
  private readonly call: Call;
  private readonly logger: Logger;
  private readonly maxChars: number;
  private acked = -1;
  private known = false;
  private inSync = false;
  private outOfSyncSince: number | null = Date.now();
  private busy = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private waiters: { lsn: number; resolve: () => void }[] = [];

  constructor(opts: { self: string; backup: string; log: HomeLog; db: DatabaseSync; call: Call; logger: Logger; maxFrameBytes: number }) {
    this.self = opts.self;
    this.backup = opts.backup;
    this.log = opts.log;
    this.db = opts.db;
    this.call = opts.call;
    this.logger = opts.logger;
    this.maxChars = Math.floor(opts.maxFrameBytes / 4);
  }

  start(): void {
    // Also when idle and in step: the backup is asked what it holds, so one that restarted with
    // its copy lost (a new disk) is found, and sent a snapshot, without waiting for a write.
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.known = false;
      this.kick();
    }, RETRY_MS);
    this.timer.unref();
    this.kick();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.release(Infinity);
  }

  status(): BackupStatus {
    return { backup: this.backup, acked: this.known ? this.acked : -1, lsn: this.log.last(), inSync: this.inSync, outOfSyncSince: this.outOfSyncSince };
  }

  /**
   * Resolves once the backup holds every change committed so far, or at once while it is out
   * of step (the write is then on this node alone, and the backup gets it when it catches up).
   * Never rejects: a write's outcome is the home's.
   */
  settled(): Promise<void> {
    const lsn = this.log.last();
    if (!this.inSync || this.acked >= lsn || this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push({ lsn, resolve });
      this.kick();
    });
  }

  private kick(): void {
    if (this.busy || this.stopped) return;
    this.busy = true;
    this.ship().then(
      () => {
        this.busy = false;
        if (!this.stopped && this.acked < this.log.last()) this.kick();
      },
      (err: unknown) => {
        this.busy = false;
        this.fellBehind(err);
      },
    );
  }

  private async ship(): Promise<void> {
    if (!this.known) this.heard(await this.ask('home.replica.held', { home: this.self }));
    for (let target = this.log.last(); this.acked < target && !this.stopped; target = this.log.last()) {
      const first = this.log.first();
      // The log no longer reaches back to what the backup holds (or its copy is new, or ahead of this home's): a snapshot.
      if (this.acked < 0 || this.acked > target || first === undefined || first > this.acked + 1) {
        await this.snapshot();
        continue;
      }
      const batch = this.log.since(this.acked, MAX_SHIP_ENTRIES, this.maxChars);
      this.heard(await this.ask('home.replicate', { home: this.self, from: this.acked, entries: batch.map((b) => b.entry) }));
    }
    if (!this.inSync && !this.stopped) {
      this.inSync = true;
      this.logger.info({ event: 'home_backup_in_sync', backup: this.backup, lsn: this.acked, behindMs: Date.now() - (this.outOfSyncSince ?? Date.now()) }, `backup ${this.backup} holds every change: writes wait for it again`);
      this.outOfSyncSince = null;
    }
  }

  private async snapshot(): Promise<void> {
    const from = this.log.last();
    this.logger.info({ event: 'home_backup_snapshot', backup: this.backup, lsn: from, held: this.acked }, `sending backup ${this.backup} a snapshot (it holds ${this.acked}, the log starts at ${this.log.first() ?? 'none'})`);
    await this.ask('home.snapshot', { home: this.self, part: 'begin', entries: [], lsn: from });
    this.snapshots ??= new SnapshotReader(this.db);
    for (const entries of this.snapshots.pages(MAX_SHIP_ENTRIES, this.maxChars)) {
      if (this.stopped) throw new CohortError('con_lost', 'stopping');
      await this.ask('home.snapshot', { home: this.self, part: 'rows', entries, lsn: from });
    }
    this.heard(await this.ask('home.snapshot', { home: this.self, part: 'end', entries: [], lsn: from }));
  }

  private async ask(cmd: string, args: unknown): Promise<{ lsn: number }> {
    const out = answer.safeParse(await withTimeout(this.call(this.backup, cmd, args), BACKUP_ANSWER_MS));
    if (!out.success) throw new CohortError('bad_frame', `${this.backup} answered ${cmd} with something else than { lsn }`);
    return out.data;
  }

  /** What the backup holds now: what it holds is on its disk, so writes up to it are answered. */
  private heard({ lsn }: { lsn: number }): void {
    // Less than it held before: its copy was lost or cut short. Writes stop waiting for it until it is whole again.
    if (this.known && lsn < this.acked) this.outOfStep(`${this.backup} holds ${lsn} of this home's changes, having held ${this.acked}: its copy was lost`);
    this.known = true;
    this.acked = lsn;
    if (lsn > 0) this.log.drop(Math.min(lsn, this.log.last()));
    this.release(lsn);
  }

  private release(lsn: number): void {
    if (!this.waiters.length) return;
    const still = [];
    for (const w of this.waiters) (w.lsn <= lsn ? w.resolve() : still.push(w));
    this.waiters = still;
  }

  private fellBehind(err: unknown): void {
    this.known = false; // asked again: it may have lost its copy, or kept more than it said
    this.outOfStep(`${this.backup} cannot be reached (${(err as Error).message})`);
  }

  private outOfStep(why: string): void {
    if (this.inSync) {
      this.inSync = false;
      this.outOfSyncSince = Date.now();
      this.logger.warn({ event: 'home_backup_out_of_sync', backup: this.backup, why }, `${why}: writes are answered on this node alone until its backup has caught up`);
    }
    this.release(Infinity);
  }
}
