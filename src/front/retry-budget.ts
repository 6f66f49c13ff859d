/**
 * Retries may add at most `ratio` of recent requests, plus a floor per second, over a
 * 10-second window (Finagle's and Envoy's retry budgets): a failing cluster sees a
 * trickle of retries, not a multiple of its load.
 */
export class RetryBudget {
  private ratio: number;
  private minPerSecond: number;
  private readonly requests = new Array<number>(10).fill(0);
  private readonly retries = new Array<number>(10).fill(0);
  private second = 0;

  constructor(ratio: number, minPerSecond: number) {
    this.ratio = ratio;
    this.minPerSecond = minPerSecond;
  }

  configure(ratio: number, minPerSecond: number): void {
    this.ratio = ratio;
    this.minPerSecond = minPerSecond;
  }

  request(now: number): void {
    this.requests[this.slot(now)]++;
  }

  /** Takes one retry from the budget if there is one. */
  tryRetry(now: number): boolean {
    const slot = this.slot(now);
    const requests = this.requests.reduce((a, b) => a + b, 0);
    const retries = this.retries.reduce((a, b) => a + b, 0);
    if (retries >= this.minPerSecond * 10 + this.ratio * requests) return false;
    this.retries[slot]++;
    return true;
  }

  private slot(now: number): number {
    const second = Math.floor(now / 1000);
    if (second !== this.second) {
      // clear the slots of the seconds that passed since we last looked
      for (let s = Math.max(this.second + 1, second - 9); s <= second; s++) {
        this.requests[s % 10] = 0;
        this.retries[s % 10] = 0;
      }
      this.second = second;
    }
    return second % 10;
  }
}
