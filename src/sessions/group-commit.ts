import { CohortError, isErrorCode } from '../errors.ts';
import { applyEach, type ApplyOutcome } from './apply-batches.ts';
import type { SessionWrite } from './session-state.ts';
import type { SessionStore } from './session-store.ts';

interface Waiting {
  id: string;
  w: SessionWrite;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Writes to this node's own copies, committed together: the writes that arrive in one turn of
 * the event loop (the frames of one read of the local socket, say) are applied in one
 * transaction at its end, so a commit's cost (its pages written to the log) is paid once for
 * them all. Each write still hears its own outcome; one refused write (too_large) does not
 * refuse the others, and a failed commit (the disk) fails them all.
 */
export class GroupCommit {
  private readonly store: SessionStore;
  private waiting: Waiting[] = [];

  constructor(store: SessionStore) {
    this.store = store;
  }

  apply(id: string, w: SessionWrite): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.waiting.length) setImmediate(this.commit);
      this.waiting.push({ id, w, resolve, reject });
    });
  }

  private readonly commit = (): void => {
    const batch = this.waiting;
    this.waiting = [];
    let outcomes: ApplyOutcome[];
    try {
      outcomes = this.store.transaction(() => applyEach(batch, (id, w) => this.store.apply(id, w)));
    } catch (err) {
      for (const q of batch) q.reject(err);
      return;
    }
    batch.forEach((q, i) => {
      const o = outcomes[i];
      if (o === null) q.resolve();
      else q.reject(new CohortError(isErrorCode(o.code) ? o.code : 'internal', o.message));
    });
  };
}
