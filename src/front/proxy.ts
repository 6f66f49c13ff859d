import { STATUS_CODES } from 'node:http';
import type { Logger } from 'pino';
import { Admission } from './admission.ts';
import type { Backend } from './backend.ts';
import type { FrontConfig } from './config.ts';
import { RequestContext, type ResponsePhases } from './context.ts';
import type { ClientExchange } from './http/client-exchange.ts';
import { checkRequest } from './http/request-checks.ts';
import type { Switch } from './http/response-parser.ts';
import { checkSwitch } from './http/switch-checks.ts';
import type { PickContext } from './policies/policy.ts';
import type { RetryBudget } from './retry-budget.ts';
import { secretMatches } from './secret.ts';
import { HANDOVER_PATH, HANDOVER_TOKEN_PATTERN, redactHandover } from '../sessions/handovers.ts';
import { MAINTENANCE_STATUS, MaintenancePages } from './maintenance-page.ts';
import { admissionRoom, matchRoute, type RouteState } from './routes.ts';
import { stickyOf } from './sticky.ts';
import { responseFields } from './response-fields.ts';
import { Tunnel } from './tunnel.ts';
import type { UpstreamConnection } from './upstream/connection.ts';
import { upstreamRequestHead } from './upstream/request-head.ts';
import { UpstreamError } from './upstream/upstream-error.ts';

/** A held request body with no new byte for this long goes to a back-end as it is (the rest streams). */
const BODY_HOLD_MS = 250;
/** Methods a retry may repeat (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

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

/** What the proxy needs of maintenance mode: whether it is on, and the page's message. */
export interface MaintenanceView {
  readonly state: { on: boolean; message: string };
}

/** A request header with the admin token: the response explains the routing (X-Cohort-Route). */
const EXPLAIN_HEADER = 'x-cohort-explain';
/** A login handed over to another node (load-aware login), on its landing path only: a hint to route to that node's app. */
const HANDOVER_LANDING = `${HANDOVER_PATH}?`;
const HANDOVER = new RegExp(`[?&]cohort_handover=${HANDOVER_TOKEN_PATTERN}(?:&|#|$)`);
/** A request header with the admin token: passes maintenance mode (an operator checks the site). */
const ADMIN_HEADER = 'x-cohort-admin';

/** Why the front itself answered a request with an error (a fixed set: a bounded metrics label). */
export const FRONT_ERROR_REASONS = ['no_backend', 'admission_full', 'admission_timeout', 'dispatcher', 'upstream_error', 'upstream_timeout', 'bad_response'] as const;
export type FrontErrorReason = (typeof FRONT_ERROR_REASONS)[number];

/** Told where each request ends (the front's metrics); nothing is told when there is none. */
export interface RequestObserver {
  /** A back-end answered (`status`); `ms` since the front accepted the request. `backend` is its series label. */
  answered(route: string, backend: string, status: number, ms: number): void;
  /** The front answered with an error of its own. */
  failed(route: string, reason: FrontErrorReason): void;
}

/**
 * The request path, in phases (see docs/front.md):
 *   check → context → sticky → pick → connect → send → response head → body → end → log
 * A failure before the first response byte loops back to pick, without the back-ends
 * already tried, if the request may be replayed and the retry budget allows.
 */
export class Proxy implements ResponsePhases {
  state: FrontState;
  /** Where requests end, for /metrics (set by the front when it has an admin listener). */
  observer: RequestObserver | undefined;
  private readonly budget: RetryBudget;
  private readonly log: Logger;
  private readonly debug: boolean;
  /** Switched connections (WebSockets) open now. */
  readonly tunnels = new Set<Tunnel>();
  /** Cluster-wide maintenance mode, when the front follows it. */
  maintenance: MaintenanceView | undefined;
  /** Maintenance pages served. */
  maintenancePages = 0;
  /** The page for the current message, built once (a flood of new visitors during maintenance costs no rendering). */
  private readonly maintenancePage = new MaintenancePages();
  /** Requests waiting for LARD's admission bound. */
  readonly admission = new Admission({
    state: () => this.state,
    admit: (ctx) => {
      ctx.admitted = true;
      this.guarded(ctx, () => this.route(ctx));
    },
    refuse: (ctx, reason, why) => this.fail(ctx, 503, reason, why),
    room: (route) => {
      const now = Date.now();
      return admissionRoom(route, route.list.filter((b) => b.ready(now)));
    },
  });

  constructor(state: FrontState, budget: RetryBudget, log: Logger) {
    this.state = state;
    this.budget = budget;
    this.log = log;
    this.debug = log.isLevelEnabled('debug');
  }

  readonly handle = (ex: ClientExchange): void => {
    try {
      this.accept(ex);
    } catch (err) {
      // A bug must cost one request, not the whole front.
      this.log.error({ event: 'proxy_bug', err: (err as Error).stack }, 'request failed inside the front');
      if (!ex.headersSent && !ex.finished) reject(ex, 500, 'internal error in the front');
      else ex.destroy();
    }
  };

  private accept(ex: ClientExchange): void {
    // check: what llhttp lets through but a proxy must refuse
    const state = this.state;
    const checked = checkRequest(ex, state.cfg.upgrades);
    if ('error' in checked) return reject(ex, checked.status, checked.error, checked.headers);
    if (checked.closeAfter) ex.connection.closing = true;
    const method = ex.method;
    // Idempotency-Key makes a request replayable only where the app is known to honour it.
    const replayable = IDEMPOTENT.has(method) || (state.cfg.retries.idempotencyKey && ex.header('idempotency-key') !== undefined);
    const route = matchRoute(state.routes, checked.target, ex.header('host'));
    if (!route) return reject(ex, 404, 'no route for this path');
    const ctx = new RequestContext(this, ex, checked.target, checked.upgrade, replayable);
    ctx.route = route;
    this.budget.request(ctx.start);
    ex.onAbort = () => this.clientClosed(ctx);
    if (state.adminToken !== undefined && secretMatches(ex.header(EXPLAIN_HEADER), state.adminToken)) ctx.explain = true;

    // sticky: a valid cookie names a usable back-end (a draining one still serves its sessions)
    if (route.sticky) {
      // Cookie may come split over several fields (RFC 9113 §8.2.3 gateways): read them as one.
      const cookies = ex.values('cookie');
      const sticky = stickyOf(route.sticky, route.cfg.sticky.cookie, route.byId, cookies.length > 1 ? cookies.join('; ') : cookies[0], ctx.start);
      if (sticky) {
        ctx.cookieRest = sticky.rest;
        ctx.stickyBackend = sticky.backend;
        ctx.stickyToken = sticky.token;
        ctx.stickyIssued = sticky.issuedMs;
        ctx.setSticky = sticky.renew;
      }
    }

    // Only the landing path's token is a hint (elsewhere anyone could pin routing): a plain test first, the pattern only then.
    if (checked.target.startsWith(HANDOVER_LANDING)) ctx.handoverNode = HANDOVER.exec(checked.target)?.[1];

    // maintenance: only existing sessions (a cookie naming a usable back-end) and the admin pass
    const maintenance = this.maintenance?.state;
    if (maintenance?.on && !ctx.stickyBackend && !(state.adminToken !== undefined && secretMatches(ex.header(ADMIN_HEADER), state.adminToken))) {
      this.maintenancePages++;
      // The body is not read: the connection cannot carry another request after it.
      if (ex.hasBody) ex.connection.closing = true;
      const page = this.maintenancePage.get(maintenance.message, state.cfg.maintenance.retryAfterS);
      return ex.respond(MAINTENANCE_STATUS, 'Service Unavailable', page.headers, page.body);
    }

    // body: held whole up to a limit while it keeps coming (so it can be replayed, and so a
    // malformed body is refused before any back-end sees the request), streamed beyond it.
    // A body that stops coming for BODY_HOLD_MS goes on as it is: the back-end may answer or
    // refuse it early (RFC 9110 §10.1.1), as through HAProxy, instead of the client waiting.
    if (!ex.hasBody) return this.route(ctx);
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
      this.route(ctx);
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
      this.route(ctx);
    });
  }


  /** pick: sticky back-end first, else the policy among ready back-ends not yet tried. */
  private route(ctx: RequestContext): void {
    if (ctx.aborted) return;
    const route = ctx.route;
    const now = Date.now();
    let backend: Backend | undefined;
    const sticky = ctx.stickyBackend;
    const handover = ctx.handoverNode;
    ctx.sharedPick = undefined;
    // A hand-over's landing goes where the login was handed, not where the cookie points.
    if (sticky && handover === undefined && !ctx.tried.includes(sticky) && sticky.usable(now)) {
      backend = sticky;
      ctx.reason = 'sticky cookie';
    } else {
      const candidates: Backend[] = [];
      for (const b of route.list) if (b.ready(now) && !ctx.tried.includes(b)) candidates.push(b);
      if (ctx.explain || this.debug) ctx.candidates = candidates.map((b) => b.id);
      // LARD's admission bound: past it, a request waits in the front for one to finish.
      if (!ctx.admitted && admissionRoom(route, candidates) <= 0) return this.admission.wait(ctx);
      // A login handed over to a node lands on its app (a new session there, with its cookie),
      // among the ready candidates and within the admission bound like any request: the one with
      // fewest requests in flight (the route's policy keeps its memory for its own picks).
      const onHandoverNode = handover === undefined ? undefined : candidates.filter((b) => b.node === handover);
      if (onHandoverNode?.length) {
        backend = onHandoverNode.reduce((a, b) => (b.active < a.active ? b : a));
        ctx.reason = `login handed over to ${handover}`;
        if (route.sticky) ctx.setSticky = true;
        return this.send(ctx, backend);
      }
      if (route.remote && candidates.length) {
        route.deciding++;
        route.remote.decide(ctx.target, candidates).then((d) => {
          route.deciding--;
          if (ctx.explain || this.debug) ctx.reason = `policy ${route.policy.name}: ${d.why}`;
          ctx.sharedPick = d.shared ? d.front : undefined;
          if (d.backend && route.sticky) ctx.setSticky = true;
          if (ctx.aborted) {
            if (d.shared && d.backend) route.remote!.completed(d.backend.id, d.front);
            this.admission.next(route);
            return;
          }
          this.guarded(ctx, () => this.send(ctx, d.backend));
        }, (err: unknown) => {
          route.deciding--;
          this.guarded(ctx, () => this.fail(ctx, 500, 'dispatcher', `dispatcher: ${(err as Error).message}`));
        });
        return;
      }
      const explain = ctx.explain || this.debug;
      const pick: PickContext = { target: ctx.target, clientIp: ctx.clientIp, now, explain };
      backend = route.policy.pick(candidates, pick);
      if (explain) ctx.reason = pick.why ? `policy ${route.policy.name}: ${pick.why}` : `policy ${route.policy.name}`;
      if (backend && route.sticky) ctx.setSticky = true; // a new session, or its server went away
    }
    this.send(ctx, backend);
  }

  /** Work that runs outside accept()'s guard (a decision that arrives later, a waiter let in): a bug costs the request, not the front. */
  private guarded(ctx: RequestContext, work: () => void): void {
    try {
      work();
    } catch (err) {
      this.log.error({ event: 'proxy_bug', err: (err as Error).stack }, 'request failed inside the front');
      if (!ctx.ex.headersSent && !ctx.ex.finished) reject(ctx.ex, 500, 'internal error in the front');
      else ctx.ex.destroy();
    }
  }

  /** connect: the chosen back-end (or 503 when there is none). */
  private send(ctx: RequestContext, backend: Backend | undefined): void {
    if (!backend) {
      const why = ctx.tried.length ? `no other back-end after ${ctx.tried.map((b) => b.id).join(', ')} failed` : 'no back-end is ready';
      return this.fail(ctx, 503, 'no_backend', why);
    }
    ctx.backend = backend;
    ctx.holding = true;
    backend.active++;
    backend.requests++;
    backend.pool.acquire((err, conn) => this.connected(ctx, backend, err, conn));
  }

  /** connect → send: the request head, then the body (whole, or streamed). */
  private connected(ctx: RequestContext, backend: Backend, err: Error | null, conn?: UpstreamConnection): void {
    if (err || !conn) {
      const code = err instanceof UpstreamError ? err.code : 'error';
      if (code === 'connect_failed' || code === 'connect_timeout') backend.unreachable(err!.message);
      return this.upstreamError(ctx, err ?? new Error('no connection'), false);
    }
    if (ctx.aborted) {
      conn.release();
      return this.done(ctx, 'abandoned', 'client left while queued');
    }
    ctx.conn = conn;
    if (ctx.streaming) {
      conn.send(upstreamRequestHead(ctx), null, ctx, true);
      this.streamBody(ctx, conn);
    } else {
      conn.send(upstreamRequestHead(ctx), ctx.body, ctx);
    }
  }

  /** Sends the held part of a large body, then the rest as it arrives (re-chunked if it came chunked). */
  private streamBody(ctx: RequestContext, conn: UpstreamConnection): void {
    const ex = ctx.ex;
    const chunked = ex.header('transfer-encoding') !== undefined;
    const write = (chunk: Buffer) => {
      // The back-end answered (or closed) before the whole body came: the rest is dropped as it
      // arrives, and the client's connection closes after its answer (client-exchange.ts).
      if (chunk.length === 0 || conn.closed) return;
      ctx.bodySent = true;
      // All three pieces of a chunk go out; only then does back-pressure count (a `&&` chain
      // would drop the data after a size line that filled the socket's buffer).
      if (chunked) conn.writeBody(`${chunk.length.toString(16)}\r\n`);
      let ok = conn.writeBody(chunk);
      if (chunked) ok = conn.writeBody('\r\n');
      if (!ok) {
        ex.pause();
        conn.socket.once('drain', () => ex.resume());
      }
    };
    // A retry (nothing of the body had gone out) has no held part left.
    if (ctx.body) write(ctx.body);
    ctx.body = null;
    ex.readBody(write, () => conn.endBody(chunked ? '0\r\n\r\n' : undefined));
    ex.resume();
  }

  upstreamHead(ctx: RequestContext, status: number, reason: string, headers: string[], lowerNames: string[], closeAfter: boolean): void {
    ctx.status = status;
    // An HTTP/1.0 response with Transfer-Encoding has faulty framing: the client's connection closes after it.
    if (closeAfter) ctx.ex.connection.closing = true;
    try {
      ctx.ex.writeHead(status, reason, responseFields(ctx, this.log, headers, lowerNames));
    } catch (err) {
      // The writer refuses a header name or value that is not valid HTTP: the back-end is at fault.
      this.refuseResponse(ctx, `invalid response head: ${(err as Error).message}`);
    }
  }

  /**
   * The back-end answered an upgrade request with 101: checked (it must switch to a protocol
   * the request offered, and answer a WebSocket key), then the client gets the 101 and both
   * connections become one tunnel. The back-end stays busy with it until it closes.
   */
  upstreamSwitch(ctx: RequestContext, conn: UpstreamConnection, response: Switch): void {
    if (ctx.aborted) {
      conn.destroy();
      return this.done(ctx, 'abandoned', 'client left before the switch');
    }
    ctx.conn = conn;
    const checked = checkSwitch(ctx.upgrade!, ctx.ex.header('sec-websocket-key'), response.headers, response.lowerNames);
    if ('fault' in checked) return this.refuseResponse(ctx, checked.fault);
    ctx.status = 101;
    try {
      ctx.ex.writeHead(101, response.reason, [...responseFields(ctx, this.log, response.headers, response.lowerNames), 'connection', 'upgrade', 'upgrade', checked.protocol]);
    } catch (err) {
      return this.refuseResponse(ctx, `invalid response head: ${(err as Error).message}`);
    }
    ctx.conn = undefined;
    const { socket, rest } = ctx.ex.switchProtocols();
    const backend = ctx.backend!;
    const token = ctx.stickyToken;
    if (token) backend.sessions.tunnelOpened(token);
    const tunnel = new Tunnel(socket, rest, conn, response.rest, this.state.cfg.timeouts.tunnelIdleMs, () => {
      this.tunnels.delete(tunnel);
      if (token) backend.sessions.tunnelClosed(token, Date.now());
      this.done(ctx, 'ok', 'tunnel closed');
    });
    this.tunnels.add(tunnel);
  }

  /** A response the client must not get: the upstream connection goes, the client hears 502. */
  private refuseResponse(ctx: RequestContext, why: string): void {
    const conn = ctx.conn;
    ctx.conn = undefined;
    conn?.destroy();
    ctx.status = 0; // the client never sees that answer: it counts as the front's error, not as the back-end's
    this.done(ctx, 'failed', why);
    this.fail(ctx, 502, 'bad_response', `${ctx.backend!.id}: ${why}`);
  }

  upstreamBody(ctx: RequestContext, chunk: Buffer): void {
    if (!ctx.ex.write(chunk)) {
      const socket = ctx.conn!.socket;
      socket.pause();
      ctx.ex.onDrain(() => socket.resume());
    }
  }

  upstreamEnd(ctx: RequestContext): void {
    ctx.ex.end();
    this.done(ctx, ctx.status < 500 ? 'ok' : 'failed', `status ${ctx.status}`);
  }

  upstreamError(ctx: RequestContext, err: Error, started: boolean): void {
    const backend = ctx.backend!;
    ctx.conn = undefined;
    // A client that went away is not the back-end's fault.
    this.done(ctx, ctx.aborted ? 'abandoned' : 'failed', err.message);
    // Nothing more to tell a client that left, or that already has its whole answer.
    if (ctx.aborted || ctx.ex.finished) return;
    const cfg = this.state.cfg;
    if (!started && ctx.replayable && !ctx.bodySent && ctx.retries < cfg.retries.max && !ctx.ex.headersSent) {
      if (this.budget.tryRetry(Date.now())) {
        ctx.tried.push(backend);
        ctx.retries++;
        if (this.debug) this.log.debug({ event: 'retry', backend: backend.id, err: err.message, retries: ctx.retries }, 'retrying on another back-end');
        return this.route(ctx);
      }
      err = new Error(`${err.message} (retry budget exhausted)`);
    }
    if (!ctx.ex.headersSent) {
      const timeout = err instanceof UpstreamError && err.code === 'timeout';
      this.fail(ctx, timeout ? 504 : 502, timeout ? 'upstream_timeout' : 'upstream_error', `${backend.id}: ${err.message}`);
    } else ctx.ex.destroy(); // mid-response: the client must see a broken response, not a short one
  }

  /** Bookkeeping once a back-end is done with the request (successfully or not). */
  private done(ctx: RequestContext, verdict: 'ok' | 'failed' | 'abandoned', detail: string): void {
    const backend = ctx.backend;
    if (!backend || !ctx.holding) return;
    ctx.holding = false;
    backend.active--;
    const route = ctx.route;
    if (ctx.sharedPick !== undefined) route.remote?.completed(backend.id, ctx.sharedPick);
    this.admission.next(route);
    if (verdict !== 'abandoned') backend.served(verdict === 'ok', detail);
    // What the back-end answered (a status came back); connection errors end in fail() instead.
    if (this.observer && verdict !== 'abandoned' && ctx.status > 0) this.observer.answered(route.cfg.name, backend.series, ctx.status, Date.now() - ctx.start);
    if (this.debug && verdict === 'ok') {
      const explained = ctx.explanation();
      // A hand-over token in a log is a login: redacted (LARD's reason names the target too).
      this.log.debug({ event: 'request', method: ctx.method, target: redactHandover(ctx.target), ...explained, reason: redactHandover(explained.reason), status: ctx.status, ms: Date.now() - ctx.start }, 'proxied');
    }
  }

  private fail(ctx: RequestContext, status: number, reason: FrontErrorReason, why: string): void {
    this.observer?.failed(ctx.route.cfg.name, reason);
    const logged = redactHandover(why);
    this.log.warn({ event: 'request_failed', method: ctx.method, target: redactHandover(ctx.target), status, why: logged, retries: ctx.retries }, logged);
    ctx.status = status;
    const headers = ['content-type', 'text/plain; charset=utf-8'];
    if (status === 503) headers.push('retry-after', '5');
    if (ctx.explain) headers.push('x-cohort-route', JSON.stringify(ctx.explanation()));
    ctx.ex.respond(status, STATUS_CODES[status] ?? '', headers, `${status === 503 ? 'no server available' : 'bad gateway'}: ${why}\n`);
  }

  /** The client went away before its response was complete: abandon the upstream side too. */
  private clientClosed(ctx: RequestContext): void {
    const conn = ctx.conn;
    if (conn) {
      ctx.conn = undefined;
      conn.destroy();
      this.done(ctx, 'abandoned', 'client left');
    }
  }
}

/** Refuses a request with a short explanation, and closes the connection after it. */
export function reject(ex: ClientExchange, status: number, why: string, headers: string[] = []): void {
  ex.connection.closing = true;
  ex.respond(status, STATUS_CODES[status] ?? '', ['content-type', 'text/plain; charset=utf-8', ...headers], `${why}\n`);
}
