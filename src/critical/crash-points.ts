// Fault injection for the delivery and replication tests: COHORT_CRASH_POINTS="sent:0.02,acked:0.01"
// makes the node kill itself (SIGKILL, no clean-up) with that probability each time it passes
// the named point. Unset in production, where crashPoint() is one failed map lookup.

/**
 * copy_answered: a copy's checked bytes were answered from memory and written, not yet synced, renamed or recorded.
 * applied: a critical message's effect and id committed at the receiver, its answer not yet sent (the sender will send it again).
 */
export type CrashPoint = 'outbox_written' | 'sent' | 'acked' | 'copy_answered' | 'applied';

const odds = new Map<string, number>();
for (const part of (process.env.COHORT_CRASH_POINTS ?? '').split(',').filter(Boolean)) {
  const [name, p] = part.split(':');
  odds.set(name, Number(p ?? 1));
}

/** False unless a test asked for crashes: callers skip even scheduling a check. */
export const crashPointsEnabled = odds.size > 0;

export function crashPoint(point: CrashPoint): void {
  const p = odds.get(point);
  if (p !== undefined && Math.random() < p) {
    process.stderr.write(`crash point ${point}: killing myself\n`);
    process.kill(process.pid, 'SIGKILL');
  }
}
