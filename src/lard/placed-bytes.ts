/**
 * The bytes of the targets LARD has placed on each server: what each back-end's cache must
 * hold to answer its targets from memory. A target counts at its size once a whole response
 * told it, and until then at the mean size of the targets already sized (0 before any is).
 */
export class PlacedBytes {
  private readonly perServer = new Map<string, number>();
  private sizedTargets = 0;
  private sizedBytes = 0;

  /** What a target of unknown size is counted at. */
  get estimate(): number {
    // Whole bytes: sums of integers add and take away exactly.
    return this.sizedTargets === 0 ? 0 : Math.round(this.sizedBytes / this.sizedTargets);
  }

  of(server: string): number {
    return this.perServer.get(server) ?? 0;
  }

  /** `bytes` more (or, negative, fewer) on `server`. */
  add(server: string, bytes: number): void {
    const total = this.of(server) + bytes;
    if (total <= 0) this.perServer.delete(server);
    else this.perServer.set(server, total);
  }

  /** A target's size became known (`before`: its earlier known size, if it had one). */
  learned(bytes: number, before?: number): void {
    if (before === undefined) this.sizedTargets++;
    this.sizedBytes += bytes - (before ?? 0);
  }

  /** A target of known size was forgotten. */
  unlearned(bytes: number): void {
    this.sizedTargets--;
    this.sizedBytes -= bytes;
  }

  /** Per server (the front's /status). */
  snapshot(): Record<string, number> {
    return Object.fromEntries(this.perServer);
  }
}
