import type { IncomingMessage } from 'node:http';
import { secretMatches } from '../secret.ts';

/** The dashboard's paths: a browser's EventSource cannot send a header, so these also take ?token=. */
const DASHBOARD_PATHS = new Set(['/dashboard', '/dashboard/events']);

/**
 * Whether a request shows the admin token: `Authorization: Bearer <token>` (RFC 6750), or on
 * the dashboard's paths without that header, `?token=<token>`. Compared in constant time.
 */
export function showsAdminToken(req: IncomingMessage, token: string): boolean {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const given = DASHBOARD_PATHS.has(path) && req.headers.authorization === undefined ? `Bearer ${new URLSearchParams(q < 0 ? '' : url.slice(q + 1)).get('token') ?? ''}` : req.headers.authorization;
  return secretMatches(given, `Bearer ${token}`);
}

export function isDashboardPath(path: string): boolean {
  return DASHBOARD_PATHS.has(path);
}
