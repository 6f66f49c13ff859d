import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { Logger } from 'pino';
import type { CommandRegistry } from '../commands/registry.ts';
import { CohortError } from '../errors.ts';
import { injectedJobFault } from '../store/commit-faults.ts';
import { crashPoint, crashPointsEnabled } from './crash-points.ts';
import { CommitFailed, type GroupCommit } from '../store/group-commit.ts';
import { isStorageFault } from '../store/storage-faults.ts';
import { InboxHolds } from './inbox-holds.ts';
import { SenderQueues, type Arrival, type Outcome } from './sender-queues.ts';

/** A home's backup as the inbox and the home's commands see it (node-homes.ts): how many changes it has logged, and waits for the backup to hold them. */
export interface BackupGate {
  appended(): number;
  /** A message's job begins and ends: what it changes goes to the backup in one batch, with its applied id. */
  beginJob(): void;
  endJob(): void;
  /** A message whose job changed the home's users or records: its id and result go to the backup with the change. */
  applied(sender: string, mid: string, result: unknown, at: number): void;
  /** The backup holds what has committed, or it is out of step (then at once). */
  settled(): Promise<void>;
  /** The backup holds what has committed; rejects if it is out of step. */
  confirmed(): Promise<void>;
}

/**
 * The receiving side of critical messages: applies each message id once. The command's
 * effect and the record of its id commit in the same transaction, so a message sent
 * again (its ack was lost) is answered with the first result and not applied again.
 * After a failed commit, or a storage error inside the job (a full or failing disk, not the
 * command's fault), a sender's later messages wait for the failed ones (InboxHolds).
 */
export class CriticalInbox {
  private readonly registry: CommandRegistry;
  private readonly commit: GroupCommit;
  private readonly seen: StatementSync;
  private readonly record: StatementSync;
  private readonly prune_: StatementSync;
  private readonly holds: InboxHolds;
  private readonly log: Logger;
  private readonly backup: BackupGate | undefined;
  /** Set when some commands apply themselves (a store's `batch`): each sender's messages then wait their turn. */
  private readonly queues: SenderQueues | undefined;
  private readonly storeBatch: (<T>(work: () => Promise<T>) => Promise<T>) | undefined;

  /**
   * `backup`: a message whose command changed the home's users or records is answered once the
   * home's backup holds the change. `batch`: some commands apply themselves in a store of their
   * own (PostgreSQL), whose commits do not follow this node's batches; `batch` runs several of
   * them in one of its transactions. Each sender's messages are then applied one run after the
   * other, so they still take effect in send order.
   */
  constructor(db: DatabaseSync, registry: CommandRegistry, commit: GroupCommit, log: Logger, backup?: BackupGate, opts: { batch?: <T>(work: () => Promise<T>) => Promise<T> } = {}) {
    this.registry = registry;
    this.storeBatch = opts.batch;
    if (opts.batch) {
      this.queues = new SenderQueues({
        itself: (cmd) => registry.appliesItself(cmd),
        here: (from, a) => this.applyHere(from, a.mid, a.cmd, a.args, a.oldest),
        batch: (from, run) => this.applyItself(from, run),
      });
    }
    this.commit = commit;
    this.backup = backup;
    this.holds = new InboxHolds(log);
    this.log = log;
    db.exec(`CREATE TABLE IF NOT EXISTS inbox (
      sender TEXT NOT NULL,
      mid TEXT NOT NULL,
      result TEXT NOT NULL,
      applied_at INTEGER NOT NULL,
      PRIMARY KEY (sender, mid)
    ) WITHOUT ROWID`);
    // home: the message changed this home's users or records (its id is on the home's backup too, issue 27).
    if (!(db.prepare('SELECT name FROM pragma_table_info(?)').all('inbox') as { name: string }[]).some((c) => c.name === 'home')) db.exec('ALTER TABLE inbox ADD COLUMN home INTEGER NOT NULL DEFAULT 0');
    this.seen = db.prepare('SELECT result FROM inbox WHERE sender = ? AND mid = ?');
    this.record = db.prepare('INSERT INTO inbox (sender, mid, result, applied_at, home) VALUES (?, ?, ?, ?, ?)');
    this.prune_ = db.prepare('DELETE FROM inbox WHERE applied_at < ?');
  }

  /**
   * Resolves once the effect and the id are durable; rejects (nothing applied) if the command
   * fails. `oldest`: the sender's oldest outbox seq still pending for us, if it said.
   */
  apply(from: string, mid: string, cmd: string, args: unknown, oldest?: number, lane?: string): Promise<unknown> {
    // A home's lane (issue 27: its writes, sent to whichever of it and its backup holds its lease): its ids and order apart from the sender's others.
    if (lane !== undefined) return this.applyHere(laneSender(from, lane), mid, cmd, args, oldest, from, lane);
    const applied = this.queues ? this.queues.apply(from, { mid, cmd, args, oldest }) : this.applyHere(from, mid, cmd, args, oldest);
    return crashPointsEnabled ? applied.then((result) => (crashPoint('applied'), result)) : applied;
  }

  /**
   * A run of a sender's messages whose commands record their ids with their effects in their own
   * store (PostgreSQL), in one of its transactions; the same holds as a batch here. A message
   * refused for good rolls back alone; a failure of the store (con_lost, or its commit) applies
   * none of the run, and each hears con_lost (sent again).
   */
  private async applyItself(from: string, run: Arrival[]): Promise<Outcome[]> {
    const outcomes: Outcome[] = [];
    const held = new Set<number>();
    try {
      await this.storeBatch!(async () => {
        for (const [i, a] of run.entries()) {
          try {
            // The held message may be applied in the other store; only its settling here lifts the hold.
            this.holds.admit(from, a.mid, a.oldest, () => false);
          } catch (err) {
            held.add(i);
            outcomes.push({ ok: false, err });
            continue;
          }
          try {
            outcomes.push({ ok: true, result: await this.registry.executeItself(a.cmd, a.args, { from, mid: a.mid }) });
          } catch (err) {
            if (err instanceof CohortError && err.code === 'con_lost') throw err; // the store failed, not the message
            outcomes.push({ ok: false, err });
          }
        }
      });
    } catch (err) {
      const first = run.find((_, i) => !held.has(i)) ?? run[0];
      this.holds.failed(from, first.mid);
      const lost = err instanceof CohortError && err.code === 'con_lost' ? err : new CohortError('con_lost', `not applied: ${(err as Error).message}`);
      return run.map(() => ({ ok: false, err: lost }));
    }
    run.forEach((a, i) => held.has(i) || this.holds.settled(from, a.mid));
    return outcomes;
  }

  /** `from`: the sender's key in the inbox (with its lane, if any); `node`: the node that sent it, as its commands see it. */
  private applyHere(from: string, mid: string, cmd: string, args: unknown, oldest?: number, node = from, lane?: string): Promise<unknown> {
    const changed = { home: false };
    return this.applyOnce(from, mid, cmd, args, oldest, changed, node, lane).then(async (result) => {
      if (changed.home) await this.backup!.settled();
      return result;
    }, (err: unknown) => {
      // A failed commit applied nothing: the sender must keep the message and try again,
      // so it hears a transport-class error rather than a rejection for good.
      if (err instanceof CommitFailed) {
        this.holds.failed(from, mid);
        throw new CohortError('con_lost', `not applied: ${err.message}`);
      }
      throw err;
    });
  }

  private applyOnce(from: string, mid: string, cmd: string, args: unknown, oldest: number | undefined, changed: { home: boolean }, node: string, lane: string | undefined): Promise<unknown> {
    return this.commit.run(() => {
      try {
        const previous = this.seen.get(from, mid) as { result: string } | undefined;
        // Sent again (its answer was lost, or it was answered con_lost at a stop): it may be one whose change the backup does not hold yet.
        if (previous) {
          changed.home = this.backup !== undefined;
          return JSON.parse(previous.result);
        }
        this.holds.admit(from, mid, oldest, (held) => this.seen.get(from, held) !== undefined);
        const before = this.backup?.appended();
        const at = Date.now();
        this.backup?.beginJob();
        let result: unknown;
        try {
          result = this.registry.executeCritical(cmd, args, { from: node, mid, sender: from, lane }) ?? null;
          changed.home = before !== this.backup?.appended();
          if (changed.home) this.backup!.applied(from, mid, result, at);
        } finally {
          this.backup?.endJob();
        }
        this.record.run(from, mid, JSON.stringify(result), at, changed.home ? 1 : 0);
        injectedJobFault(); // tests only: as if that write had failed
        this.holds.settled(from, mid);
        return result;
      } catch (err) {
        if (isStorageFault(err)) {
          // The disk failed, not the message: its savepoint rolls back, and it is treated
          // as a failed commit. The hold is set here, inside the batch, so a later message
          // from the same sender further down this batch is refused instead of applied first.
          this.log.warn({ event: 'critical_storage_fault', peer: from, mid, err: String(err) }, `cannot apply ${mid} from ${from} now: ${(err as Error).message}`);
          this.holds.failed(from, mid);
          throw new CohortError('con_lost', `not applied: ${(err as Error).message}`);
        }
        // Not applied now (a home without its lease, a lane whose writes are not held here, or admit()
        // held it back): the sender's later messages wait for it, as after a failed commit. Else
        // rejected for good (the sender buries it).
        if (err instanceof CohortError && err.code === 'con_lost') this.holds.failed(from, mid);
        else this.holds.settled(from, mid);
        throw err;
      }
    });
  }

  /** Forgets ids applied before `before`: a sender re-sends only until its ack arrives. */
  prune(before: number): number {
    return Number(this.prune_.run(before).changes);
  }
}

/** The inbox's key for a sender's messages in a home's lane. */
function laneSender(from: string, lane: string): string {
  return `${from}@${lane}`;
}
