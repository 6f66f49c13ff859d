import { isDeepStrictEqual } from 'node:util';
import { setTimeout as delay } from 'node:timers/promises';

/** A step's outcome was not what it should be: the message says what was seen. */
export class StepFailure extends Error {}

/** How a step checks its outcomes: what was seen against what was expected, at once or by polling. */
export class Checker {
  equal<T>(what: string, actual: T, expected: T): void {
    if (!isDeepStrictEqual(actual, expected)) throw new StepFailure(`${what}: expected ${show(expected)}, saw ${show(actual)}`);
  }

  /** Polls `read` until it gives `expected` (a step that waits for the cluster), else fails with the last value seen. */
  async until<T>(what: string, read: () => Promise<T>, expected: T, timeoutMs = 20_000): Promise<number> {
    const started = Date.now();
    let last: unknown = '(nothing yet)';
    for (;;) {
      try {
        last = await read();
        if (isDeepStrictEqual(last, expected)) return Date.now() - started;
      } catch (err) {
        last = `error: ${(err as Error).message}`;
      }
      if (Date.now() - started > timeoutMs) throw new StepFailure(`${what}: expected ${show(expected)} within ${timeoutMs / 1000} s, last saw ${show(last)}`);
      await delay(100);
    }
  }
}

function show(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}
