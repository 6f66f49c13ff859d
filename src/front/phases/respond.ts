import { STATUS_CODES } from 'node:http';
import { RequestContext } from '../context.ts';
import type { ClientExchange } from '../http/client-exchange.ts';
import type { Switch } from '../http/response-parser.ts';
import { checkSwitch } from '../http/switch-checks.ts';
import type { FrontErrorReason } from '../request-observer.ts';
import { redactHandover } from '../../sessions/handovers.ts';
import { Tunnel } from '../tunnel.ts';
import type { Exchange, UpstreamConnection } from '../upstream/connection.ts';
import { neverConnected, UpstreamError } from '../upstream/upstream-error.ts';
import type { Pipeline } from './pipeline.ts';
import { responseFields } from './response-fields.ts';

/**
 * The respond phase: the back-end's answer to the client (head, body, end, or a switch to a
 * tunnel), the front's own error answers, a retry when nothing was answered yet, and the
 * bookkeeping once a back-end is done with a request.
 */
export class Respond {
  private readonly p: Pipeline;
  /** Back to the route phase: a replayable request that failed before its first response byte. */
  private readonly retry: (ctx: RequestContext) => void;

  constructor(p: Pipeline, retry: (ctx: RequestContext) => void) {
    this.p = p;
    this.retry = retry;
  }

  head(ctx: RequestContext, status: number, reason: string, headers: string[], lowerNames: string[], closeAfter: boolean): void {
    ctx.status = status;
    // An HTTP/1.0 response with Transfer-Encoding has faulty framing: the client's connection closes after it.
    if (closeAfter) ctx.ex.closeConnection();
    try {
      ctx.ex.writeHead(status, reason, responseFields(ctx, this.p.log, headers, lowerNames));
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
  switched(ctx: RequestContext, conn: UpstreamConnection, response: Switch): void {
    if (ctx.aborted) {
      conn.destroy();
      return this.done(ctx, 'abandoned', 'client left before the switch');
    }
    ctx.conn = conn;
    const checked = checkSwitch(ctx.upgrade!, ctx.ex.header('sec-websocket-key'), response.headers, response.lowerNames);
    if ('fault' in checked) return this.refuseResponse(ctx, checked.fault);
    ctx.status = 101;
    try {
      ctx.ex.writeHead(101, response.reason, [...responseFields(ctx, this.p.log, response.headers, response.lowerNames), 'connection', 'upgrade', 'upgrade', checked.protocol]);
    } catch (err) {
      return this.refuseResponse(ctx, `invalid response head: ${(err as Error).message}`);
    }
    ctx.conn = undefined;
    const { socket, rest } = ctx.ex.switchProtocols();
    const backend = ctx.backend!;
    const token = ctx.stickyToken;
    if (token) backend.sessions.tunnelOpened(token);
    const tunnels = this.p.tunnels;
    const tunnel = new Tunnel(socket, rest, conn, response.rest, this.p.state.cfg.timeouts.tunnelIdleMs, () => {
      tunnels.delete(tunnel);
      if (token) backend.sessions.tunnelClosed(token, Date.now());
      this.done(ctx, 'ok', 'tunnel closed');
    });
    tunnels.add(tunnel);
  }

  body(ctx: RequestContext, chunk: Buffer): void {
    ctx.bodyBytes += chunk.length;
    // The chunk is a view of the upstream connection's read buffer: on loan until written.
    if (!ctx.ex.write(chunk, ctx.conn?.borrow())) {
      const socket = ctx.conn!.socket;
      socket.pause();
      // Once the response is whole the connection is the pool's again (connection.ts resumed it).
      ctx.ex.onDrain(() => ctx.ex.finished || socket.resume());
    }
  }

  end(ctx: RequestContext): void {
    ctx.ex.end();
    if (ctx.status < 500) this.done(ctx, 'ok', 'answered');
    else this.done(ctx, 'failed', `status ${ctx.status}`);
  }

  error(ctx: RequestContext, err: Error, started: boolean): void {
    const backend = ctx.backend!;
    ctx.conn = undefined;
    // A client that went away is not the back-end's fault.
    this.done(ctx, ctx.aborted ? 'abandoned' : 'failed', err.message);
    // Nothing more to tell a client that left, or that already has its whole answer.
    if (ctx.aborted || ctx.ex.finished) return;
    const cfg = this.p.state.cfg;
    // A connection never made carried nothing: any request may go elsewhere (Envoy's connect-failure),
    // not only a replayable one, which may also go after a failure once sent.
    if (!started && (ctx.replayable || neverConnected(err)) && !ctx.bodySent && ctx.retries < cfg.retries.max && !ctx.ex.headersSent) {
      if (this.p.budget.tryRetry(Date.now())) {
        ctx.tried.push(backend);
        ctx.retries++;
        this.p.observer?.retried(ctx.route.cfg.name, backend.series);
        if (this.p.debug) this.p.log.debug({ event: 'retry', backend: backend.id, err: err.message, retries: ctx.retries }, 'retrying on another back-end');
        return this.retry(ctx);
      }
      err = new Error(`${err.message} (retry budget exhausted)`);
    }
    if (!ctx.ex.headersSent) {
      const timeout = err instanceof UpstreamError && err.code === 'timeout';
      this.fail(ctx, timeout ? 504 : 502, timeout ? 'upstream_timeout' : 'upstream_error', `${backend.id}: ${err.message}`);
    } else ctx.ex.destroy(); // mid-response: the client must see a broken response, not a short one
  }

  /** Bookkeeping once a back-end is done with the request (successfully or not). */
  done(ctx: RequestContext, verdict: 'ok' | 'failed' | 'abandoned', detail: string): void {
    const backend = ctx.backend;
    if (!backend || !ctx.holding) return;
    ctx.holding = false;
    backend.active--;
    const route = ctx.route;
    if (ctx.sharedPick !== undefined) route.remote?.completed(backend.id, ctx.sharedPick);
    this.p.admission.next(route);
    if (verdict !== 'abandoned') backend.served(verdict === 'ok', detail);
    // A whole 200 to a GET tells LARD how many bytes the target is (not an error page, a HEAD or a POST's answer).
    if (verdict === 'ok' && ctx.status === 200 && ctx.method === 'GET') {
      if (ctx.sharedPick !== undefined) route.remote?.sized(ctx.target, ctx.bodyBytes);
      else route.policy.served?.(ctx.target, ctx.bodyBytes);
    }
    // What the back-end answered (a status came back); connection errors end in fail() instead.
    const observer = this.p.observer;
    if (observer && verdict !== 'abandoned' && ctx.status > 0) observer.answered(route.cfg.name, backend.series, ctx.status, Date.now() - ctx.start);
    if (this.p.debug && verdict === 'ok') {
      const explained = ctx.explanation();
      // A hand-over token in a log is a login: redacted (LARD's reason names the target too).
      this.p.log.debug({ event: 'request', method: ctx.method, target: redactHandover(ctx.target), ...explained, reason: redactHandover(explained.reason), status: ctx.status, ms: Date.now() - ctx.start }, 'proxied');
    }
  }

  /** The front's own error answer. */
  fail(ctx: RequestContext, status: number, reason: FrontErrorReason, why: string): void {
    this.p.observer?.failed(ctx.route.cfg.name, reason);
    const logged = redactHandover(why);
    this.p.log.warn({ event: 'request_failed', method: ctx.method, target: redactHandover(ctx.target), status, why: logged, retries: ctx.retries }, logged);
    ctx.status = status;
    const headers = ['content-type', 'text/plain; charset=utf-8'];
    if (status === 503) headers.push('retry-after', '5');
    if (ctx.explain) headers.push('x-cohort-route', JSON.stringify(ctx.explanation()));
    ctx.ex.respond(status, STATUS_CODES[status] ?? '', headers, `${status === 503 ? 'no server available' : 'bad gateway'}: ${why}\n`);
  }

  /** No back-end to send to (none ready, or none left after the ones tried): 503. */
  noBackend(ctx: RequestContext): void {
    const why = ctx.tried.length ? `no other back-end after ${ctx.tried.map((b) => b.id).join(', ')} failed` : 'no back-end is ready';
    this.fail(ctx, 503, 'no_backend', why);
  }

  /** The client went away before its response was complete: abandon the upstream side too. */
  clientClosed(ctx: RequestContext): void {
    const conn = ctx.conn;
    if (conn) {
      ctx.conn = undefined;
      conn.destroy();
      this.done(ctx, 'abandoned', 'client left');
    }
  }

  /** Work that runs outside the intake's guard (a decision that arrives later, a waiter let in): a bug costs the request, not the front. */
  guarded(ctx: RequestContext, work: () => void): void {
    try {
      work();
    } catch (err) {
      this.p.log.error({ event: 'proxy_bug', err: (err as Error).stack }, 'request failed inside the front');
      if (!ctx.ex.headersSent && !ctx.ex.finished) reject(ctx.ex, 500, 'internal error in the front');
      else ctx.ex.destroy();
    }
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
}

/**
 * A request on its way through the front: its context, and the upstream exchange whose
 * events the upstream connection delivers straight to the respond phase (no closure per request).
 */
export class ProxiedRequest extends RequestContext implements Exchange {
  private readonly respond: Respond;

  constructor(respond: Respond, ex: ClientExchange, target: string, upgrade: string | undefined, replayable: boolean) {
    super(ex, target, upgrade, replayable);
    this.respond = respond;
  }

  onHead(status: number, reason: string, headers: string[], lowerNames: string[], closeAfter: boolean): void {
    this.respond.head(this, status, reason, headers, lowerNames, closeAfter);
  }

  onSwitch(conn: UpstreamConnection, response: Switch): void {
    this.respond.switched(this, conn, response);
  }

  onBody(chunk: Buffer): void {
    this.respond.body(this, chunk);
  }

  onEnd(): void {
    this.respond.end(this);
  }

  onError(err: Error, started: boolean): void {
    this.respond.error(this, err, started);
  }
}

/** Refuses a request with a short explanation, and closes the connection after it. */
export function reject(ex: ClientExchange, status: number, why: string, headers: string[] = []): void {
  ex.closeConnection();
  ex.respond(status, STATUS_CODES[status] ?? '', ['content-type', 'text/plain; charset=utf-8', ...headers], `${why}\n`);
}
