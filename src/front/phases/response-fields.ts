import type { Logger } from 'pino';
import type { RequestContext } from '../context.ts';
import { sessionSeen } from '../balance/sticky.ts';
import { connectionOptions, isFrontHeader, isHopByHop } from '../http/hop-by-hop.ts';

/** An app response header that sets its back-end draining (seed 001's DYING); the front acts on it and drops it. */
const DRAIN_HEADER = 'x-cohort-drain';

/**
 * The response fields the client gets: the back-end's less hop-by-hop ones and the front's
 * own (X-Cohort-Drain is acted on here), plus the sticky cookie of a new session (with
 * Cache-Control: private) and, for the admin, the routing explanation.
 */
export function responseFields(ctx: RequestContext, log: Logger, headers: string[], lowerNames: string[]): string[] {
  const backend = ctx.backend!;
  const options = connectionOptions(headers, lowerNames);
  const out: string[] = [];
  let cacheControl = -1;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    const lower = lowerNames[i >> 1];
    if (isHopByHop(lower, options)) continue;
    if (isFrontHeader(lower)) {
      if (lower === DRAIN_HEADER && backend.admin !== 'draining') {
        log.info({ event: 'backend_draining', backend: backend.id, by: 'app header' }, `${backend.id} asked to drain`);
        // Every route's object for it: the app is dying whichever route's request it answered.
        for (const b of backend.sameId) {
          b.admin = 'draining';
          b.appDraining = true;
        }
      }
      continue;
    }
    if (lower === 'cache-control') cacheControl = out.length;
    out.push(name, headers[i + 1]);
  }
  ctx.route.sticky?.respond(ctx, backend, out, cacheControl);
  sessionSeen(ctx, backend);
  if (ctx.explain) out.push('x-cohort-route', JSON.stringify(ctx.explanation()));
  return out;
}
