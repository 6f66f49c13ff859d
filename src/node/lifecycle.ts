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
}

/**
 * Starts a node's parts in their declared order; stops them in reverse, in two passes (every
 * part drains, then every part stops), so no part's work sees another part's links or files
 * go away. A start that fails stops the parts already started, then throws its error.
 */
export class Lifecycle {
  private readonly parts: readonly Part[];
  private started: Part[] = [];

  constructor(parts: readonly Part[]) {
    this.parts = parts;
  }

  async start(): Promise<void> {
    for (const part of this.parts) {
      try {
        await part.start?.();
      } catch (err) {
        // The start's error is the one to report; what stopping the others says is not.
        await this.stop().catch(() => undefined);
        throw err;
      }
      this.started.push(part);
    }
  }

  /** A drain or stop that throws does not keep the others from theirs: every error is thrown at the end. */
  async stop(): Promise<void> {
    const started = this.started.reverse();
    this.started = [];
    const errors: unknown[] = [];
    const step = async (fn: (() => void | Promise<void>) | undefined) => {
      try {
        await fn?.();
      } catch (err) {
        errors.push(err);
      }
    };
    for (const part of started) await step(part.drain?.bind(part));
    for (const part of started) await step(part.stop?.bind(part));
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, `${errors.length} parts failed to stop`);
  }
}
