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

  async stop(): Promise<void> {
    const started = this.started.reverse();
    this.started = [];
    for (const part of started) await part.drain?.();
    for (const part of started) await part.stop?.();
  }
}
