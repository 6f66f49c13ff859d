import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { NodeTlsSection } from '../config/tls-schema.ts';
import { hstsValue } from '../config/tls-schema.ts';
import { CertificateSet } from '../tls/certificate-set.ts';
import { ListenerCertificates, warnExpiring } from '../tls/listener-certificates.ts';
import { profileOptions } from '../tls/profiles.ts';
import { TicketKeyRing } from '../tls/ticket-keys.ts';
import type { IssuedPem } from '../acme/issued-certificate.ts';
import type { Logger } from 'pino';
import { adminRefusal, type AdminRefusal } from '../admin/admin-guard.ts';
import { isDashboardPath } from '../admin/admin-token.ts';
import type { DashboardFeed } from '../admin/dashboard-feed.ts';
import type { MetricsPage } from '../admin/metrics-page.ts';
import { listenOn } from '../net/listen.ts';
import { plain } from '../net/plain-reply.ts';

/** What serves the paths under a mounted prefix: the path without its query, and the query ('' when none). */
export type PathHandler = (req: IncomingMessage, res: ServerResponse, path: string, query: string) => Promise<void>;

export interface HttpPortSettings {
  host: string;
  port: number;
  /** GET /metrics (Prometheus text format); 404 without it. */
  metrics?: () => Promise<MetricsPage>;
  /**
   * GET /dashboard and /dashboard/events: served when the node's host is a loopback address or
   * the host table has an admin token (then only to requests that show it: `adminToken`, which
   * /metrics asks for too); otherwise `dashboardRefusal` is the 404's text.
   */
  dashboard?: DashboardFeed;
  adminToken?: string;
  dashboardRefusal?: string;
  /** The node's parts not running (lifecycle.ts): /healthz answers 200 only while there are none. */
  notRunning?: () => { part: string; state: string }[];
  /**
   * HTTPS (the node's tls): certificate files relative to baseDir, read at start and again when
   * they change; `issued`: certificates the fronts' ACME ordered (StoredCertificates), after them.
   */
  tls?: { section: NodeTlsSection; baseDir: string; issued?: () => IssuedPem[] };
  log: Logger;
}

/** A TLS session resumes for a day on this node's port (Mozilla's intermediate ssl_session_timeout); tickets sealed by a random key of this process. */
const SESSION_LIFETIME_S = 86_400;

/**
 * A node's own HTTP port (the host table's httpPort): /healthz, /metrics and /dashboard, and
 * whatever other parts mount on it (replication's /res/). One of the node's parts: start
 * listens, stop closes it and every connection it holds.
 */
export class NodeHttpPort {
  readonly server: Server;
  private readonly settings: HttpPortSettings;
  private readonly mounts: [prefix: string, handler: PathHandler][] = [];
  /** HTTPS: the certificates in service (each handshake picks by its SNI name) and what follows their files. */
  private certificates: CertificateSet | undefined;
  private readonly watch: ListenerCertificates | undefined;
  private readonly tickets = new TicketKeyRing({ secret: undefined, rotateMs: SESSION_LIFETIME_S * 1000, lifetimeMs: SESSION_LIFETIME_S * 1000 });
  private readonly hsts: string | undefined;

  constructor(settings: HttpPortSettings) {
    this.settings = settings;
    const options = { requestTimeout: 300_000, headersTimeout: 20_000, keepAliveTimeout: 5000 };
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      // HSTS is this port's own: never on what a front relays (the front's policy is its own).
      if (this.hsts && req.headers['x-forwarded-for'] === undefined) res.setHeader('strict-transport-security', this.hsts);
      this.handle(req, res).catch((err: unknown) => this.fail(req, res, err));
    };
    const tls = settings.tls;
    if (!tls) {
      this.server = createServer(options, handler);
      return;
    }
    // The certificates are read at start (a bad file fails the start, with the file named); a
    // handshake gets its SNI name's certificate, one without SNI (an IP address) the first's.
    this.hsts = hstsValue(tls.section.hsts);
    // The handshake within the plain port's header timeout: a slow hello holds a socket no longer than slow headers do.
    const server = createHttpsServer({ ...options, handshakeTimeout: options.headersTimeout, ...profileOptions(tls.section.profile), SNICallback: (name, cb) => cb(null, this.certificates?.forName(name)) }, handler);
    server.on('tlsClientError', () => {}); // a failed handshake is the client's: nothing to answer, nothing to log per connection
    this.server = server;
    this.watch = new ListenerCertificates(settings.log, () => this.readCertificates());
  }

  /** Reads the certificate files and puts them in service for new handshakes (throws, changing nothing, on a bad one). */
  private readCertificates() {
    const { section, baseDir, issued } = this.settings.tls!;
    const set = new CertificateSet(section.certificates, baseDir, section.profile, this.tickets, SESSION_LIFETIME_S, issued?.());
    // The first certificate for clients that name no host (none until ACME's first, with acme alone).
    if (set.defaultPair) (this.server as HttpsServer).setSecureContext({ ...profileOptions(section.profile), ...set.defaultPair, sessionTimeout: SESSION_LIFETIME_S, ticketKeys: this.tickets.current().keys });
    this.certificates = set;
    return set.summary;
  }

  /** ACME's certificates changed (StoredCertificates): new handshakes get them; a set that cannot be built is logged and the one in service stays. */
  certificatesChanged(): void {
    this.watch?.reread('an ACME certificate arrived');
  }

  /** Paths that start with `prefix` go to `handler` (which answers its own errors). */
  mount(prefix: string, handler: PathHandler): void {
    this.mounts.push([prefix, handler]);
  }

  start(): Promise<void> {
    const tls = this.settings.tls;
    if (tls) {
      warnExpiring(this.settings.log, this.readCertificates());
      this.watch!.follow(tls.section, tls.baseDir);
    }
    return listenOn(this.server, { host: this.settings.host, port: this.settings.port });
  }

  stop(): Promise<void> {
    this.watch?.close();
    this.settings.dashboard?.close();
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** /metrics and /dashboard are admin paths: Host, Origin and the admin token checked (admin-guard.ts). */
  private adminRefusal(req: IncomingMessage, tokenHint: string): AdminRefusal | undefined {
    // Its host, and over HTTPS the names its certificates are for.
    return adminRefusal(req, { names: [this.settings.host, ...(this.certificates?.summary.flatMap((c) => c.names) ?? [])], token: this.settings.adminToken, tokenHint });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = req.url ?? '';
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    const { metrics, dashboard } = this.settings;
    // For health checks (a front's resources route): 503 while the node starts or stops, so a
    // front stops sending before the node goes. The states only, not what parts say of themselves.
    if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      const notRunning = this.settings.notRunning?.() ?? [];
      if (notRunning.length === 0) return plain(res, 200, 'ok');
      return plain(res, 503, `not ready: ${notRunning.map((p) => `${p.part} ${p.state}`).join(', ')}`);
    }
    // Metrics are for a scraper that asks the node itself: what comes through a front (which
    // always adds X-Forwarded-For) does not get them, so a route to nodes does not publish them.
    if (path === '/metrics' && req.method === 'GET' && metrics && req.headers['x-forwarded-for'] === undefined) {
      const refused = this.adminRefusal(req, 'admin token required (Authorization: Bearer ...)');
      if (refused) return plain(res, refused.status, refused.message, refused.headers);
      const page = await metrics();
      res.writeHead(200, { 'content-type': page.contentType, 'cache-control': 'no-store' });
      return void res.end(page.body);
    }
    if (isDashboardPath(path)) {
      // Like /metrics: for whoever asks the node itself, never through a front.
      if (req.headers['x-forwarded-for'] !== undefined || !dashboard) return plain(res, 404, this.settings.dashboardRefusal ?? 'File not Found');
      const refused = this.adminRefusal(req, 'admin token required (Authorization: Bearer ..., or ?token=...)');
      if (refused) return plain(res, refused.status, refused.message, refused.headers);
      dashboard.handle(req, res, path);
      return;
    }
    const mounted = this.mounts.find(([prefix]) => path.startsWith(prefix));
    if (!mounted) return plain(res, 404, 'File not Found');
    return mounted[1](req, res, path, q < 0 ? '' : target.slice(q + 1));
  }

  /** A failure of the port's own pages (a metrics render that threw): logged, the client told no more than that. */
  private fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    const path = (req.url ?? '').split('?')[0].slice(0, 300); // the query may hold the admin token
    this.settings.log.error({ event: 'http_error', path, err: message }, `${path}: ${message}`);
    plain(res, 500, 'Internal Server Error');
  }
}
