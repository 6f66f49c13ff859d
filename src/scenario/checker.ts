import { isDeepStrictEqual } from 'node:util';
import { delay } from './demo-run.ts';

/** A step's outcome was not what it should be: the message says what was seen. */
export class StepFailure extends Error {}

/**
 * How a step checks its outcomes. Every check compares what was seen with what was expected;
 * `wrong` (`cohort scenario --expect-wrong STEP`) swaps each expected value for a deliberately
 * wrong one, so a run shows what a failing step looks like and that the check can fail.
 */
export class Checker {
  readonly wrong: boolean;

  constructor(wrong = false) {
    this.wrong = wrong;
  }

  equal<T>(what: string, actual: T, expected: T): void {
    const want = this.expected(expected);
    if (!isDeepStrictEqual(actual, want)) throw new StepFailure(`${what}: expected ${show(want)}, saw ${show(actual)}`);
  }

  /** Polls `read` until it gives `expected` (a step that waits for the cluster), else fails with the last value seen. */
  async until<T>(what: string, read: () => Promise<T>, expected: T, timeoutMs = 20_000): Promise<number> {
    const want = this.expected(expected);
    const started = Date.now();
    let last: unknown = '(nothing yet)';
    for (;;) {
      try {
        last = await read();
        if (isDeepStrictEqual(last, want)) return Date.now() - started;
      } catch (err) {
        last = `error: ${(err as Error).message}`;
      }
      if (Date.now() - started > timeoutMs) throw new StepFailure(`${what}: expected ${show(want)} within ${timeoutMs / 1000} s, last saw ${show(last)}`);
      await delay(100);
    }
  }

  private expected<T>(value: T): T {
    return this.wrong ? deliberatelyWrong(value) : value;
  }
}

function deliberatelyWrong<T>(value: T): T {
  if (typeof value === 'number') return (value + 1) as T;
  if (typeof value === 'boolean') return !value as T;
  if (typeof value === 'string') return `${value} (deliberately wrong)` as T;
  if (Array.isArray(value)) return [...value, '(deliberately wrong)'] as T;
  if (value === null || value === undefined) return 'something (deliberately wrong)' as T;
  return { ...value, deliberatelyWrong: true } as T;
}

function show(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}
