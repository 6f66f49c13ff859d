/**
 * A Map that holds at most `limit` entries: setting a key makes it the newest, and past the
 * limit the oldest goes. For maps keyed by what clients control (session ids, tokens).
 */
export class RecentMap<K, V> extends Map<K, V> {
  private readonly limit: number;

  constructor(limit: number) {
    super();
    if (!(limit >= 0)) throw new RangeError(`a RecentMap's limit is a count, not ${limit}`);
    this.limit = limit;
  }

  override set(key: K, value: V): this {
    super.delete(key);
    super.set(key, value);
    while (this.size > this.limit) super.delete(this.keys().next().value as K);
    return this;
  }
}
