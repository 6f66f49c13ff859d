import type { Backend } from './backend.ts';
import type { FrontConfig, RouteConfig } from './config.ts';
import type { RemoteDispatcher } from './dispatcher/remote-dispatcher.ts';
import type { Policy } from './policies/policy.ts';
import type { RequestContext } from './context.ts';
import type { StickyTokens } from './sticky.ts';

/** A policy that bounds the requests in flight over its back-ends (LARD's admission control). */
export interface AdmittingPolicy extends Policy {
  admissionLimit(backends: Backend[]): number;
}

/** One route of one configuration generation: its back-ends, policy and stickiness. */
export interface RouteState {
  cfg: RouteConfig;
  /** The front's settings with this route's own: what its back-ends are configured with. */
  frontCfg: FrontConfig;
  list: Backend[];
  byId: Map<string, Backend>;
  policy: Policy;
  sticky: StickyTokens | undefined;
  /** LARD decided in a dispatcher shared with other fronts (route.dispatcher). */
  remote: RemoteDispatcher | undefined;
  /** Requests waiting for LARD's admission bound, oldest first. */
  waiting: { ctx: RequestContext; resume: () => void; timer: NodeJS.Timeout }[];
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

/** The host of a Host field, lower case, without port or trailing dot. */
function hostName(field: string | undefined): string {
  if (!field) return '';
  const h = field.startsWith('[') ? field.slice(0, field.indexOf(']') + 1) : field.split(':')[0];
  return h.toLowerCase().replace(/\.$/, '');
}

export function admits(policy: Policy): policy is AdmittingPolicy {
  return typeof (policy as Partial<AdmittingPolicy>).admissionLimit === 'function';
}

/**
 * How many more requests LARD's admission bound lets in on the route now, to these candidates
 * (Infinity: no bound: a policy without one, or one candidate or none, as the paper's S is for n ≥ 2).
 */
export function admissionRoom(route: RouteState, candidates: Backend[]): number {
  if (candidates.length <= 1 || !admits(route.policy)) return Infinity;
  // Requests in flight on its back-ends, and those whose shared decision is on its way.
  let inFlight = route.deciding;
  for (const b of route.list) inFlight += b.active;
  return route.policy.admissionLimit(candidates) - inFlight;
}
