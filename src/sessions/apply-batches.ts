import { CohortError, isErrorCode, toReplyError } from '../errors.ts';
import type { SessionWrite } from './session-state.ts';

/** Writes to one peer's copies sent in one message at most. */
export const MAX_BATCH = 256;

export type ApplyOutcome = null | { code: string; message: string };

type Call = (to: string, cmd: string, args: unknown) => Promise<unknown>;

interface Queue {
  writes: Queued[];
  /** JSON characters so far: a batch stays well under the link's frame limit. */
  chars: number;
}

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
  private readonly queues = new Map<string, Queue>();
  private readonly maxChars: number;

  /** maxFrameBytes: the links' frame limit; a batch goes out before its JSON reaches a quarter of it. */
  constructor(call: Call, maxFrameBytes: number) {
    this.call = call;
    this.maxChars = Math.floor(maxFrameBytes / 4);
  }

  apply(node: string, id: string, w: SessionWrite): Promise<void> {
    return new Promise((resolve, reject) => {
      const chars = JSON.stringify(w).length + id.length + 16;
      let queue = this.queues.get(node);
      if (queue && queue.chars + chars > this.maxChars) {
        this.flush(node);
        queue = undefined;
      }
      if (!queue) {
        const fresh: Queue = { writes: [], chars: 0 };
        this.queues.set(node, fresh);
        setImmediate(() => {
          if (this.queues.get(node) === fresh) this.flush(node);
        });
        queue = fresh;
      }
      queue.writes.push({ id, w, resolve, reject });
      queue.chars += chars;
      if (queue.writes.length >= MAX_BATCH) this.flush(node);
    });
  }

  private flush(node: string): void {
    const queue = this.queues.get(node)?.writes;
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
