import type { Logger } from 'pino';
import type { FrontState } from './front-state.ts';
import type { ClientExchange } from './http/client-exchange.ts';
import { Intake, type MaintenanceView } from './phases/intake.ts';
import type { Pipeline } from './phases/pipeline.ts';
import { reject, Respond } from './phases/respond.ts';
import { Router } from './phases/route.ts';
import { Upstream } from './phases/upstream.ts';
import { Admission, admissionRoom } from './policies/lard-admission.ts';
import type { RequestObserver } from './request-observer.ts';
import type { RetryBudget } from './retry-budget.ts';
import type { Tunnel } from './tunnel.ts';

// The admin's metrics name the front's error reasons from here.
export { FRONT_ERROR_REASONS, type FrontErrorReason, type RequestObserver } from './request-observer.ts';

/**
 * The request path, in phases (see docs/front.md), each in phases/:
 *   intake (check, route match, sticky cookie, maintenance, body) → route (sticky, admission,
 *   hand-over, policy) → upstream (connect, send) → respond (head, body, end, log)
 * A failure before the first response byte loops back to route, without the back-ends
 * already tried, if the request may be replayed and the retry budget allows.
 */
export class Proxy implements Pipeline {
  state: FrontState;
  /** Where requests end, for /metrics (set by the front when it has an admin listener). */
  observer: RequestObserver | undefined;
  readonly budget: RetryBudget;
  readonly log: Logger;
  readonly debug: boolean;
  /** Switched connections (WebSockets) open now. */
  readonly tunnels = new Set<Tunnel>();
  /** Requests waiting for LARD's admission bound. */
  readonly admission: Admission;
  private readonly intake: Intake;

  constructor(state: FrontState, budget: RetryBudget, log: Logger) {
    this.state = state;
    this.budget = budget;
    this.log = log;
    this.debug = log.isLevelEnabled('debug');
    const respond = new Respond(this, (ctx) => router.route(ctx));
    const router: Router = new Router(this, new Upstream(respond), respond);
    this.intake = new Intake(this, router, respond);
    this.admission = new Admission({
      state: () => this.state,
      admit: (ctx) => {
        ctx.admitted = true;
        respond.guarded(ctx, () => router.route(ctx));
      },
      refuse: (ctx, reason, why) => respond.fail(ctx, 503, reason, why),
      room: (route) => {
        const now = Date.now();
        return admissionRoom(route, route.list.filter((b) => b.ready(now)));
      },
    });
  }

  /** Cluster-wide maintenance mode, when the front follows it. */
  set maintenance(view: MaintenanceView | undefined) {
    this.intake.maintenance = view;
  }

  /** Maintenance pages served. */
  get maintenancePages(): number {
    return this.intake.maintenancePages;
  }

  readonly handle = (ex: ClientExchange): void => {
    try {
      this.intake.accept(ex);
    } catch (err) {
      // A bug must cost one request, not the whole front.
      this.log.error({ event: 'proxy_bug', err: (err as Error).stack }, 'request failed inside the front');
      if (!ex.headersSent && !ex.finished) reject(ex, 500, 'internal error in the front');
      else ex.destroy();
    }
  };
}
