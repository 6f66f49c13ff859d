import { CohortError, isErrorCode, toReplyError } from '../errors.ts';
import type { SessionWrite } from './session-state.ts';

/** Writes to one peer's copies sent in one message at most. */
export const MAX_BATCH = 256;

export type ApplyOutcome = null | { code: string; message: string };

type Call = (to: string, cmd: string, args: unknown) => Promise<unknown>;

interface Queued {
  id: string;
  w: SessionWrite;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Writes to sessions' copies on other nodes, gathered per peer over one turn of the event loop
 * and sent as one `session.apply`: under load, one message (one frame each way, one validation,
 * one transaction there) carries many writes. Each write still hears its own outcome.
 */
export class ApplyBatches {
  private readonly call: Call;
  private readonly queues = new Map<string, Queued[]>();

  constructor(call: Call) {
    this.call = call;
  }

  apply(node: string, id: string, w: SessionWrite): Promise<void> {
    return new Promise((resolve, reject) => {
      let queue = this.queues.get(node);
      if (!queue) {
        queue = [];
        this.queues.set(node, queue);
        setImmediate(() => this.flush(node));
      }
      queue.push({ id, w, resolve, reject });
      if (queue.length >= MAX_BATCH) this.flush(node);
    });
  }

  private flush(node: string): void {
    const queue = this.queues.get(node);
    if (!queue?.length) return;
    this.queues.delete(node);
    this.call(node, 'session.apply', { writes: queue.map(({ id, w }) => ({ id, ...w })) }).then(
      (reply) => {
        const outcomes = (reply as { outcomes?: unknown }).outcomes;
        if (!Array.isArray(outcomes) || outcomes.length !== queue.length) {
          const err = new CohortError('internal', `${node} answered a batch of ${queue.length} session writes with ${Array.isArray(outcomes) ? outcomes.length : 'no'} outcomes`);
          for (const q of queue) q.reject(err);
          return;
        }
        queue.forEach((q, i) => {
          const o = outcomes[i] as ApplyOutcome;
          if (o === null) q.resolve();
          else q.reject(new CohortError(isErrorCode(o?.code) ? o.code : 'internal', String(o?.message ?? 'a session write failed')));
        });
      },
      (err: unknown) => {
        for (const q of queue) q.reject(err);
      },
    );
  }
}

/** Applies each write of a batch on its own: one refused write does not refuse the others. */
export function applyEach(writes: { id: string; w: SessionWrite }[], apply: (id: string, w: SessionWrite) => void): ApplyOutcome[] {
  return writes.map(({ id, w }) => {
    try {
      apply(id, w);
      return null;
    } catch (err) {
      return toReplyError(err);
    }
  });
}
