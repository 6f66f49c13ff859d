import type { Instance } from './instance.ts';
import type { InstanceRecord } from './registry.ts';

/**
 * A place in the pool: the instance serving it (`current`), and while one starts to take its
 * place (recycle, reload), that one (`next`). `next` becomes `current` once it is ready,
 * whatever happened to the old one meanwhile (crashed, DYING, killed).
 */
export interface Slot {
  n: number;
  current: Instance | undefined;
  next: Instance | undefined;
  /** A start between its call and its process (choosing a port): the slot is taken for it. */
  launching: Promise<Instance | undefined> | undefined;
  restarts: number;
  /** Starts in a row that ended before the instance was stable (crash loop). */
  failures: number;
  /** Replacements in a row that did not become ready (they back off on their own: the current one stays stable). */
  replaceFailures: number;
  lastError: string | null;
  lastPort: number | undefined;
  retryAt: number | null;
  retryTimer: NodeJS.Timeout | undefined;
}

export function newSlot(n: number): Slot {
  return { n, current: undefined, next: undefined, launching: undefined, restarts: 0, failures: 0, replaceFailures: 0, lastError: null, lastPort: undefined, retryAt: null, retryTimer: undefined };
}

/** The slot's lines in the registry: its instances, or one `stopped` line while it has none. */
export function slotRecords(slot: Slot, node: string, host: string): InstanceRecord[] {
  const live = [slot.current, slot.next].filter((i): i is Instance => i !== undefined);
  if (live.length) return live.map((inst) => inst.record(slot.restarts, slot.lastError));
  return [{ id: `${node}.${slot.n}`, slot: slot.n, state: 'stopped', host, port: null, pid: null, startedAt: null, requests: 0, restarts: slot.restarts, sessions: null, rssBytes: null, lastError: slot.lastError, retryAt: slot.retryAt }];
}
