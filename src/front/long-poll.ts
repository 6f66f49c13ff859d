import type { z } from 'zod';
import type { CallNode } from '../client/node-connection.ts';
import { Backoff } from '../net/backoff.ts';
import { MAX_WAIT_MS } from '../supervisor/registry.ts';

/** How long one poll may wait at the node (its cap), and the retry after a failed one. */
export const POLL_WAIT_MS = MAX_WAIT_MS;
export const POLL_BACKOFF = { minMs: 250, maxMs: 5000 };

/** Every versioned value a node serves by long poll (`Versioned` in src/supervisor/registry.ts). */
interface VersionedAnswer {
  boot: string;
  version: number;
}

export interface LongPollOptions<T extends VersionedAnswer> {
  call: CallNode;
  node: string;
  command: string;
  /** The answer is checked like any input; one that does not parse counts as a failure. */
  schema: z.ZodType<T>;
  /** How long the node may hold one poll (its cap is 8 s). */
  waitMs: number;
  backoff: { minMs: number; maxMs: number };
  /** Each answer, a new version or not. */
  answer: (value: T) => void;
  /** A failed poll: `first` is true for the first of a run of failures (log it once). */
  failed: (message: string, first: boolean) => void;
  /** The node answered again after failures. */
  recovered: () => void;
}

/** Waits for `p`, but not longer than ms (a first answer the front would rather not start without). */
export async function bounded(p: Promise<unknown> | undefined, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** A poll answered at once with the version it asked past: the node did not hold it (an older node past its bound). */
class NotHeld extends Error {
  constructor() {
    super('the node answered a long poll at once with nothing new (it holds no more polls)');
  }
}

/**
 * Follows a versioned value on a node: asks for it, then for the version after the one it
 * has, which the node answers at the next change (or after waitMs). A failure is retried
 * with the links' capped, jittered back-off (src/net/backoff.ts: fronts that lost the same node
 * do not come back in step), and then asks for the value afresh. A poll the node will not hold
 * (refused past its bound, or answered at once with nothing new) is retried the same way: never
 * a loop of polls answered at once.
 * `first` settles after the first answer or failure; `stop` ends it without a timer left.
 */
export function followLongPoll<T extends VersionedAnswer>(o: LongPollOptions<T>): { first: Promise<void>; stop: () => void } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;
  let settleFirst!: () => void;
  const first = new Promise<void>((resolve) => (settleFirst = resolve));
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      wake = resolve;
      timer = setTimeout(resolve, ms);
    });
  void (async () => {
    let known: VersionedAnswer | undefined;
    const backoff = new Backoff(o.backoff.minMs, o.backoff.maxMs);
    let failing = false;
    while (!stopped) {
      const asked = known;
      const sent = performance.now();
      try {
        const raw = await o.call(o.node, o.command, asked ? { after: asked.version, boot: asked.boot, waitMs: o.waitMs } : {});
        if (stopped) return;
        const value = o.schema.parse(raw);
        o.answer(value);
        known = { boot: value.boot, version: value.version };
        if (asked && value.boot === asked.boot && value.version === asked.version && performance.now() - sent < o.waitMs / 2) throw new NotHeld();
        backoff.reset();
        if (failing) o.recovered();
        failing = false;
      } catch (err) {
        if (stopped) return;
        const message = (err as Error).name === 'ZodError' ? `a malformed answer: ${(err as z.ZodError).issues[0]?.message}` : (err as Error).message;
        o.failed(message, !failing);
        failing = true;
        // A node that would not hold the poll (past its bound) is there: the same poll, later. Else ask afresh.
        if (!(err instanceof NotHeld) && (err as { code?: string }).code !== 'rate_limited') known = undefined;
        settleFirst();
        await pause(backoff.next());
      }
      settleFirst();
    }
  })();
  return {
    first,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
      wake?.();
      settleFirst();
    },
  };
}
