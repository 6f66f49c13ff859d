// Time during which this process could hear: the clock a link's silence and a request's
// deadline are measured on. A process that did not run (a long synchronous step, a GC pause,
// a starved machine, SIGSTOP) wakes with its timers due before it has read what waits in its
// sockets; on the wall clock it would declare every link dead at once and fail every request
// in flight, peers that spoke the whole time included. Cassandra's failure detector does the
// same: a local pause is not a peer's silence (max_local_pause_in_ms). Still, a quarter of real
// time always counts: under sustained load (ticks late again and again) a dead peer is still
// declared dead, and a request still times out, within four times their settings.

export class AwakeClock {
  /** Credited per tick at most: a tick later than this means the process stalled. */
  readonly maxStepMs: number;
  private readonly realNow: () => number;
  private awakeMs = 0;
  private lastTick: number;
  /** Milliseconds not credited so far: the stalls this clock skipped. */
  stalledMs = 0;

  /** `tickMs`: how often the owner calls tick(). */
  constructor(tickMs: number, realNow: () => number = () => performance.now()) {
    this.maxStepMs = 2 * tickMs;
    this.realNow = realNow;
    this.lastTick = realNow();
  }

  /** Called on the owner's interval: credits the time since the last tick, up to maxStepMs (but at least a quarter of it). */
  tick(): number {
    const real = this.realNow();
    const gap = real - this.lastTick;
    const credited = this.credit(gap);
    this.awakeMs += credited;
    this.stalledMs += gap - credited;
    this.lastTick = real;
    return this.awakeMs;
  }

  /** Awake milliseconds since the clock started; never decreases. */
  now(): number {
    return this.awakeMs + this.credit(this.realNow() - this.lastTick);
  }

  private credit(gap: number): number {
    return Math.max(Math.min(gap, this.maxStepMs), gap / 4);
  }
}
