import { CohortError } from '../errors.ts';

/** A critical message as it arrived, waiting for its turn. */
export interface Arrival {
  mid: string;
  cmd: string;
  args: unknown;
  oldest: number | undefined;
}

/** What applying one message came to: its result, or why not. */
export type Outcome = { ok: true; result: unknown } | { ok: false; err: unknown };

/**
 * The most messages applied in one transaction of a store that applies them itself. Each is in a
 * savepoint of its own: past 64 subtransactions PostgreSQL's snapshots overflow to disk.
 */
export const MAX_BATCH = 64;
/** The most messages of one sender waiting their turn; past it, con_lost (the sender sends them again later). */
export const MAX_WAITING = 4096;

/**
 * Each sender's critical messages, applied one run after the other in the order they came
 * (DESIGN: in send order per peer), when some commands apply themselves in a store whose commits
 * do not follow the node's own batches (PostgreSQL). Consecutive messages of such commands go to
 * `batch` together (one transaction of that store); consecutive other ones go to `here` together
 * (the node's own batch), and the next run waits for them.
 * A sender's queue is there while it has messages waiting: at most one per peer that sends.
 */
export class SenderQueues {
  private readonly queues = new Map<string, (Arrival & { settle: (o: Outcome) => void })[]>();
  /** Messages waiting or being applied, by sender and id: one sent again meanwhile hears the same answer (bounded as the queues are). */
  private readonly pending = new Map<string, Promise<unknown>>();
  private readonly itself: (cmd: string) => boolean;
  private readonly here: (from: string, a: Arrival) => Promise<unknown>;
  private readonly batch: (from: string, run: Arrival[]) => Promise<Outcome[]>;

  constructor(opts: { itself: (cmd: string) => boolean; here: (from: string, a: Arrival) => Promise<unknown>; batch: (from: string, run: Arrival[]) => Promise<Outcome[]> }) {
    this.itself = opts.itself;
    this.here = opts.here;
    this.batch = opts.batch;
  }

  apply(from: string, arrival: Arrival): Promise<unknown> {
    const key = `${from}\0${arrival.mid}`;
    const same = this.pending.get(key);
    if (same) return same;
    const queue = this.queues.get(from);
    if (queue && queue.length >= MAX_WAITING) return Promise.reject(new CohortError('con_lost', `${MAX_WAITING} messages from ${from} are waiting their turn here: ${arrival.mid} is not taken now`));
    const answer = new Promise<Outcome>((settle) => {
      if (queue) return void queue.push({ ...arrival, settle });
      this.queues.set(from, [{ ...arrival, settle }]);
      this.drain(from).catch((err: unknown) => {
        // Not expected (here and batch answer for themselves): nothing waiting may hang.
        for (const a of this.queues.get(from) ?? []) a.settle({ ok: false, err });
        this.queues.delete(from);
      });
    })
      .finally(() => this.pending.delete(key))
      .then((o) => (o.ok ? o.result : Promise.reject(o.err)));
    this.pending.set(key, answer);
    return answer;
  }

  private async drain(from: string): Promise<void> {
    const queue = this.queues.get(from)!;
    while (queue.length > 0) {
      const itself = this.itself(queue[0].cmd);
      let n = 1;
      while (n < queue.length && n < MAX_BATCH && this.itself(queue[n].cmd) === itself) n++;
      const run = queue.splice(0, n);
      if (!itself) {
        // Handed over together, in order: the node's group commit applies them in that order (and holds the rest if one fails).
        const outcomes = await Promise.all(run.map((a) => this.here(from, a).then((result): Outcome => ({ ok: true, result }), (err: unknown): Outcome => ({ ok: false, err }))));
        run.forEach((a, i) => a.settle(outcomes[i]));
        continue;
      }
      const outcomes = await this.batch(from, run).catch((err: unknown) => run.map((): Outcome => ({ ok: false, err })));
      run.forEach((a, i) => a.settle(outcomes[i]));
    }
    this.queues.delete(from);
  }
}
