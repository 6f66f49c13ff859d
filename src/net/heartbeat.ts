// Decides, on each tick, whether an idle link should send a heartbeat or be declared dead.
// Both ends run one: each sends when it has been quiet, each gives up when it hears nothing.
// Time is passed in, so tests drive it with a fake clock.

export type HeartbeatAction = 'none' | 'send' | 'dead';

export class Heartbeat {
  readonly intervalMs: number;
  readonly deadAfterMs: number;
  private lastHeard: number;
  private lastSent: number;

  constructor(intervalMs: number, deadAfterMs: number, now: number) {
    this.intervalMs = intervalMs;
    this.deadAfterMs = deadAfterMs;
    this.lastHeard = now;
    this.lastSent = now;
  }

  heard(now: number): void {
    this.lastHeard = now;
  }

  sent(now: number): void {
    this.lastSent = now;
  }

  tick(now: number): HeartbeatAction {
    if (now - this.lastHeard >= this.deadAfterMs) return 'dead';
    if (now - this.lastSent >= this.intervalMs) return 'send';
    return 'none';
  }
}
