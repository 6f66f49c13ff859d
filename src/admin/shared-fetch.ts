/**
 * An async figure fetched at most once per `maxAgeMs`: callers meanwhile share the answer (or
 * the fetch in progress), so a burst of readers (a scrape storm) costs one fetch.
 */
export class SharedFetch<T> {
  private readonly maxAgeMs: number;
  private readonly fetch: () => Promise<T>;
  private last: { at: number; value: Promise<T> } | undefined;

  constructor(maxAgeMs: number, fetch: () => Promise<T>) {
    this.maxAgeMs = maxAgeMs;
    this.fetch = fetch;
  }

  get(now = Date.now()): Promise<T> {
    if (this.last && now - this.last.at < this.maxAgeMs) return this.last.value;
    const value = this.fetch();
    this.last = { at: now, value };
    // A failed fetch is not kept: the next reader tries again.
    value.catch(() => {
      if (this.last?.value === value) this.last = undefined;
    });
    return value;
  }
}
