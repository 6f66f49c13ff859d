/**
 * One part of a node (its database, a listener, the links, the app pool...), with the steps it
 * needs. A node declares its parts in order: they start in that order, and end in reverse.
 */
export interface Part {
  start?(): void | Promise<void>;
  /**
   * Ends the work the part does on its own (timers, deliveries, child processes, long polls)
   * while every part still holds what it holds: links, listeners and the database stay open
   * until every started part has drained.
   */
  drain?(): void | Promise<void>;
  /** Lets go of what it holds (listeners, links, files). */
  stop?(): void | Promise<void>;
  /** What the part says of itself while it runs: whether it is sound, and a few words. */
  status?(): PartHealth;
}

export interface PartHealth {
  ok: boolean;
  detail?: string;
}

/** Where a part is in its life; `failed`: its start threw. */
export type PartState = 'waiting' | 'starting' | 'running' | 'draining' | 'stopping' | 'stopped' | 'failed';

export interface PartReport extends PartHealth {
  part: string;
  state: PartState;
}

/**
 * Starts a node's parts in their declared order (an object's keys name them, in order); stops
 * them in reverse, in two passes (every part drains, then every part stops), so no part's work
 * sees another part's links or files go away. A start that fails stops the parts already
 * started, then throws its error. `status()` tells each part's state and what it says of itself.
 */
export class Lifecycle {
  private readonly parts: [string, Part][];
  private readonly states = new Map<string, PartState>();
  private started: [string, Part][] = [];

  constructor(parts: Record<string, Part>) {
    this.parts = Object.entries(parts);
    for (const [name] of this.parts) this.states.set(name, 'waiting');
  }

  async start(): Promise<void> {
    for (const [name, part] of this.parts) {
      this.states.set(name, 'starting');
      try {
        await part.start?.();
      } catch (err) {
        this.states.set(name, 'failed');
        // The start's error is the one to report; what stopping the others says is not.
        await this.stop().catch(() => undefined);
        throw err;
      }
      this.states.set(name, 'running');
      this.started.push([name, part]);
    }
  }

  /** A drain or stop that throws does not keep the others from theirs: every error is thrown at the end. */
  async stop(): Promise<void> {
    const started = this.started.reverse();
    this.started = [];
    const errors: unknown[] = [];
    const step = async (name: string, state: PartState, fn: (() => void | Promise<void>) | undefined) => {
      this.states.set(name, state);
      try {
        await fn?.();
      } catch (err) {
        errors.push(err);
      }
    };
    for (const [name, part] of started) await step(name, 'draining', part.drain?.bind(part));
    for (const [name, part] of started) await step(name, 'stopping', part.stop?.bind(part));
    for (const [name] of started) this.states.set(name, 'stopped');
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, `${errors.length} parts failed to stop`);
  }

  /** The parts not running now (starting, draining...), without asking any part about itself. */
  notRunning(): { part: string; state: PartState }[] {
    return [...this.states].flatMap(([part, state]) => (state === 'running' ? [] : [{ part, state }]));
  }

  /** Every part in declared order: its state, and (while it runs) what it says of itself. */
  status(): PartReport[] {
    return this.parts.map(([name, part]) => {
      const state = this.states.get(name)!;
      if (state !== 'running') return { part: name, state, ok: false };
      try {
        return { part: name, state, ...(part.status?.() ?? { ok: true }) };
      } catch (err) {
        return { part: name, state, ok: false, detail: `its status failed: ${err instanceof Error ? err.message : String(err)}` };
      }
    });
  }
}
