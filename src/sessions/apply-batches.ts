import { CohortError, isErrorCode } from '../errors.ts';
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

interface Peer {
  /** Writes waiting for the next batch. */
  queued: Queued[];
  /** JSON characters queued: a batch stays well under the link's frame limit. */
  chars: number;
  /** Batches sent and not yet answered. */
  inFlight: number;
  /** A flush is due at the end of this turn of the event loop. */
  scheduled: boolean;
}

/**
 * Writes to sessions' copies on other nodes, sent to each peer as `session.apply` batches,
 * one batch in flight at a time (group commit, as a database gathers the commits that arrive
 * while its last fsync runs): a write that finds the peer idle leaves at the end of this turn
 * of the event loop; writes that arrive while a batch is out wait for its answer and leave
 * together. Under load one message (one frame each way, one validation, one transaction
 * there) carries many writes; at rest a write waits for nothing. Each write still hears its
 * own outcome. A batch that reaches MAX_BATCH writes or its byte bound leaves at once.
 */
export class ApplyBatches {
  private readonly call: Call;
  private readonly peers = new Map<string, Peer>();
  private readonly maxChars: number;

  /** maxFrameBytes: the links' frame limit; a batch goes out before its JSON reaches a quarter of it. */
  constructor(call: Call, maxFrameBytes: number) {
    this.call = call;
    this.maxChars = Math.floor(maxFrameBytes / 4);
  }

  apply(node: string, id: string, w: SessionWrite): Promise<void> {
    return new Promise((resolve, reject) => {
      const chars = JSON.stringify(w).length + id.length + 16;
      let peer = this.peers.get(node);
      if (!peer) {
        peer = { queued: [], chars: 0, inFlight: 0, scheduled: false };
        this.peers.set(node, peer);
      }
      if (peer.queued.length && peer.chars + chars > this.maxChars) this.send(node, peer);
      peer.queued.push({ id, w, resolve, reject });
      peer.chars += chars;
      if (peer.queued.length >= MAX_BATCH) this.send(node, peer);
      else if (peer.inFlight === 0 && !peer.scheduled) {
        peer.scheduled = true;
        setImmediate(() => {
          peer.scheduled = false;
          if (peer.inFlight === 0) this.send(node, peer);
        });
      }
    });
  }

  /** Sends what `peer` has queued as one batch; when it is answered, the next batch leaves. */
  private send(node: string, peer: Peer): void {
    const batch = peer.queued;
    if (!batch.length) {
      if (peer.inFlight === 0 && !peer.scheduled) this.peers.delete(node);
      return;
    }
    peer.queued = [];
    peer.chars = 0;
    peer.inFlight++;
    const settled = () => {
      peer.inFlight--;
      if (peer.inFlight === 0) this.send(node, peer);
    };
    this.call(node, 'session.apply', { writes: batch.map(({ id, w }) => ({ id, ...w })) }).then(
      (reply) => {
        settled();
        const outcomes = (reply as { outcomes?: unknown }).outcomes;
        if (!Array.isArray(outcomes) || outcomes.length !== batch.length) {
          const err = new CohortError('internal', `${node} answered a batch of ${batch.length} session writes with ${Array.isArray(outcomes) ? outcomes.length : 'no'} outcomes`);
          for (const q of batch) q.reject(err);
          return;
        }
        batch.forEach((q, i) => {
          const o = outcomes[i] as ApplyOutcome;
          if (o === null) q.resolve();
          else q.reject(new CohortError(isErrorCode(o?.code) ? o.code : 'internal', String(o?.message ?? 'a session write failed')));
        });
      },
      (err: unknown) => {
        settled();
        for (const q of batch) q.reject(err);
      },
    );
  }
}
