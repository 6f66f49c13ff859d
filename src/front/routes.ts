import type { Backend } from './backend.ts';
import { hostName } from '../host-name.ts';
import type { RouteConfig } from './config.ts';
import type { RemoteDispatcher } from './dispatcher/remote-dispatcher.ts';
import type { Policy } from './policies/policy.ts';
import type { Stickiness } from './balance/sticky.ts';

/** A request waiting for LARD's admission bound (policies/lard-admission.ts). */
export interface Waiter {
  /** Its request (a reload moves it to the new route of the same name). */
  ctx: { route: RouteState; readonly aborted: boolean };
  resume: () => void;
  timer: NodeJS.Timeout;
}

/** One route of one configuration generation: its back-ends, policy and stickiness. */
export interface RouteState {
  cfg: RouteConfig;
  list: Backend[];
  byId: Map<string, Backend>;
  policy: Policy;
  /** Cookie stickiness (source_ip stickiness is the source_ip policy instead). */
  sticky: Stickiness | undefined;
  /** LARD decided in a dispatcher shared with other fronts (route.dispatcher). */
  remote: RemoteDispatcher | undefined;
  /** Requests waiting for LARD's admission bound, oldest first. */
  waiting: Waiter[];
  /** Requests whose shared decision has not come back yet (they count against the admission bound). */
  deciding: number;
  /** Set when a reload replaced this route: the route of the same name that took its waiters (null: none did). */
  successor?: RouteState | null;
}

/** The first route whose prefix starts the path and whose host (if it names one) is the request's. */
export function matchRoute(routes: RouteState[], target: string, hostHeader: string | undefined): RouteState | undefined {
  let host: string | undefined;
  // OPTIONS * (RFC 9112 §3.2.4) asks the server as a whole: the routes for '/'.
  const path = target === '*' ? '/' : target;
  for (const r of routes) {
    if (!path.startsWith(r.cfg.prefix)) continue;
    if (r.cfg.host !== undefined) {
      host ??= hostName(hostHeader);
      if (host !== r.cfg.host) continue;
    }
    return r;
  }
  return undefined;
}
