// The tests' one cookie jar: the scenario's Browser (src/scenario/browser.ts) keeps each answer's
// Set-Cookie by name and sends them all back, as a browser does. For a node:http reply,
// cookieFrom takes the one cookie a test sends back by hand.
import { Browser as Jar } from '../../src/scenario/browser.ts';
import type { Reply } from './http-client.ts';

export { Jar };

/** One request with the jar's cookies (redirects not followed); the jar takes the answer's. */
export const browse = (jar: Jar, url: string, init: RequestInit = {}) => jar.send(url, init);

/** The value to send back in a Cookie header, from a response's Set-Cookie. */
export function cookieFrom(reply: Reply, name: string): string | undefined {
  for (const c of reply.headers['set-cookie'] ?? []) {
    const [pair] = c.split(';');
    if (pair.startsWith(`${name}=`)) return pair;
  }
  return undefined;
}
