import type { RequestContext } from '../context.ts';
import { connectionOptions, isFrontHeader, isHopByHop } from '../http/hop-by-hop.ts';

/**
 * The request head a back-end gets, for every request, upgrades included: the client's
 * fields less hop-by-hop ones (and those its Connection names, protected ones excepted),
 * less the front's own (X-Cohort-*) and the sticky cookie; X-Forwarded-For / -Proto / -Host
 * set by the front; the framing the front chose (Content-Length for a body held whole,
 * chunked for one still streaming); and Connection / Upgrade when an upgrade is asked for.
 */
export function upstreamRequestHead(ctx: RequestContext): string {
  const ex = ctx.ex;
  const raw = ex.rawHeaders;
  const lowerNames = ex.lowerNames;
  const options = connectionOptions(raw, lowerNames);
  let head = `${ctx.method} ${ctx.target} HTTP/1.1\r\n`;
  let forwardedFor = '';
  let host: string | undefined;
  let chunked = false;
  let cookieSent = false;
  for (let i = 0; i < raw.length; i += 2) {
    const lower = lowerNames[i >> 1];
    if (lower === 'host') host = raw[i + 1];
    else if (lower === 'transfer-encoding') chunked = true;
    if (isHopByHop(lower, options) || isFrontHeader(lower)) continue;
    if (lower === 'x-forwarded-for') {
      forwardedFor = forwardedFor ? `${forwardedFor}, ${raw[i + 1]}` : raw[i + 1];
      continue;
    }
    if (lower === 'x-forwarded-proto' || lower === 'x-forwarded-host') continue;
    if (lower === 'cookie' && ctx.cookieRest !== undefined) {
      // Every Cookie field was read as one, less the sticky cookie: it goes once, in one field.
      if (ctx.cookieRest && !cookieSent) head += `cookie: ${ctx.cookieRest}\r\n`;
      cookieSent = true;
      continue;
    }
    head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  head += `x-forwarded-for: ${forwardedFor ? `${forwardedFor}, ` : ''}${ctx.clientIp}\r\nx-forwarded-proto: ${ctx.secure ? 'https' : 'http'}\r\n`;
  if (host) head += `x-forwarded-host: ${host}\r\n`;
  // A body held whole goes with its length; one still streaming keeps chunked framing.
  if (chunked) head += ctx.streaming ? 'transfer-encoding: chunked\r\n' : `content-length: ${ctx.body?.length ?? 0}\r\n`;
  if (ctx.upgrade !== undefined) head += `connection: upgrade\r\nupgrade: ${ctx.upgrade}\r\n`;
  return `${head}\r\n`;
}
