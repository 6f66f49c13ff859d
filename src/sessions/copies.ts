import type { Logger } from 'pino';
import type { HostTable } from '../config/host-table.ts';
import { CohortError } from '../errors.ts';
import { ApplyBatches } from './apply-batches.ts';
import { placement } from './placement.ts';
import { mergeStates, newestStamp, visible, type SessionState, type SessionWrite, type Stamp } from './session-state.ts';
import type { SessionStore } from './session-store.ts';
import { checkedState } from './state-schema.ts';

/** Refusals are the same at every copy: no point trying the other one. */
const REFUSALS = new Set(['bad_args', 'too_large', 'refused']);
/** Missed writes brought to a copy that is back, this many sessions a round. */
const CATCH_UP_BATCH = 200;
/** After a start, reads merge both copies this long (a few catch-up rounds). */
const CATCH_UP_WINDOW_MS = 10_000;
/** At a start, sessions written here in the node's last moments are sent to their other copies again (at most this many). */
const RESEND_LIMIT = 10_000;
/** After a host table moved copies (issue 28), reads merge old and new places and writes go to both this long: every node takes a version within seconds. */
const MOVE_WINDOW_MS = 60_000;

export interface CopiesDeps {
  self: string;
  table: HostTable;
  store: SessionStore;
  call: (to: string, cmd: string, args: unknown) => Promise<unknown>;
  log: Logger;
  /** Called with the newest stamp of each session read: the node's write clock moves past it. */
  observe: (seen: Stamp) => void;
}

/**
 * A session's two copies (placement.ts) as one: writes go to both, reads come from the first
 * (this node's own copy when it is the first; else both, merged). A copy that misses a write
 * (its node is down) is noted, and given the merged state once it answers again: copies
 * converge because each key's newest write wins in any order (session-state.ts).
 */
export class SessionCopies {
  private readonly deps: CopiesDeps;
  private readonly batches: ApplyBatches;
  private timer: NodeJS.Timeout | undefined;
  private catchingUp = false;
  private cursor = 0;
  /** Until then this node's own copies may lack writes made while it was down: read both. */
  private readBothUntil = 0;
  /** The host table before the last change that moved copies, until its window ends. */
  private moved: { previous: HostTable; until: number } | undefined;

  constructor(deps: CopiesDeps) {
    this.deps = deps;
    this.batches = new ApplyBatches(deps.call, deps.table.link.maxFrameBytes);
  }

  /** A session from this node's own first copy at once (no promise), else from both copies. */
  read(id: string): ReturnType<typeof visible> | Promise<ReturnType<typeof visible>> {
    const { self, table, store } = this.deps;
    const copies = placement(table, id);
    const formerly = this.formerPlaces(id, copies);
    if (formerly.length) return this.readBoth(id, [...copies, ...formerly]);
    if (copies[0] === self && Date.now() >= this.readBothUntil) return this.seen(store.state(id));
    return this.readBoth(id, copies);
  }

  /** Within a move's window: where the session's copies were before the table changed, and are not now. */
  private formerPlaces(id: string, copies: string[]): string[] {
    if (!this.moved) return [];
    if (Date.now() >= this.moved.until) {
      this.moved = undefined;
      return [];
    }
    return placement(this.moved.previous, id).filter((n) => !copies.includes(n));
  }

  /**
   * A newer host table moved some sessions' copies (a node added): for a window, reads merge
   * old and new places and writes reach both; each session this node holds is owed to its new
   * places, which catch-up fills from the copies that have it. `held`: the ids this node keeps.
   */
  placedAnew(previous: HostTable, held: readonly string[]): void {
    this.moved = { previous, until: Date.now() + MOVE_WINDOW_MS };
    const { table, store, self } = this.deps;
    for (const id of held) {
      const before = placement(previous, id);
      for (const node of placement(table, id)) if (node !== self && !before.includes(node)) store.missed(id, node);
    }
  }

  private async readBoth(id: string, copies: string[]): Promise<ReturnType<typeof visible>> {
    const answers = await Promise.allSettled(copies.map((n) => this.stateAt(n, id)));
    const states = answers.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    if (!states.length) throw (answers[0] as PromiseRejectedResult).reason;
    return this.seen(states.reduce(mergeStates));
  }

  /** What the app sees of a state; the clock moves past its newest stamp. */
  private seen(state: SessionState): ReturnType<typeof visible> {
    this.deps.observe(newestStamp(state));
    return visible(state, Date.now());
  }

  /** Resolves once a copy has the write (this node's own first copy: at once, the other in the background). */
  async write(id: string, w: SessionWrite): Promise<void> {
    const { self, table } = this.deps;
    const [first, second] = placement(table, id);
    // Within a move's window, the former places too (a reader that still follows the older table reads there).
    for (const node of this.formerPlaces(id, [first, second].filter((n) => n !== undefined))) this.applyAt(node, id, w).catch(() => undefined);
    const firstDone = this.applyAt(first, id, w);
    // A refusal here (too_large) refuses the write everywhere: the other copy is not asked.
    if (first === self) await firstDone;
    const secondDone = second === undefined ? undefined : this.applyAt(second, id, w);
    secondDone?.catch((err: unknown) => this.missedBy(second!, id, err)).catch((err: unknown) => this.deps.log.error({ event: 'session_missed_unrecorded', err: (err as Error).message }, 'a missed session write could not be noted'));
    try {
      await firstDone;
    } catch (err) {
      if (isRefusal(err) || !secondDone) throw err;
      await secondDone; // the first copy is out of reach: the write stands on the second
      this.missedBy(first, id, err);
    }
  }

  /**
   * Copies that missed writes get the merged state, every second while any is owed. For the
   * first catch-up window after a start, reads merge both copies (this node may have missed
   * writes while it was down; the node that made them sends them within a round or two).
   */
  start(): void {
    this.readBothUntil = Date.now() + CATCH_UP_WINDOW_MS;
    // A write this node answered just before it stopped or died may not have reached its other copy:
    // that send was in the background, and a kill -9 leaves no note of it (a send that fails is
    // noted, but only once the link's request timeout has passed). So every session written here
    // (by this node or by a peer) within that timeout of the last write is owed to its other
    // copies once more; catch-up sends the merged state.
    const { store, table, self } = this.deps;
    for (const id of store.writtenLast(table.link.requestTimeoutMs + 1000, RESEND_LIMIT)) {
      for (const node of placement(table, id)) if (node !== self) store.missed(id, node);
    }
    this.timer = setInterval(() => void this.catchUp(), 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async catchUp(): Promise<void> {
    if (this.catchingUp) return;
    this.catchingUp = true;
    try {
      const { store, table } = this.deps;
      const rows = store.missedList(this.cursor, CATCH_UP_BATCH);
      this.cursor = rows.length < CATCH_UP_BATCH ? 0 : rows[rows.length - 1].rowid;
      for (const { id, node } of rows) {
        const copies = placement(table, id);
        // No longer one of its copies (the host table changed): nothing is owed to it.
        if (!copies.includes(node)) {
          store.caughtUp(id, node);
          continue;
        }
        try {
          // Sources: its other copies now, where its copies were before the table moved them
          // (within the move's window), and this node's own copy (it noted the write it holds).
          const current = copies.filter((n) => n !== node);
          const former = this.moved && Date.now() < this.moved.until ? placement(this.moved.previous, id).filter((n) => n !== node && !copies.includes(n)) : [];
          const sources = [...new Set([...current, ...former, this.deps.self])].filter((n) => n !== node);
          const answers = await Promise.allSettled(sources.map((n) => this.stateAt(n, id)));
          // A copy of its current places out of reach may hold what the target lacks: a later round.
          if (answers.some((a, i) => a.status === 'rejected' && current.includes(sources[i]))) continue;
          const states = answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []));
          if (!states.length) continue;
          const state = states.reduce(mergeStates);
          if (visible(state, Date.now()) !== null || state.destroyedAt > 0) {
            // This node's own copy missed a write (its disk refused it): merged here, not through the peers' command.
            if (node === this.deps.self) store.merge(id, state);
            else await this.deps.call(node, 'session.merge', { id, state });
          }
          store.caughtUp(id, node);
        } catch {
          // still out of reach (or its source is): a later round
        }
      }
    } catch (err) {
      this.deps.log.error({ event: 'session_catch_up_failed', err: (err as Error).message }, 'session catch-up round failed');
    } finally {
      this.catchingUp = false;
    }
  }

  private missedBy(node: string, id: string, err: unknown): void {
    if (isRefusal(err)) return;
    this.deps.store.missed(id, node);
    this.deps.log.debug({ event: 'session_copy_missed', node, err: (err as Error).message }, `${node} missed a session write; it gets it when back`);
  }

  private applyAt(node: string, id: string, w: SessionWrite): Promise<unknown> {
    return node === this.deps.self ? this.deps.store.commit(id, w) : this.batches.apply(node, id, w);
  }

  private stateAt(node: string, id: string): Promise<SessionState> {
    if (node === this.deps.self) return Promise.resolve(this.deps.store.state(id));
    // A peer's answer is input: its shape checked, and no stamp far ahead of this node's clock
    // (merged, it would outrank every later write of the key), as session.merge checks it.
    return this.deps.call(node, 'session.read', { id }).then((raw) => checkedState(raw, `node ${node}`));
  }
}

function isRefusal(err: unknown): boolean {
  return err instanceof CohortError && REFUSALS.has(err.code);
}
