import type { Backend } from './backend.ts';
import type { RouteState } from './routes.ts';
import type { ClientExchange } from './http/client-exchange.ts';
import type { Switch } from './http/response-parser.ts';
import type { Exchange, UpstreamConnection } from './upstream/connection.ts';
import type { StickyRequest } from './balance/sticky.ts';

/**
 * Everything the front knows about one client request as it moves through the phases
 * (Pingora's per-request CTX). It is also the upstream exchange: the connection delivers the
 * answer's events to it directly, with no closure per request; phases/respond.ts's
 * ProxiedRequest hands them to the respond phase.
 */
export abstract class RequestContext implements StickyRequest, Exchange {
  /** The client's request and the writer of its response. */
  readonly ex: ClientExchange;
  readonly target: string;
  /** The upgrade protocols forwarded (Connection: upgrade), if the request asks for one the config allows. */
  readonly upgrade: string | undefined;
  readonly clientIp: string;
  /** Came over the front's HTTPS listener. */
  readonly secure: boolean;
  readonly method: string;
  readonly start: number;
  /** May be sent again after a failure before the first response byte. */
  replayable: boolean;
  /** The whole request body, when held for replay. */
  body: Buffer | null = null;
  /** The body streams to the back-end (too large to hold, or not replayable). */
  streaming = false;
  /** A byte of the body went out: from here on the request is never replayed. */
  bodySent = false;
  backend: Backend | undefined;
  /** The route that took the request (set before anything else looks at it). */
  route!: RouteState;
  /** Let past LARD's admission bound (after waiting for it). */
  admitted = false;
  /** Placed by a shared dispatcher (under this front id): its completion is reported there. */
  sharedPick: string | undefined;
  conn: UpstreamConnection | undefined;
  readonly tried: Backend[] = [];
  retries = 0;
  /** The back-end the sticky cookie names, if it is valid and usable. */
  stickyBackend: Backend | undefined;
  /** A login handed over to this node (`/login/handover?cohort_handover=<node>.<token>`): a hint that its app takes the request. */
  handoverNode: string | undefined;
  /** Set a (new or renewed) sticky cookie on the response. */
  setSticky = false;
  stickyToken: string | undefined;
  /** When the request's sticky cookie was issued (undefined for none, or a new one). */
  stickyIssued: number | undefined;
  /** The request's Cookie header with the sticky cookie taken out. */
  cookieRest: string | undefined;
  /** Why the back-end was chosen, for the explanation header and debug logs. */
  reason = '';
  candidates: string[] = [];
  explain = false;
  status = 0;
  /** Body bytes the back-end answered (what LARD learns a target's size from). */
  bodyBytes = 0;
  /** The client left (or broke the protocol) before its response ended. */
  get aborted(): boolean {
    return this.ex.aborted;
  }
  /** Counted in its back-end's active requests until done. */
  holding = false;

  constructor(ex: ClientExchange, target: string, upgrade: string | undefined, replayable: boolean) {
    this.ex = ex;
    this.target = target;
    this.upgrade = upgrade;
    this.clientIp = ex.clientIp;
    this.secure = ex.secure;
    this.method = ex.method;
    this.start = Date.now();
    this.replayable = replayable;
  }

  /** How the request was routed (the admin's X-Cohort-Route header, debug logs). */
  explanation() {
    return {
      route: this.route.cfg.name,
      policy: this.route.policy.name,
      chose: this.backend?.id ?? null,
      reason: this.reason,
      candidates: this.candidates,
      tried: this.tried.map((b) => b.id),
      retries: this.retries,
    };
  }

  abstract onHead(status: number, reason: string, headers: string[], lowerNames: string[], closeAfter: boolean): void;
  abstract onSwitch(conn: UpstreamConnection, response: Switch): void;
  abstract onBody(chunk: Buffer): void;
  abstract onEnd(): void;
  abstract onError(err: Error, started: boolean): void;
}
