import type { Backend } from './backend.ts';
import type { FrontConfig } from './config.ts';
import type { RouteState } from './routes.ts';

/** What one configuration generation gives the proxy; a reload swaps it whole. */
export interface FrontState {
  cfg: FrontConfig;
  /** In match order (routes.ts). */
  routes: RouteState[];
  /** Every route's back-ends, each once (health checks, status, admin). */
  list: Backend[];
  byId: Map<string, Backend>;
  /** front.admin.token: unlocks X-Cohort-Explain, and passes maintenance mode (X-Cohort-Admin). */
  adminToken: string | undefined;
}
