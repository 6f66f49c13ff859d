import type { Backend } from './backend.ts';
import type { FrontConfig } from './config.ts';
import type { RouteState } from './routes.ts';

/** What one configuration generation gives the proxy; a reload swaps it whole. */
export interface FrontState {
  cfg: FrontConfig;
  /** In match order (routes.ts). */
  routes: RouteState[];
  /** Every route's back-ends, each id once (status, metrics, admin). */
  list: Backend[];
  byId: Map<string, Backend>;
  /**
   * Every back-end object (health checks, draining, closing): a back-end that routes check by
   * different health settings has one per such route, under the same id.
   */
  all: Backend[];
  /** front.admin.token: unlocks X-Cohort-Explain, and passes maintenance mode (X-Cohort-Admin). */
  adminToken: string | undefined;
}
