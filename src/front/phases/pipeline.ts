import type { Logger } from 'pino';
import type { FrontState } from '../front-state.ts';
import type { Admission } from '../policies/lard-admission.ts';
import type { RequestObserver } from '../request-observer.ts';
import type { RetryBudget } from '../retry-budget.ts';
import type { Tunnel } from '../tunnel.ts';

/** What the phases of the request path share (proxy.ts holds it): one per front, never per request. */
export interface Pipeline {
  /** The current configuration generation (a reload swaps it). */
  readonly state: FrontState;
  readonly log: Logger;
  /** Debug logging is on: reasons are worked out for every request. */
  readonly debug: boolean;
  readonly budget: RetryBudget;
  /** Where requests end, for /metrics (none without an admin listener). */
  readonly observer: RequestObserver | undefined;
  /** Switched connections (WebSockets) open now. */
  readonly tunnels: Set<Tunnel>;
  /** Requests waiting for LARD's admission bound. */
  readonly admission: Admission;
}
