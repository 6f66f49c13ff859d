import type { DatabaseSync } from 'node:sqlite';
import { injectedCommitFault } from './commit-faults.ts';

/** The batch as a whole could not commit: nothing in it was applied; trying again is safe. */
export class CommitFailed extends Error {
  constructor(cause: unknown) {
    super(`transaction failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'CommitFailed';
  }
}

interface Job {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: work queued in the same turn of the event loop runs in one transaction,
 * each piece inside its own savepoint, so one failure rolls back only its own writes.
 * Callers hear their result only after COMMIT, i.e. once it is durable. One fsync then
 * serves a whole batch of messages instead of one each.
 */
export class GroupCommit {
  private readonly db: DatabaseSync;
  private queue: Job[] = [];
  private scheduled = false;

  constructor(db: DatabaseSync) {
    this.db = db;
  }

  run<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (v: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.flush);
      }
    });
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const jobs = this.queue;
    this.queue = [];
    const outcomes: ({ ok: true; value: unknown } | { ok: false; err: unknown })[] = [];
    try {
      this.db.exec('BEGIN IMMEDIATE');
      for (const job of jobs) {
        this.db.exec('SAVEPOINT job');
        try {
          outcomes.push({ ok: true, value: job.work() });
          this.db.exec('RELEASE job');
        } catch (err) {
          // SQLITE_FULL, _IOERR, _BUSY, _NOMEM may roll back the whole transaction, not
          // just the statement: then the batch is lost, and this error says why.
          if (!this.db.isTransaction) throw err;
          this.db.exec('ROLLBACK TO job');
          this.db.exec('RELEASE job');
          outcomes.push({ ok: false, err });
        }
      }
      injectedCommitFault();
      this.db.exec('COMMIT');
    } catch (err) {
      // A closed database (the node stopping as a batch was queued) has nothing to roll back; asking would throw out of this callback.
      if (this.db.isOpen && this.db.isTransaction) this.db.exec('ROLLBACK');
      const failed = new CommitFailed(err);
      for (const job of jobs) job.reject(failed);
      return;
    }
    jobs.forEach((job, i) => {
      const o = outcomes[i];
      if (o.ok) job.resolve(o.value);
      else job.reject(o.err);
    });
  };
}
