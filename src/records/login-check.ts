import { CohortError } from '../errors.ts';
import { dummyHash, verifyPassword } from './password.ts';
import type { FailureLimiter } from './rate-limit.ts';

/**
 * One login check, the same at a user's home and at its backup (issue 27): counted before the
 * check is awaited (in the same synchronous step as the limit check, so concurrent guesses
 * cannot all pass the limit while the first are hashing); a name nobody holds costs the same
 * check and fails the same way. Throws rate_limited, or refused ('bad user name or password')
 * after calling onFailed (the caller logs it).
 */
export async function checkLogin(passwordHash: string | undefined, limiter: FailureLimiter, a: { domain: string; user: string; password: string }, onFailed: () => void): Promise<void> {
  const reservation = limiter.reserve(`${a.domain}/${a.user}`);
  if (!reservation.ok) throw new CohortError('rate_limited', `too many failed logins; try again in ${Math.ceil(reservation.retryAfterMs / 1000)} s`);
  let ok = false;
  try {
    ok = (await verifyPassword(a.password, passwordHash ?? (await dummyHash()))) && passwordHash !== undefined;
  } finally {
    if (ok) reservation.attempt.succeed();
    else reservation.attempt.fail();
  }
  if (!ok) {
    onFailed();
    throw new CohortError('refused', 'bad user name or password');
  }
}
