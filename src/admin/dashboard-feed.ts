import type { IncomingMessage, ServerResponse } from 'node:http';
import { isDashboardPath } from './admin-token.ts';
import { dashboardPage } from './dashboard-page.ts';

/** Open server-sent-event streams per process at most; one more is answered 503. */
export const MAX_STREAMS = 32;
const TICK_MS = 1000;
const HEARTBEAT_MS = 15_000;
/** A stream that has not taken its unread status for this long is closed (nginx's send_timeout is 60 s). */
const STALL_MS = 60_000;

export interface FeedOptions {
  tickMs?: number;
  stallMs?: number;
}

/**
 * The dashboard's live feed: GET /dashboard (the page) and GET /dashboard/events (server-sent
 * events). One status is built per second while at least one stream is open, and sent to all
 * of them (`event: status`, the JSON); a new stream gets the last one at once. A comment line
 * goes out every 15 s as a heartbeat for proxies that close quiet connections; a stream that
 * closes is forgotten at once, and the ticker stops with the last one.
 *
 * Each status is whole, so a reader that is behind (its last status still unread in our
 * buffer) skips the next ones rather than having them queue up: one unread status per stream
 * at most. One that stays behind for stallMs is closed.
 */
export class DashboardFeed {
  /** Open streams, each with the time it fell behind (0: keeping up). */
  private readonly streams = new Map<ServerResponse, number>();
  private readonly build: () => Promise<unknown>;
  private readonly title: string;
  private readonly tickMs: number;
  private readonly stallMs: number;
  private timer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private building = false;
  private last: string | undefined;

  constructor(title: string, build: () => Promise<unknown>, opts: FeedOptions = {}) {
    this.title = title;
    this.build = build;
    this.tickMs = opts.tickMs ?? TICK_MS;
    this.stallMs = opts.stallMs ?? STALL_MS;
  }

  get open(): number {
    return this.streams.size;
  }

  /** Bytes written to streams and not yet taken by their readers (held in this process). */
  get unreadBytes(): number {
    let bytes = 0;
    for (const res of this.streams.keys()) bytes += res.writableLength;
    return bytes;
  }

  /** Answers /dashboard or /dashboard/events (true), or leaves the request alone (false). */
  handle(req: IncomingMessage, res: ServerResponse, path: string): boolean {
    if (!isDashboardPath(path)) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      res.end('Method Not Allowed\n');
      return true;
    }
    if (path === '/dashboard') {
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        // The page is all inline; it talks to its own origin only.
        'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
      });
      res.end(req.method === 'HEAD' ? undefined : dashboardPage(this.title));
      return true;
    }
    if (this.streams.size >= MAX_STREAMS) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '10' });
      res.end(`too many dashboards open (${MAX_STREAMS})\n`);
      return true;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no', connection: 'keep-alive' });
    res.write('retry: 2000\n\n');
    req.socket.setNoDelay(true);
    req.socket.setTimeout(0);
    this.streams.set(res, 0);
    const gone = () => this.drop(res);
    res.on('close', gone);
    res.on('error', gone);
    if (this.last) res.write(this.last);
    this.start();
    void this.tick();
    return true;
  }

  /** Ends every stream (the server stops). */
  close(): void {
    for (const res of this.streams.keys()) res.end();
    this.streams.clear();
    this.stop();
  }

  private drop(res: ServerResponse): void {
    this.streams.delete(res);
    if (this.streams.size === 0) this.stop();
  }

  private start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.tickMs);
    this.heartbeat = setInterval(() => this.sendAll(': heartbeat\n\n'), HEARTBEAT_MS);
    this.timer.unref();
    this.heartbeat.unref();
  }

  private stop(): void {
    clearInterval(this.timer);
    clearInterval(this.heartbeat);
    this.timer = this.heartbeat = undefined;
    this.last = undefined;
  }

  /** Builds one status (never two at once) and sends it to every open stream. */
  private async tick(): Promise<void> {
    if (this.building || this.streams.size === 0) return;
    this.building = true;
    try {
      const status = await this.build();
      // JSON has no raw newlines, so one data: line carries it whole.
      const event = `event: status\ndata: ${JSON.stringify(status)}\n\n`;
      if (this.streams.size === 0) return;
      this.last = event;
      this.sendAll(event);
    } catch (err) {
      this.sendAll(`event: failure\ndata: ${JSON.stringify({ error: err instanceof Error ? err.message : String(err) })}\n\n`);
    } finally {
      this.building = false;
    }
  }

  /** Writes to every stream that has taken what it was sent; one behind for stallMs is closed. */
  private sendAll(text: string): void {
    const now = Date.now();
    for (const [res, behindSince] of this.streams) {
      if (res.writableLength === 0) {
        if (behindSince) this.streams.set(res, 0);
        res.write(text);
      } else if (!behindSince) {
        this.streams.set(res, now);
      } else if (now - behindSince >= this.stallMs) {
        this.drop(res);
        res.destroy();
      }
    }
  }
}
