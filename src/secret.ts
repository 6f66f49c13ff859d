import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Compares a secret a client sent with the configured one in constant time: both are hashed
 * first, so neither the content nor the length of the secret leaks through timing.
 */
export function secretMatches(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  return timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(expected).digest());
}
