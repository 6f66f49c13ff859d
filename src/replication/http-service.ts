import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import send from 'send';
import { CohortError } from '../errors.ts';
import { httpStatusOf } from '../error-status.ts';
import { listenOn } from '../net/listen.ts';
import type { DashboardFeed } from '../admin/dashboard-feed.ts';
import { isDashboardPath } from '../admin/admin-token.ts';
import { adminRefusal, type AdminRefusal } from '../admin/admin-guard.ts';
import { redactHandover } from '../sessions/handovers.ts';
import type { Replicator } from './replicator.ts';
import { plain } from './plain-reply.ts';
import { parseResourcePath, ResourceUrlError } from './resource-url.ts';
import type { Uploads } from './uploads.ts';

/** A rendered metrics exposition: its Content-Type and text. */
export interface MetricsPage {
  contentType: string;
  body: string;
}

export interface HttpServiceDeps {
  replicator: Replicator;
  uploads: Uploads;
  /** GET /metrics (Prometheus text format); 404 without it. */
  metrics?: () => Promise<MetricsPage>;
  /**
   * GET /dashboard and /dashboard/events: served when the node's host is a loopback address or
   * the host table has an admin token (then only to requests that show it: `dashboardToken`,
   * which /metrics asks for too); otherwise `dashboardRefusal` is the 404's text.
   */
  dashboard?: DashboardFeed;
  dashboardToken?: string;
  dashboardRefusal?: string;
  log: Logger;
}

/**
 * A node's own HTTP port: the resource space, /res/<domain>/<author>/<path>[?version=N],
 * served from this node (its own resources, or copies, replicated on first access) with
 * Content-Type, ETag (the content's digest), Last-Modified, conditional GET, Range and HEAD
 * (the `send` module, express.static's engine); PUT publishes (uploads.ts).
 */
export class HttpService {
  private readonly deps: HttpServiceDeps;
  readonly server: Server;
  /** The address it listens on: a name an admin path answers to. */
  private listenHost: string | undefined;

  constructor(deps: HttpServiceDeps) {
    this.deps = deps;
    this.server = createServer({ requestTimeout: 300_000, headersTimeout: 20_000, keepAliveTimeout: 5000 }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => this.fail(res, err, req.url ?? ''));
    });
  }

  listen(host: string, port: number): Promise<void> {
    this.listenHost = host;
    return listenOn(this.server, { host, port });
  }

  /** /metrics and /dashboard are admin paths: Host, Origin and the admin token checked (admin-guard.ts). */
  private adminRefusal(req: IncomingMessage, tokenHint: string): AdminRefusal | undefined {
    return adminRefusal(req, { names: this.listenHost ? [this.listenHost] : [], token: this.deps.dashboardToken, tokenHint });
  }

  close(): Promise<void> {
    this.deps.dashboard?.close();
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = req.url ?? '';
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    // For health checks (a front's resources route): the node's HTTP service answers.
    if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) return plain(res, 200, 'ok');
    // Metrics are for a scraper that asks the node itself: what comes through a front (which
    // always adds X-Forwarded-For) does not get them, so a route to nodes does not publish them.
    if (path === '/metrics' && req.method === 'GET' && this.deps.metrics && req.headers['x-forwarded-for'] === undefined) {
      const refused = this.adminRefusal(req, 'admin token required (Authorization: Bearer ...)');
      if (refused) return plain(res, refused.status, refused.message, refused.headers);
      const page = await this.deps.metrics();
      res.writeHead(200, { 'content-type': page.contentType, 'cache-control': 'no-store' });
      return void res.end(page.body);
    }
    if (isDashboardPath(path)) {
      // Like /metrics: for whoever asks the node itself, never through a front.
      if (req.headers['x-forwarded-for'] !== undefined || !this.deps.dashboard) return plain(res, 404, this.deps.dashboardRefusal ?? 'File not Found');
      const refused = this.adminRefusal(req, 'admin token required (Authorization: Bearer ..., or ?token=...)');
      if (refused) return plain(res, refused.status, refused.message, refused.headers);
      this.deps.dashboard.handle(req, res, path);
      return;
    }
    if (!path.startsWith('/res/')) return plain(res, 404, 'File not Found');
    if (req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'PUT') return plain(res, 405, 'Method Not Allowed', { allow: 'GET, HEAD, PUT' });
    let ref;
    let version: number | undefined;
    try {
      ref = parseResourcePath(path);
      version = parseVersion(new URLSearchParams(q < 0 ? '' : target.slice(q + 1)));
    } catch (err) {
      if (err instanceof ResourceUrlError) return plain(res, 400, `Bad Request: ${err.message}`);
      throw err;
    }
    if (req.method === 'PUT') return this.deps.uploads.handle(ref, req, res);
    const local = await this.deps.replicator.local(ref, version);
    const { meta } = local;
    res.setHeader('content-type', meta.contentType);
    res.setHeader('etag', `"${meta.digest}"`);
    res.setHeader('last-modified', new Date(meta.publishedAt).toUTCString());
    res.setHeader('x-cohort-version', String(meta.version));
    res.setHeader('x-cohort-source', local.source);
    // Authors' pages are any user's content: served as their own unique origin (a sandbox, as
    // GitHub serves raw user content from another domain), their scripts cannot act as the
    // reader on the app they are proxied beside; no type sniffing into HTML either.
    res.setHeader('content-security-policy', 'sandbox allow-scripts allow-forms allow-popups allow-downloads');
    res.setHeader('x-content-type-options', 'nosniff');
    // A version named in the URL never changes; the newest may.
    res.setHeader('cache-control', version === undefined ? 'no-cache' : 'public, max-age=31536000, immutable');
    send(req, local.path, { etag: false, lastModified: false, cacheControl: false, dotfiles: 'allow' })
      .on('error', (err: Error) => this.fail(res, err, ref.url))
      .pipe(res);
  }

  private fail(res: ServerResponse, err: unknown, url: string): void {
    const code = err instanceof CohortError ? err.code : 'internal';
    const { status, title } = httpStatusOf(code);
    const message = err instanceof Error ? err.message : String(err);
    // A login hand-over token in a log is a login: redacted, like the front's.
    const logged = redactHandover(url).slice(0, 300);
    if (status >= 500) this.deps.log[status === 500 ? 'error' : 'warn']({ event: 'resource_error', url: logged, code, err: message }, `${logged}: ${message}`);
    // What went wrong inside (file paths, a peer's error text) is for the log: a client is told
    // what it can act on. An unknown author and a missing resource read alike (resource-lookups.ts).
    // A 507's reason (free bytes, the budget) is the operator's: logged above, not told to clients.
    const body = status === 500 ? title : status === 503 ? `${title}: try again shortly` : status === 507 ? `${title}: this node cannot store it now` : `${title}: ${message}`;
    plain(res, status, body, status === 503 ? { 'retry-after': '2' } : {});
  }
}

function parseVersion(params: URLSearchParams): number | undefined {
  const v = params.getAll('version');
  if (v.length === 0) return undefined;
  if (v.length > 1 || !/^[1-9][0-9]{0,14}$/.test(v[0])) throw new ResourceUrlError('version is one positive whole number');
  return Number(v[0]);
}
