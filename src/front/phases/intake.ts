import { handoverNodeOf } from '../balance/handover.ts';
import type { ClientExchange } from '../http/client-exchange.ts';
import { checkRequest } from '../http/request-checks.ts';
import { MAINTENANCE_STATUS, MaintenancePages } from '../maintenance-page.ts';
import { hostName } from '../../host-name.ts';
import { matchRoute } from '../routes.ts';
import { secretMatches } from '../../secret.ts';
import type { Pipeline } from './pipeline.ts';
import { ProxiedRequest, reject, type Respond } from './respond.ts';
import type { Router } from './route.ts';

/** A held request body with no new byte for this long goes to a back-end as it is (the rest streams). */
const BODY_HOLD_MS = 250;
/** Methods a retry may repeat (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
/** A request header with the admin token: the response explains the routing (X-Cohort-Route). */
const EXPLAIN_HEADER = 'x-cohort-explain';
/** A request header with the admin token: passes maintenance mode (an operator checks the site). */
const ADMIN_HEADER = 'x-cohort-admin';

/** What the proxy needs of maintenance mode: whether it is on, and the page's message. */
export interface MaintenanceView {
  readonly state: { on: boolean; message: string };
}

/**
 * The intake phase: what llhttp lets through but a proxy must refuse, the route, the request's
 * context (its sticky cookie, a hand-over hint), maintenance mode, and the body held for replay
 * (or streamed); then the route phase.
 */
export class Intake {
  private readonly p: Pipeline;
  private readonly router: Router;
  private readonly respond: Respond;
  /** Cluster-wide maintenance mode, when the front follows it. */
  maintenance: MaintenanceView | undefined;
  /** Maintenance pages served. */
  maintenancePages = 0;
  /** The page for the current message, built once (a flood of new visitors during maintenance costs no rendering). */
  private readonly maintenancePage = new MaintenancePages();

  constructor(p: Pipeline, router: Router, respond: Respond) {
    this.p = p;
    this.router = router;
    this.respond = respond;
  }

  accept(ex: ClientExchange): void {
    // check: what llhttp lets through but a proxy must refuse
    const state = this.p.state;
    const checked = checkRequest(ex, state.cfg.upgrades);
    if ('error' in checked) return reject(ex, checked.status, checked.error, checked.headers);
    if (checked.closeAfter) ex.closeConnection();
    // Strict SNI binds a connection to the name its handshake asked for: no other site through it (domain fronting).
    if (ex.secure && state.cfg.listen.tls?.strictSni) {
      const bound = hostName(ex.serverName);
      if (hostName(ex.header('host')) !== bound) return reject(ex, 421, `Misdirected Request: this connection is for ${bound.slice(0, 253)}`);
    }
    const method = ex.method;
    // Idempotency-Key makes a request replayable only where the app is known to honour it.
    const replayable = IDEMPOTENT.has(method) || (state.cfg.retries.idempotencyKey && ex.header('idempotency-key') !== undefined);
    const route = matchRoute(state.routes, checked.target, ex.header('host'));
    if (!route) return reject(ex, 404, 'no route for this path');
    const ctx = new ProxiedRequest(this.respond, ex, checked.target, checked.upgrade, replayable);
    ctx.route = route;
    this.p.budget.request(ctx.start);
    ex.onAbort = () => this.respond.clientClosed(ctx);
    if (state.adminToken !== undefined && secretMatches(ex.header(EXPLAIN_HEADER), state.adminToken)) ctx.explain = true;

    // sticky: a valid cookie names a usable back-end (a draining one still serves its sessions)
    route.sticky?.read(ctx, ex, route.byId);
    ctx.handoverNode = handoverNodeOf(checked.target);

    // maintenance: only existing sessions (a cookie naming a usable back-end) and the admin pass
    const maintenance = this.maintenance?.state;
    if (maintenance?.on && !ctx.stickyBackend && !(state.adminToken !== undefined && secretMatches(ex.header(ADMIN_HEADER), state.adminToken))) {
      this.maintenancePages++;
      // The body is not read: the connection cannot carry another request after it.
      if (ex.hasBody) ex.closeConnection();
      const page = this.maintenancePage.get(maintenance.message, state.cfg.maintenance.retryAfterS);
      return ex.respond(MAINTENANCE_STATUS, 'Service Unavailable', page.headers, page.body);
    }

    // body: held whole up to a limit while it keeps coming (so it can be replayed, and so a
    // malformed body is refused before any back-end sees the request), streamed beyond it.
    // A body that stops coming for BODY_HOLD_MS goes on as it is: the back-end may answer or
    // refuse it early (RFC 9110 §10.1.1), as through HAProxy, instead of the client waiting.
    const router = this.router;
    if (!ex.hasBody) return router.route(ctx);
    // A client that waits for 100 Continue gets it now: the front takes the body itself.
    if (ex.header('expect')?.toLowerCase() === '100-continue') ex.writeContinue();
    const limit = state.cfg.limits.replayBodyBytes;
    const parts: Buffer[] = [];
    let held = 0;
    const stream = () => {
      clearTimeout(stalled);
      // What comes next waits in the exchange until the back-end is connected.
      ex.holdBody();
      ex.pause();
      ctx.body = Buffer.concat(parts);
      ctx.streaming = true;
      router.route(ctx);
    };
    const stalled = setTimeout(stream, BODY_HOLD_MS);
    const onChunk = (chunk: Buffer) => {
      parts.push(chunk);
      held += chunk.length;
      if (held > limit) return stream(); // too large to hold
      stalled.refresh();
    };
    ex.readBody(onChunk, () => {
      clearTimeout(stalled);
      ctx.body = Buffer.concat(parts);
      router.route(ctx);
    });
  }
}
