import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { adminRefusal } from '../admin/admin-guard.ts';
import { isDashboardPath } from '../admin/admin-token.ts';
import type { DashboardFeed } from '../admin/dashboard-feed.ts';
import type { FrontMetrics } from './front-metrics.ts';
import { listenOn } from '../net/listen.ts';
import type { Backend } from './backend.ts';
import type { FrontConfig } from './config.ts';

/** What the admin listener asks of the front. */
export interface AdminFront {
  /** The configuration in service (the admin listener's own settings cannot change on reload). */
  readonly config: FrontConfig;
  status(): Promise<object>;
  setAdmin(id: string, admin: 'ready' | 'draining'): Backend;
  /** Reads the host table again and applies it (throws, changing nothing, if it is invalid); the reloads so far. */
  reloadFromFile(): number;
}

/**
 * The front's admin listener (front.admin): status, draining, reloads, /metrics and the
 * dashboard, behind the admin guard (Host, Origin, the token).
 */
export class AdminServer {
  private readonly front: AdminFront;
  private readonly metrics: FrontMetrics | undefined;
  private readonly dashboard: DashboardFeed;
  private server: Server | undefined;

  constructor(front: AdminFront, metrics: FrontMetrics | undefined, dashboard: DashboardFeed) {
    this.front = front;
    this.metrics = metrics;
    this.dashboard = dashboard;
  }

  async listen(port: number, host: string): Promise<void> {
    this.server = createServer((req, res) => void this.request(req, res));
    await listenOn(this.server, { port, host });
  }

  close(): void {
    this.server?.close();
    this.server?.closeAllConnections();
  }

  private async request(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body) + '\n');
    };
    const admin = this.front.config.admin;
    const token = admin?.token;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const dashboard = isDashboardPath(path);
    // Host, Origin, the token, and a token or X-Cohort-Admin on what changes something (admin-guard.ts).
    const refused = adminRefusal(req, { names: [admin?.host ?? '127.0.0.1'], token, tokenHint: `admin token required (Authorization: Bearer ...${dashboard ? ', or ?token=...' : ''})` });
    if (refused) {
      res.writeHead(refused.status, { 'content-type': 'application/json', ...refused.headers });
      return void res.end(JSON.stringify({ error: refused.message }) + '\n');
    }
    try {
      if (dashboard && this.dashboard.handle(req, res, path)) return;
      if (req.method === 'GET' && url === '/metrics' && this.metrics) {
        const page = await this.metrics.render();
        res.writeHead(200, { 'content-type': page.contentType, 'cache-control': 'no-store' });
        return void res.end(page.body);
      }
      if (req.method === 'GET' && (url === '/status' || url === '/status?gc=1')) {
        // With node --expose-gc, ?gc=1 collects first so memory figures compare (the leak test uses it).
        if (url.endsWith('gc=1')) (globalThis as { gc?: () => void }).gc?.();
        const memory = process.memoryUsage();
        return send(200, { ...(await this.front.status()), memory: { rss: memory.rss, heapUsed: memory.heapUsed } });
      }
      const m = /^\/backends\/([^/]+)\/(drain|ready)$/.exec(url);
      if (req.method === 'POST' && m) return send(200, this.front.setAdmin(decodeURIComponent(m[1]), m[2] === 'drain' ? 'draining' : 'ready').status(Date.now()));
      if (req.method === 'POST' && url === '/reload') {
        const reloads = this.front.reloadFromFile();
        return send(200, { reloaded: true, reloads });
      }
      send(404, { error: `no admin route ${req.method} ${url}` });
    } catch (err) {
      send(400, { error: err instanceof Error ? err.message : String(err) });
    }
  }
}
