import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { appSettingsFor, loadHostTable, type HostTable } from '../config/host-table.ts';
import { listenOn } from '../net/listen.ts';
import { FrontMetrics } from '../admin/front-metrics.ts';
import { DashboardFeed } from '../admin/dashboard-feed.ts';
import { clusterStatus, type NodeSnapshot } from '../admin/node-status.ts';
import { AppRegistries } from './app-backends.ts';
import { Backend } from './backend.ts';
import { routeConfigs, type BackendConfig, type FrontConfig } from './config.ts';
import { HealthChecker } from './health.ts';
import { HttpServer, type HttpServerOptions } from './http/server.ts';
import { LoadSource } from './load-source.ts';
import { bounded } from './long-poll.ts';
import { MaintenanceWatch } from './maintenance-watch.ts';
import { NodeConnection } from '../client/node-connection.ts';
import { createPolicy } from './policies/index.ts';
import { LardPolicy } from './policies/lard.ts';
import type { Policy } from './policies/policy.ts';
import { RemoteDispatcher } from './dispatcher/remote-dispatcher.ts';
import type { RouteState } from './routes.ts';
import type { FrontState } from './front-state.ts';
import { Proxy } from './proxy.ts';
import { RetryBudget } from './retry-budget.ts';
import { isDashboardPath } from '../admin/admin-token.ts';
import { adminRefusal } from '../admin/admin-guard.ts';
import { ServedReporter } from './served-reporter.ts';
import { Stickiness, stickyPolicy } from './balance/sticky.ts';

/** The nodes that run an app pool: the registries `backends: apps` follows. */
function poolNodes(table: HostTable): string[] {
  return table.nodes.filter((n) => appSettingsFor(table, n.id) !== undefined).map((n) => n.id);
}

export function frontConfig(table: HostTable): FrontConfig {
  if (!table.front) throw new Error(`${table.file}: no 'front:' section`);
  return table.front;
}

/**
 * The HTTP front (`cohort front`): a listener, the proxy, back-ends with health checks,
 * and an admin listener for status, draining and reloads. A reload builds the whole new
 * state first and swaps it in one assignment; connections in flight are not touched.
 */
export class Front {
  private table: HostTable;
  private readonly log: Logger;
  private readonly proxy: Proxy;
  private readonly budget: RetryBudget;
  private readonly server: HttpServer;
  private admin: Server | undefined;
  private readonly health: HealthChecker;
  private loads: LoadSource | undefined;
  /** The front's link into the node network (front.node): load figures, app registries. */
  private readonly caller: NodeConnection | undefined;
  /** backends: apps — the registries followed, and the request counts reported back. */
  private apps: AppRegistries | undefined;
  private served: ServedReporter | undefined;
  /** Cluster-wide maintenance mode, followed through front.node. */
  private readonly maintenance: MaintenanceWatch | undefined;
  private readonly started = Date.now();
  /** Each route's policy and shared dispatcher, kept across swaps while their settings stay. */
  private policies = new Map<string, Policy>();
  private remotes = new Map<string, RemoteDispatcher>();
  reloads = 0;
  private lastDropLog = 0;
  /** GET /metrics on the admin listener (none without one). */
  private readonly metrics: FrontMetrics | undefined;
  /** GET /dashboard and /dashboard/events on the admin listener: the back-ends, and every node through front.node. */
  private readonly dashboard: DashboardFeed;

  constructor(table: HostTable, log: Logger) {
    this.table = table;
    this.log = log;
    const cfg = frontConfig(table);
    if (cfg.node) this.caller = new NodeConnection(table, cfg.node);
    this.budget = new RetryBudget(cfg.retries.budgetRatio, cfg.retries.minPerSecond);
    this.proxy = new Proxy(this.buildState(table, new Map()), this.budget, log);
    if (cfg.admin) {
      this.metrics = new FrontMetrics(() => this.proxy.state.list, () => ({ connections: this.server.connectionCount, tunnels: this.proxy.tunnels.size, maintenancePages: this.proxy.maintenancePages }));
      this.proxy.observer = this.metrics;
    }
    if (this.caller) {
      this.maintenance = new MaintenanceWatch(this.caller.call, this.caller.node, log);
      this.maintenance.onChange = (now) => log.warn({ event: 'maintenance', on: now.on, message: now.message, at: now.at }, `maintenance mode ${now.on ? 'on: new sessions get the maintenance page' : 'off'}`);
      this.proxy.maintenance = this.maintenance;
    }
    this.dashboard = new DashboardFeed(`Cohort ${table.cluster}: front`, async () => {
      const caller = this.caller;
      return {
        front: await this.status(),
        cluster: caller ? await clusterStatus(this.table, `front (via ${caller.node})`, (node) => caller.call(node, 'status.snapshot', {}) as Promise<NodeSnapshot>) : null,
      };
    });
    this.health = new HealthChecker(() => this.proxy.state.list, () => [this.proxy.state.cfg.health.intervalMs, ...this.proxy.state.routes.map((r) => r.cfg.health.intervalMs)]);
    this.server = new HttpServer(
      serverOptions(cfg),
      {
        request: this.proxy.handle,
        dropped: (remoteAddress) => {
          const now = Date.now();
          // One line a second at most: a flood must not become a log flood.
          if (now - this.lastDropLog < 1000) return;
          this.lastDropLog = now;
          this.log.warn({ event: 'client_dropped', client: remoteAddress, max: this.config.limits.maxClientConnections }, 'connection closed on arrival: maxClientConnections are open');
        },
        clientError: (code, reason, remoteAddress) => {
          if (code === 'INTERNAL') this.log.error({ event: 'front_bug', err: reason, client: remoteAddress }, 'connection dropped by an error inside the front');
          else if (this.log.isLevelEnabled('debug')) this.log.debug({ event: 'client_error', code, reason, client: remoteAddress }, 'bad request from client');
        },
      },
    );
  }

  get config(): FrontConfig {
    return this.proxy.state.cfg;
  }

  async start(): Promise<void> {
    const cfg = this.config;
    // Before the first request: whether maintenance is on, and (backends: apps) where the instances are.
    if (!this.caller) this.log.warn({ event: 'no_front_node' }, 'front.node is not set: this front does not hear maintenance mode');
    await Promise.all([bounded(this.maintenance?.start(), 3000), this.followApps(this.table)]);
    try {
      await this.server.listen(cfg.listen.port, cfg.listen.host);
      if (cfg.admin) {
        this.admin = createServer((req, res) => void this.adminRequest(req, res));
        await listenOn(this.admin, { port: cfg.admin.port, host: cfg.admin.host });
      }
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.health.start();
    this.startLoads();
    this.log.info({ event: 'front_ready', listen: `${cfg.listen.host}:${cfg.listen.port}`, admin: cfg.admin ? `${cfg.admin.host}:${cfg.admin.port}` : null, policy: cfg.policy, backends: this.proxy.state.list.map((b) => b.id) }, 'front ready');
  }

  /** Applies a new host table whole, or nothing: an invalid one throws before any change. */
  reload(table: HostTable): void {
    const cfg = frontConfig(table);
    const old = this.proxy.state;
    if (cfg.listen.host !== old.cfg.listen.host || cfg.listen.port !== old.cfg.listen.port) throw new Error('front.listen cannot change on reload; restart the front');
    if (JSON.stringify(cfg.admin) !== JSON.stringify(old.cfg.admin)) throw new Error('front.admin cannot change on reload; restart the front');
    if (cfg.node !== old.cfg.node) throw new Error('front.node cannot change on reload; restart the front');
    this.table = table;
    this.swap();
    for (const t of this.proxy.tunnels) t.setIdle(cfg.timeouts.tunnelIdleMs);
    this.server.configure(serverOptions(cfg));
    this.budget.configure(cfg.retries.budgetRatio, cfg.retries.minPerSecond);
    this.health.restart();
    this.loads?.stop();
    this.startLoads();
    void this.followApps(table);
    this.reloads++;
    this.log.info({ event: 'front_reloaded', policy: cfg.policy, backends: this.proxy.state.list.map((b) => b.id) }, 'configuration reloaded');
  }

  /**
   * Builds the state for the current table and back-ends and swaps it in whole: a reload,
   * or an app registry that changed. Back-ends that stay keep their health and connections.
   */
  private swap(): void {
    const old = this.proxy.state;
    const state = this.buildState(this.table, old.byId);
    for (const b of old.list) if (!state.byId.has(b.id)) b.close();
    this.proxy.state = state;
    this.proxy.admission.carry(old, state);
    this.metrics?.retain(new Set(state.routes.map((r) => r.cfg.name)), new Set([...state.byId.values()].map((b) => b.series)));
  }

  /** backends: apps follows every pool's registry (and reports request counts back); otherwise nothing. */
  private async followApps(table: HostTable): Promise<void> {
    if (!routeConfigs(frontConfig(table)).some((r) => r.backends === 'apps') || !this.caller) {
      this.apps?.stop();
      this.served?.stop();
      this.apps = this.served = undefined;
      return;
    }
    if (!this.apps) {
      this.apps = new AppRegistries(this.caller.call, (node) => this.table.nodes.find((n) => n.id === node)?.host, this.log, () => this.swap());
      this.served = new ServedReporter(this.caller.call, () => this.proxy.state.list, this.log);
      this.served.start();
    }
    // At start, wait (briefly) for the first answers so the front does not open with no back-ends.
    await this.apps.follow(poolNodes(table), 3000);
  }

  setAdmin(id: string, admin: 'ready' | 'draining'): Backend {
    const b = this.proxy.state.byId.get(id);
    if (!b) throw new Error(`no back-end '${id}' (back-ends: ${this.proxy.state.list.map((x) => x.id).join(', ')})`);
    if (b.admin !== admin) this.log.info({ event: admin === 'draining' ? 'backend_draining' : 'backend_ready', backend: id, by: 'admin' }, `${id} ${admin}`);
    b.admin = admin;
    return b;
  }

  async status() {
    const now = Date.now();
    const { cfg, list } = this.proxy.state;
    return {
      listen: `${cfg.listen.host}:${cfg.listen.port}`,
      policy: cfg.policy,
      sticky: cfg.sticky.mode,
      uptimeS: Math.round((now - this.started) / 1000),
      reloads: this.reloads,
      tunnels: this.proxy.tunnels.size,
      connections: this.server.connectionCount,
      apps: this.apps?.status() ?? null,
      maintenance: this.maintenance ? { ...this.maintenance.state, pagesServed: this.proxy.maintenancePages } : null,
      backends: list.map((b) => ({ ...b.status(now), load: b.node === undefined ? null : (this.loads?.get(b.node) ?? null) })),
      routes: this.proxy.state.routes.map((r) => ({
        name: r.cfg.name,
        prefix: r.cfg.prefix,
        host: r.cfg.host ?? null,
        policy: r.policy.name,
        sticky: r.cfg.sticky.mode,
        backends: r.list.map((b) => b.id),
        waiting: r.waiting.length,
        dispatcher: r.remote ? { node: r.remote.node, state: r.remote.state, shared: r.remote.shared, alone: r.remote.alone, batches: r.remote.batches } : null,
      })),
    };
  }

  async stop(): Promise<void> {
    this.health.stop();
    this.loads?.stop();
    this.apps?.stop();
    this.served?.stop();
    this.maintenance?.stop();
    for (const remote of this.remotes.values()) remote.stop();
    this.caller?.close();
    const closed = this.server.close(5000);
    this.dashboard.close();
    this.admin?.close();
    this.admin?.closeAllConnections();
    await closed;
    for (const b of this.proxy.state.list) b.close();
    this.log.info({ event: 'front_stopped' }, 'front stopped');
  }

  private buildState(table: HostTable, previous: Map<string, Backend>): FrontState {
    const cfg = frontConfig(table);
    const apps = this.apps?.backends() ?? [];
    const byId = new Map<string, Backend>();
    const routes: RouteState[] = [];
    const policies = new Map<string, Policy>();
    const remotes = new Map<string, RemoteDispatcher>();
    for (const rc of routeConfigs(cfg)) {
      const frontCfg: FrontConfig = { ...cfg, backends: rc.backends, policy: rc.policy, chashLoadFactor: rc.chashLoadFactor, sticky: rc.sticky, health: rc.health, lard: rc.lard, dispatcher: rc.dispatcher };
      const defs = rc.backends === 'access' ? accessBackends(table) : rc.backends === 'apps' ? apps.map((a) => a.def) : rc.backends;
      const list = defs.map((def) => {
        // One back-end object per id: a second route that lists it shares it (same address, checked at load).
        const shared = byId.get(def.id);
        if (shared) return shared;
        const old = previous.get(def.id);
        let b: Backend;
        // Same address: keep its health, counters and connections; otherwise start afresh.
        if (old && old.host === def.host && old.port === def.port) {
          old.configure(def, frontCfg);
          b = old;
        } else {
          b = new Backend(def, frontCfg);
        }
        byId.set(def.id, b);
        return b;
      });
      const routeById = new Map(list.map((b) => [b.id, b]));
      // A DYING instance (its registry says so) takes only the requests of its sessions.
      if (rc.backends === 'apps') {
        for (const { def, dying } of apps) {
          const b = routeById.get(def.id);
          if (!b || !dying || b.admin === 'draining') continue;
          b.admin = 'draining';
          this.log.info({ event: 'backend_draining', backend: b.id, by: 'app registry' }, `${b.id} is dying: its sessions only`);
        }
      }
      const sticky = rc.sticky.mode === 'cookie' ? new Stickiness(rc.sticky, list.map((b) => b.id)) : undefined;
      // A policy with memory (LARD's targets, the hash ring) outlives swaps while its settings stay.
      const policyCfg = { ...rc, policy: stickyPolicy(rc) };
      const policyKey = `${rc.name}|${policyCfg.policy}|${rc.chashLoadFactor}|${JSON.stringify(rc.lard)}`;
      const policy = this.policies.get(policyKey) ?? createPolicy(policyCfg, (node) => this.loads?.get(node));
      policies.set(policyKey, policy);
      let remote: RemoteDispatcher | undefined;
      if (rc.dispatcher && this.caller && policy instanceof LardPolicy) {
        const remoteKey = `${policyKey}|${rc.dispatcher.node}|${rc.dispatcher.timeoutMs}`;
        remote = this.remotes.get(remoteKey) ?? new RemoteDispatcher({ call: this.caller.call, node: rc.dispatcher.node, route: rc.name, local: policy, timeoutMs: rc.dispatcher.timeoutMs, log: this.log });
        remotes.set(remoteKey, remote);
      }
      routes.push({ cfg: rc, frontCfg, list, byId: routeById, policy, sticky, remote, waiting: [], deciding: 0 });
    }
    for (const [key, remote] of this.remotes) if (!remotes.has(key)) remote.stop();
    this.policies = policies;
    this.remotes = remotes;
    return { cfg, routes, list: [...byId.values()], byId, adminToken: cfg.admin?.token };
  }

  private startLoads(): void {
    const cfg = this.config;
    this.loads = undefined;
    if (!routeConfigs(cfg).some((r) => r.policy === 'least_load')) return;
    if (!cfg.node) {
      this.log.warn({ event: 'no_load_source' }, "least_load without front.node: no load figures, falling back to fewest requests in flight");
      return;
    }
    this.loads = new LoadSource(this.caller!.call, () => this.proxy.state.list.flatMap((b) => (b.node ? [b.node] : [])), this.log);
    this.loads.start();
  }

  private async adminRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body) + '\n');
    };
    const token = this.config.admin?.token;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const dashboard = isDashboardPath(path);
    // Host, Origin, the token, and a token or X-Cohort-Admin on what changes something (admin-guard.ts).
    const refused = adminRefusal(req, { names: [this.config.admin?.host ?? '127.0.0.1'], token, tokenHint: `admin token required (Authorization: Bearer ...${dashboard ? ', or ?token=...' : ''})` });
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
        return send(200, { ...(await this.status()), memory: { rss: memory.rss, heapUsed: memory.heapUsed } });
      }
      const m = /^\/backends\/([^/]+)\/(drain|ready)$/.exec(url);
      if (req.method === 'POST' && m) return send(200, this.setAdmin(decodeURIComponent(m[1]), m[2] === 'drain' ? 'draining' : 'ready').status(Date.now()));
      if (req.method === 'POST' && url === '/reload') {
        this.reload(loadHostTable(this.table.file));
        return send(200, { reloaded: true, reloads: this.reloads });
      }
      send(404, { error: `no admin route ${req.method} ${url}` });
    } catch (err) {
      send(400, { error: err instanceof Error ? err.message : String(err) });
    }
  }
}

/** backends: access — every access node's own HTTP port. */
function accessBackends(table: HostTable): BackendConfig[] {
  return table.nodes.filter((n) => n.role === 'access').map((n) => ({ id: n.id, host: n.host, port: n.httpPort, weight: 1, node: n.id }));
}

function serverOptions(cfg: FrontConfig): HttpServerOptions {
  const { limits, timeouts } = cfg;
  return { maxHeaderBytes: limits.maxHeaderBytes, maxConnections: limits.maxClientConnections, headersMs: timeouts.headersMs, bodyMs: Math.max(timeouts.headersMs, 300_000), idleMs: timeouts.idleMs };
}
