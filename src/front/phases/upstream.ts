import type { Backend } from '../backend.ts';
import type { RequestContext } from '../context.ts';
import type { UpstreamConnection } from '../upstream/connection.ts';
import { upstreamRequestHead } from '../upstream/request-head.ts';
import { neverConnected } from '../upstream/upstream-error.ts';
import type { Respond } from './respond.ts';

/**
 * The upstream phase: a connection to the chosen back-end from its pool, then the request
 * head and the body (whole, or streamed). The answer comes back to the respond phase.
 */
export class Upstream {
  private readonly respond: Respond;

  constructor(respond: Respond) {
    this.respond = respond;
  }

  /** connect: the chosen back-end (or 503 when there is none). */
  send(ctx: RequestContext, backend: Backend | undefined): void {
    if (!backend) return this.respond.noBackend(ctx);
    ctx.backend = backend;
    ctx.holding = true;
    backend.active++;
    backend.requests++;
    backend.pool.acquire((err, conn) => this.connected(ctx, backend, err, conn));
  }

  /** connect → send: the request head, then the body (whole, or streamed). */
  private connected(ctx: RequestContext, backend: Backend, err: Error | null, conn?: UpstreamConnection): void {
    if (err || !conn) {
      if (neverConnected(err)) backend.unreachable(err!.message);
      return this.respond.error(ctx, err ?? new Error('no connection'), false);
    }
    if (ctx.aborted) {
      conn.release();
      return this.respond.done(ctx, 'abandoned', 'client left while queued');
    }
    ctx.conn = conn;
    // The context is the exchange: the answer's events go to the respond phase (ProxiedRequest).
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
}
