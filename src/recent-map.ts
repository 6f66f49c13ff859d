/**
 * A Map that holds at most `limit` entries: setting a key makes it the newest, and past the
 * limit the oldest goes. For maps keyed by what clients control (session ids, tokens).
 * Iteration is oldest first, so expiry can walk only the expired head.
 */
export class RecentMap<K, V> extends Map<K, V> {
  private limit: number;
  /** Told of each entry that went because of the limit (its owner may have counted it elsewhere). */
  private readonly onEvict: ((key: K, value: V) => void) | undefined;
  /** Entries that went because of the limit (not by delete). */
  evicted = 0;

  constructor(limit: number, onEvict?: (key: K, value: V) => void) {
    super();
    this.limit = checkLimit(limit);
    this.onEvict = onEvict;
  }

  /** A new limit (a reload); past it the oldest go at once. */
  resize(limit: number): void {
    this.limit = checkLimit(limit);
    this.evictPastLimit();
  }

  override set(key: K, value: V): this {
    super.delete(key);
    super.set(key, value);
    this.evictPastLimit();
    return this;
  }

  private evictPastLimit(): void {
    while (this.size > this.limit) {
      const [key, value] = this.entries().next().value as [K, V];
      super.delete(key);
      this.evicted++;
      this.onEvict?.(key, value);
    }
  }
}

function checkLimit(limit: number): number {
  if (!(limit >= 0)) throw new RangeError(`a RecentMap's limit is a count, not ${limit}`);
  return limit;
}
