import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { appSettingsFor, type HostTable } from '../config/host-table.ts';
import { FrontMetrics } from './front-metrics.ts';
import { DashboardFeed } from '../admin/dashboard-feed.ts';
import { clusterStatus, type NodeSnapshot } from '../admin/node-status.ts';
import { AppRegistries } from './app-backends.ts';
import { frontStatus } from './front-status.ts';
import type { Backend } from './backend.ts';
import { routeConfigs, type FrontConfig } from './config.ts';
import { HealthChecker } from './health.ts';
import { HttpServer } from './http/server.ts';
import { LoadSource } from './load-source.ts';
import { bounded } from './long-poll.ts';
import { MaintenanceWatch } from './maintenance-watch.ts';
import { loadFrontTable, TableFollower } from './table-follower.ts';
import { NodeConnection } from '../client/node-connection.ts';
import { Proxy } from './proxy.ts';
import { RetryBudget } from './retry-budget.ts';
import { ServedReporter } from './served-reporter.ts';
import { AdminServer, type AdminFront } from './admin-server.ts';
import type { FrontState } from './front-state.ts';
import { buildGeneration, type Generation } from './generation.ts';
import { listenerOptions } from './listener-options.ts';
import { RedirectServer } from './tls/redirect-server.ts';
import { ListenerCertificates, warnExpiring } from '../tls/listener-certificates.ts';
import type { AcmeManager } from './tls/acme/acme-manager.ts';
import { frontAcme } from './tls/acme/front-acme.ts';
import { AcmeItems } from '../acme/acme-items.ts';
import { acmeHome } from '../acme/issued-certificate.ts';
import { SharedTicketKeys } from './tls/shared-tickets.ts';

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
export class Front implements AdminFront {
  private table: HostTable;
  private readonly log: Logger;
  private readonly proxy: Proxy;
  private readonly budget: RetryBudget;
  private readonly server: HttpServer;
  private readonly admin: AdminServer | undefined;
  /** front.redirect: plain HTTP answered with a 308 to HTTPS. */
  private readonly redirect: RedirectServer | undefined;
  /** The certificate files, watched: a renewal is served without a reload. */
  private readonly certificates: ListenerCertificates;
  /** front.listen.tls.acme: certificates ordered and renewed through the node network. */
  private readonly acme: AcmeManager | undefined;
  private readonly sharedTickets: SharedTicketKeys | undefined;
  private readonly health: HealthChecker;
  private loads: LoadSource | undefined;
  /** The front's link into the node network (front.node): load figures, app registries. */
  private readonly caller: NodeConnection | undefined;
  /** The cluster's host table versions, followed through front.node (issue 28). */
  private readonly follower: TableFollower | undefined;
  /** The signed text's hash of the table it runs on (undefined: unsigned, or not known). */
  tableHash: string | undefined;
  /** backends: apps — the registries followed, and the request counts reported back. */
  private apps: AppRegistries | undefined;
  private served: ServedReporter | undefined;
  /** Cluster-wide maintenance mode, followed through front.node. */
  private readonly maintenance: MaintenanceWatch | undefined;
  private readonly started = Date.now();
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
    const first = this.build(table, undefined);
    this.proxy = new Proxy(first.state, this.budget, log);
    first.commit();
    if (cfg.admin) {
      this.metrics = new FrontMetrics(() => this.proxy.state.list, () => ({ connections: this.server.protocolCounts(), tunnels: this.proxy.tunnels.size, maintenancePages: this.proxy.maintenancePages }));
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
    if (cfg.admin) this.admin = new AdminServer(this, this.metrics, this.dashboard);
    this.health = new HealthChecker(() => this.proxy.state.all, () => [this.proxy.state.cfg.health.intervalMs, ...this.proxy.state.routes.map((r) => r.cfg.health.intervalMs)]);
    if (this.caller) this.follower = new TableFollower({ node: this.caller.node, call: this.caller.call, table: () => this.table, apply: (t, hash) => this.reload(t, hash), log });
    if (this.caller) this.acme = frontAcme(table, cfg, this.caller.call, log, () => this.takeUpAcme());
    // Session ticket keys through the node network (the ACME home keeps them), unless a secret derives them.
    if (this.caller && cfg.listen.tls) this.sharedTickets = new SharedTicketKeys(() => this.server?.tickets, new AcmeItems(this.caller.call, acmeHome(table, cfg.listen.tls.acme?.home)), log);
    this.certificates = new ListenerCertificates(log, () => {
      const options = listenerOptions(this.config, dirname(this.table.file), this.server.tickets, this.acme);
      this.server.configure(options);
      return options.tls!.certificates.summary;
    });
    if (cfg.redirect) this.redirect = new RedirectServer(cfg.redirect.httpsPort ?? cfg.listen.port, { maxConnections: cfg.limits.maxClientConnections, headersMs: cfg.timeouts.headersMs, maxHeaderBytes: cfg.limits.maxHeaderBytes }, (name) => this.server.serves(name));
    if (this.redirect && this.acme) this.redirect.httpChallenge = (token) => this.acme!.challenges.httpAnswer(token);
    this.server = new HttpServer(
      listenerOptions(cfg, dirname(table.file), undefined, this.acme),
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
    await Promise.all([bounded(this.maintenance?.start(), 3000), bounded(this.sharedTickets?.start(), 3000), this.followApps(this.table)]);
    // This front's own ACME copies in service before the listener opens (the home is asked once it is open).
    this.acme?.loadCopies();
    try {
      await this.server.listen(cfg.listen.port, cfg.listen.host);
      if (cfg.admin) await this.admin!.listen(cfg.admin.port, cfg.admin.host);
      if (cfg.redirect) await this.redirect!.listen(cfg.redirect.port, cfg.redirect.host);
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.health.start();
    this.follower?.start();
    this.startLoads();
    this.acme?.start();
    this.certificates.follow(cfg.listen.tls, dirname(this.table.file));
    warnExpiring(this.log, this.server.certificates);
    this.log.info({ event: 'front_ready', listen: `${cfg.listen.tls ? 'https' : 'http'}://${cfg.listen.host}:${cfg.listen.port}`, redirect: cfg.redirect ? `${cfg.redirect.host}:${cfg.redirect.port}` : null, admin: cfg.admin ? `${cfg.admin.host}:${cfg.admin.port}` : null, policy: cfg.policy, backends: this.proxy.state.list.map((b) => b.id) }, 'front ready');
  }

  /** Applies a new host table whole, or nothing: an invalid one throws before any change. `hash`: its signed text's. */
  reload(table: HostTable, hash?: string): void {
    if (table.version < this.table.version) throw new Error(`host table version ${table.version} is older than version ${this.table.version}, which this front runs on`);
    if (table.version === this.table.version && table.version > 0 && hash !== undefined && this.tableHash !== undefined && hash !== this.tableHash) throw new Error(`another text of host table version ${table.version} than the one this front runs on: a version is signed once`);
    const cfg = frontConfig(table);
    const old = this.proxy.state;
    if (cfg.listen.host !== old.cfg.listen.host || cfg.listen.port !== old.cfg.listen.port) throw new Error('front.listen cannot change on reload; restart the front');
    if (JSON.stringify(cfg.admin) !== JSON.stringify(old.cfg.admin)) throw new Error('front.admin cannot change on reload; restart the front');
    if (cfg.node !== old.cfg.node) throw new Error('front.node cannot change on reload; restart the front');
    if (!cfg.listen.tls !== !old.cfg.listen.tls) throw new Error('front.listen.tls cannot be turned on or off on reload; restart the front');
    if (JSON.stringify(cfg.redirect) !== JSON.stringify(old.cfg.redirect)) throw new Error('front.redirect cannot change on reload; restart the front');
    if (JSON.stringify(cfg.listen.tls?.acme) !== JSON.stringify(old.cfg.listen.tls?.acme)) throw new Error('front.listen.tls.acme cannot change on reload; restart the front');
    // Certificates read and checked before anything changes: a bad file rejects the reload.
    const options = listenerOptions(cfg, dirname(table.file), this.server.tickets, this.acme);
    // Built whole beside the generation in service: if this throws, nothing has changed.
    const next = this.build(table, old);
    this.table = table;
    if (hash !== undefined) this.tableHash = hash;
    this.swapIn(next);
    for (const t of this.proxy.tunnels) t.setIdle(cfg.timeouts.tunnelIdleMs);
    this.server.configure(options);
    this.budget.configure(cfg.retries.budgetRatio, cfg.retries.minPerSecond);
    this.health.restart();
    this.loads?.stop();
    this.startLoads();
    void this.followApps(table);
    this.reloads++;
    this.certificates.follow(cfg.listen.tls, dirname(table.file));
    warnExpiring(this.log, this.server.certificates);
    this.log.info({ event: 'front_reloaded', policy: cfg.policy, backends: this.proxy.state.list.map((b) => b.id) }, 'configuration reloaded');
  }

  /** The admin listener's POST /reload: the host table's file, read again. */
  reloadFromFile(): number {
    const { table, hash } = loadFrontTable(this.table.file);
    this.reload(table, hash);
    return this.reloads;
  }

  /** A generation for a host table, built beside the one in service (nothing live changes). */
  private build(table: HostTable, previous: FrontState | undefined): Generation {
    return buildGeneration({ table, cfg: frontConfig(table), apps: this.apps?.backends() ?? [], previous, call: this.caller?.call, loads: (node) => this.loads?.get(node), log: this.log });
  }

  /**
   * Swaps a generation in, in one step, then lets it take over what it keeps (commit):
   * requests waiting for admission move to it, gone back-ends and dispatchers stop.
   */
  private swapIn(next: Generation): void {
    const old = this.proxy.state;
    const state = next.state;
    this.proxy.state = state;
    next.commit();
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
      this.apps = new AppRegistries(this.caller.call, (node) => this.table.nodes.find((n) => n.id === node)?.host, this.log, () => this.swapIn(this.build(this.table, this.proxy.state)));
      this.served = new ServedReporter(this.caller.call, () => this.proxy.state.all, this.log);
      this.served.start();
    }
    // At start, wait (briefly) for the first answers so the front does not open with no back-ends.
    await this.apps.follow(poolNodes(table), 3000);
  }

  setAdmin(id: string, admin: 'ready' | 'draining'): Backend {
    const { byId, list } = this.proxy.state;
    const b = byId.get(id);
    if (!b) throw new Error(`no back-end '${id}' (back-ends: ${list.map((x) => x.id).join(', ')})`);
    if (b.admin !== admin) this.log.info({ event: admin === 'draining' ? 'backend_draining' : 'backend_ready', backend: id, by: 'admin' }, `${id} ${admin}`);
    // Every route's object for it (routes with their own health settings have their own).
    for (const x of b.sameId) x.admin = admin;
    return b;
  }

  async status() {
    return frontStatus({
      state: this.proxy.state,
      startedAt: this.started,
      reloads: this.reloads,
      certificates: this.server.certificates,
      tunnels: this.proxy.tunnels.size,
      connections: this.server.connectionCount,
      protocols: this.server.protocolCounts(),
      apps: this.apps?.status(),
      maintenance: this.maintenance && { ...this.maintenance.state, pagesServed: this.proxy.maintenancePages },
      load: (node) => this.loads?.get(node),
    });
  }

  /** A certificate ACME issued (here or on another front) goes into service for new handshakes. */
  private takeUpAcme(): void {
    this.certificates.reread('an ACME certificate arrived');
  }

  async stop(): Promise<void> {
    this.follower?.stop();
    this.acme?.stop();
    this.sharedTickets?.stop();
    this.health.stop();
    this.loads?.stop();
    this.apps?.stop();
    this.served?.stop();
    this.maintenance?.stop();
    for (const r of this.proxy.state.routes) r.remote?.stop();
    this.caller?.close();
    const closed = this.server.close(5000);
    this.dashboard.close();
    this.admin?.close();
    this.certificates.close();
    await Promise.all([closed, this.redirect?.close()]);
    for (const b of this.proxy.state.all) b.close();
    this.log.info({ event: 'front_stopped' }, 'front stopped');
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
}
