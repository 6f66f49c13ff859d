// The browser's half of a login hand-over: the app that sends her on sets a cookie with the
// nonce the login came with; the app that takes the hand-over up reads it back and hands it to
// its node with the token. Another browser sent to the same link has no such cookie (or
// another one), so it logs nobody in (login CSRF). Framework-free: a header in, a header out.
import { HANDOVER_PATH } from '../sessions/handovers.ts';

/** The nonce cookie's name. */
export const HANDOVER_COOKIE = 'cohort_handover_nonce';

/**
 * The Set-Cookie value for the redirect that starts a hand-over: HttpOnly (no script reads it),
 * SameSite=Lax (sent on her top-level navigation to the link, not on other sites' requests),
 * only on the take-up path, and gone when the token is (`ttlS`). `secure` when served over HTTPS.
 */
export function handoverCookie(nonce: string, ttlS: number, secure = false): string {
  return `${HANDOVER_COOKIE}=${nonce}; Path=${HANDOVER_PATH}; Max-Age=${ttlS}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
}

/** The Set-Cookie value that removes it once the hand-over is taken up (or refused). */
export function clearedHandoverCookie(secure = false): string {
  return `${HANDOVER_COOKIE}=; Path=${HANDOVER_PATH}; Max-Age=0; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
}

/** The nonce in a request's Cookie header ('' when there is none). */
export function handoverNonceOf(cookieHeader: string | undefined): string {
  if (!cookieHeader) return '';
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === HANDOVER_COOKIE) return part.slice(eq + 1).trim();
  }
  return '';
}
