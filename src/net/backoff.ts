// Capped exponential back-off. With jitter (the default) it is full jitter (AWS architecture
// blog's "full jitter"): peers that lost the same node do not all knock on its door in the same
// millisecond. Without (random null) each delay is the plain doubling: minMs, 2×, 4×, ... maxMs.

export class Backoff {
  private readonly minMs: number;
  private readonly maxMs: number;
  private readonly random: (() => number) | null;
  attempts = 0;

  constructor(minMs: number, maxMs: number, random: (() => number) | null = Math.random) {
    this.minMs = minMs;
    this.maxMs = maxMs;
    this.random = random;
  }

  /** The delay before the next attempt; each call counts one failed attempt. */
  next(): number {
    const delay = this.delay();
    this.attempts++;
    return delay;
  }

  /** The delay before the next attempt, for a caller that counts attempts itself (when they happen). */
  delay(): number {
    const ceiling = doubling(this.minMs, this.maxMs, this.attempts);
    if (this.random === null) return ceiling;
    return Math.round(this.minMs / 2 + this.random() * (ceiling - this.minMs / 2));
  }

  reset(): void {
    this.attempts = 0;
  }
}

/** The plain doubling after `attempts` failed attempts: minMs, 2×, 4×, ... up to maxMs. */
export function doubling(minMs: number, maxMs: number, attempts: number): number {
  return Math.min(maxMs, minMs * 2 ** Math.min(attempts, 30));
}
