import { mkdirSync } from 'node:fs';
import type { DatabaseSync } from 'node:sqlite';
import type { Logger } from 'pino';
import { registerOutboxCommands } from '../critical/commands.ts';
import { CriticalService } from '../critical/critical-service.ts';
import { CriticalInbox } from '../critical/inbox.ts';
import { registerJournalCommands } from '../journal/commands.ts';
import { registerAccessCommands } from '../records/access-commands.ts';
import { DomainPolicy } from '../records/domain-policy.ts';
import { registerHomeCommands } from '../records/home-commands.ts';
import { NameClaims } from '../records/name-claims.ts';
import { HomeLookup } from '../records/home-lookup.ts';
import { FailureLimiter } from '../records/rate-limit.ts';
import { RecordStore } from '../records/record-store.ts';
import { UserStore } from '../records/user-store.ts';
import { Journal } from '../journal/journal.ts';
import { inspectWal, nodeDatabasePath, openNodeDatabase, openSessionsDatabase, quickCheck } from '../store/database.ts';
import { armCommitFaults } from '../store/commit-faults.ts';
import { GroupCommit } from '../store/group-commit.ts';
import { AppPool } from '../supervisor/pool.ts';
import { registerAppCommands } from '../supervisor/commands.ts';
import { MaintenanceStore, registerMaintenanceCommands } from '../supervisor/maintenance.ts';
import { registerSessionCommands, StampClock } from '../sessions/commands.ts';
import { SessionCopies } from '../sessions/copies.ts';
import { SessionStore } from '../sessions/session-store.ts';
import { SessionPruner } from '../sessions/pruner.ts';
import { loadFigures } from '../sessions/load.ts';
import { registerLoginCommands } from '../sessions/login-commands.ts';
import { pdeathsigAvailable } from '../supervisor/app-process.ts';
import { appSettingsDigest, appSettingsFor, appSocketPath, findNode, loadHostTable, localSocketPath, nodeDataDir, type HostTable } from '../config/host-table.ts';
import { CommandRegistry, LOCAL } from '../commands/registry.ts';
import { registerBuiltins } from '../commands/builtin.ts';
import { LinkServer } from '../net/link-server.ts';
import { LocalSockets } from './local-sockets.ts';
import { Peer } from '../net/peer.ts';
import { loadTlsMaterial } from '../net/tls-material.ts';
import { ReplicationService } from '../replication/service.ts';
import { registerDispatcherCommands, SharedLard } from '../dispatcher/shared-lard.ts';
import { NodeMetrics } from '../admin/node-metrics.ts';
import { SharedFetch } from '../admin/shared-fetch.ts';
import { DashboardFeed } from '../admin/dashboard-feed.ts';
import { clusterStatus, nodeSnapshot, SNAPSHOT_PING_CAP_MS, type NodeSnapshot } from '../admin/node-status.ts';
import { isLoopback } from '../loopback.ts';
import { z } from 'zod';
import { Router } from './router.ts';

/**
 * One Cohort daemon: accepts peers' links, keeps a link to every peer, listens on the
 * local socket, and runs or forwards commands. Provision (config, certificates) happens
 * in the constructor, so a bad setup fails before anything listens.
 */
export class CohortNode {
  readonly id: string;
  readonly table: HostTable;
  readonly registry = new CommandRegistry();
  readonly peers = new Map<string, Peer>();
  private readonly log: Logger;
  private readonly linkServer: LinkServer;
  private readonly localSockets: LocalSockets;
  private readonly router: Router;
  private readonly db: DatabaseSync;
  readonly inbox: CriticalInbox;
  readonly critical: CriticalService;
  private readonly commit: GroupCommit;
  private pruneTimer: NodeJS.Timeout | undefined;
  /** Drops expired sessions, all of them each minute, in short batches. */
  private readonly sessionPruner: SessionPruner;
  /** This node's copies of sessions. */
  private readonly sessions: SessionStore;
  private readonly sessionsDb: DatabaseSync;
  private readonly sessionCopies: SessionCopies;
  /** The app servers this node supervises (seed 001), if the host table gives it any. */
  readonly apps: AppPool | undefined;
  readonly maintenance: MaintenanceStore;
  /** Resources: published here, copied here, served on the node's HTTP port. */
  private readonly replication: ReplicationService;
  private readonly users: UserStore;
  private readonly homes: HomeLookup;
  private readonly policy: DomainPolicy;
  /**
   * Link round trips for /metrics and dashboards (theirs and peers' status.snapshot): one ping per
   * up link at most once a second, whoever asks (a scrape storm or many dashboards send no more).
   */
  private readonly roundTrips = new SharedFetch(1000, () => this.measureRoundTrips(SNAPSHOT_PING_CAP_MS));
  /** GET /metrics on the HTTP port (Prometheus text), read from live state when scraped. */
  readonly metrics: NodeMetrics;

  constructor(table: HostTable, id: string, log: Logger) {
    this.id = id;
    this.table = table;
    this.log = log;
    const self = findNode(table, id);
    const tls = loadTlsMaterial(table.tlsDir, table.cluster, id);
    mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
    const torn = inspectWal(nodeDatabasePath(this.dataDir));
    if (torn) {
      log.error({ event: 'wal_torn_tail', bytes: torn.tornBytes }, `the database's write-ahead log ends ${torn.tornBytes} bytes into an incomplete frame; SQLite drops that tail, what came before is kept`);
    }
    this.db = openNodeDatabase(this.dataDir);
    const commit = (this.commit = new GroupCommit(this.db));
    for (const entry of table.nodes) {
      if (entry.id === id) continue;
      const peer = new Peer({ self: id, cluster: table.cluster, peer: entry, tls, link: table.link }, log);
      this.peers.set(entry.id, peer);
    }
    this.router = new Router(id, table, this.registry, this.peers);
    registerBuiltins(this.registry, {
      self: id,
      load: () => loadFigures({ self: id, fullAt: self.loadFullAt ?? table.loadFullAt, userLimit: self.loadUserLimit ?? table.loadUserLimit, windowMs: table.loadSessionWindowMs, activeSessions: (since) => this.sessions.madeHereActiveSince(id, since) }),
      peers: () => [...this.peers.values()].map((p) => p.snapshot()),
      inboundPeers: () => this.linkServer.connectedPeers(),
      reconnectAll: () => this.reconnectAll(),
    });
    registerJournalCommands(this.registry, new Journal(this.db));
    this.inbox = new CriticalInbox(this.db, this.registry, commit, log);
    this.critical = new CriticalService({ self: id, db: this.db, commit, inbox: this.inbox, peers: this.peers, settings: table.critical, log });
    registerOutboxCommands(this.registry, this.critical);
    // Any node can be the LARD dispatcher a front's route names.
    registerDispatcherCommands(this.registry, new SharedLard());
    const callAsNode = async (to: string, cmd: string, args: unknown) => this.router.route(to, cmd, args, { from: LOCAL });
    this.users = new UserStore(this.db);
    this.homes = new HomeLookup(this.table, this.db, callAsNode);
    this.policy = new DomainPolicy(this.table, this.id, log);
    this.registerRecords(log, callAsNode);
    const appSettings = appSettingsFor(table, id);
    this.apps = appSettings && new AppPool(self, appSettings, table.file, appSocketPath(table, id), log);
    registerAppCommands(this.registry, { self: id, pool: this.apps, readSettings: () => {
        const onDisk = loadHostTable(table.file);
        return { settings: appSettingsFor(onDisk, id), digest: appSettingsDigest(onDisk, id) };
      }, log });
    // Every node keeps the cluster's maintenance mode (fronts may follow any node).
    this.maintenance = new MaintenanceStore(this.db, id);
    registerMaintenanceCommands(this.registry, this.maintenance);
    this.sessionsDb = openSessionsDatabase(this.dataDir);
    this.sessions = new SessionStore(this.sessionsDb);
    this.sessionPruner = new SessionPruner(this.sessions, log, { maxAnonymous: table.sessionsMaxAnonymous });
    const stamps = new StampClock();
    this.sessionCopies = new SessionCopies({ self: id, table, store: this.sessions, call: callAsNode, log, observe: stamps.observe });
    registerLoginCommands(this.registry, { self: id, table, call: callAsNode, log });
    registerSessionCommands(this.registry, { store: this.sessions, copies: this.sessionCopies, clock: stamps });
    // The dashboard: this node's snapshot (also asked for by peers' dashboards), and every node's.
    const snapshot = () =>
      nodeSnapshot({
        self: id,
        peers: () => [...this.peers.values()].map((p) => p.snapshot()),
        roundTrips: () => this.roundTrips.get(),
        outbox: () => this.critical.status(),
        load: () => this.registry.execute('load', {}, { from: LOCAL }),
        resources: (limit) => this.replication.summary(limit),
        apps: () => this.apps?.snapshot(),
      });
    this.registry.register({ name: 'status.snapshot', summary: "this node's status for a dashboard: links with round trips, outbox, load, resources, app instances", args: z.strictObject({}), scope: 'any', run: snapshot });
    // Beyond loopback, only with the admin token (checked per request by the HTTP service).
    const dashboard = isLoopback(self.host) || table.admin
      ? new DashboardFeed(`Cohort ${table.cluster}: node ${id}`, async () => ({
          cluster: await clusterStatus(table, id, (node) => (node === id ? snapshot() : (this.router.route(node, 'status.snapshot', {}, { from: LOCAL }) as Promise<NodeSnapshot>))),
          front: null,
        }))
      : undefined;
    this.replication = new ReplicationService({
      self,
      table,
      dataDir: this.dataDir,
      db: this.db,
      tls,
      registry: this.registry,
      critical: this.critical,
      policy: this.policy,
      isAuthorHere: (domain, author) => this.users.exists(domain, author),
      call: callAsNode,
      metrics: () => this.metrics.render(),
      dashboard,
      dashboardToken: table.admin?.token,
      dashboardRefusal: `the dashboard of a node beyond loopback (this node listens on ${self.host}) needs an admin token in the host table (admin: { token }); or use the front's admin listener, GET /dashboard?token=...`,
      log,
    });
    this.metrics = new NodeMetrics(id, {
      peers: () => [...this.peers.values()].map((p) => p.snapshot()),
      roundTrips: () => this.roundTrips.get(),
      outbox: () => this.critical.status(),
      critical: () => this.critical.outcomes,
      transfers: () => this.replication.transfers,
      appRestarts: () => this.apps?.restarts ?? 0,
    });
    this.linkServer = new LinkServer({
      self: id,
      table,
      tls,
      log,
      // A request with a message id is critical: applied once, in a transaction.
      onRequest: (from) => (req) => (req.mid ? this.inbox.apply(from, req.mid, req.cmd, req.args, req.oldest) : this.registry.execute(req.cmd, req.args, { from })),
      onRaw: this.replication.rawServer.accept,
    });
    // A peer that links to us is alive: dial it back at once instead of waiting out a back-off.
    this.linkServer.on('hello', (peerId: string) => this.peers.get(peerId)?.reconnectNow());
    this.localSockets = new LocalSockets({
      operatorPath: localSocketPath(table, id),
      appPath: appSocketPath(table, id),
      maxFrameBytes: table.link.maxFrameBytes,
      requestTimeoutMs: table.link.requestTimeoutMs + table.link.connectTimeoutMs,
      registry: this.registry,
      log,
      send: (req, who) => (req.crit ? this.critical.send(req.to ?? id, req.cmd, req.args) : this.router.route(req.to ?? id, req.cmd, req.args, { from: LOCAL, caller: who.caller })),
    });
  }

  /** A ping's round trip on each link that is up, in seconds (a peer left out: no answer within capMs). */
  private async measureRoundTrips(capMs: number): Promise<Map<string, number>> {
    const peers = [...this.peers.values()];
    const rtts = await Promise.all(peers.map((p) => p.roundTrip(capMs)));
    return new Map(peers.flatMap((p, i) => (rtts[i] === undefined ? [] : [[p.id, rtts[i]] as [string, number]])));
  }

  /** Users and records: the home side (library nodes) and the access side (every node). */
  private registerRecords(log: Logger, call: (to: string, cmd: string, args: unknown) => Promise<unknown>): void {
    registerHomeCommands(this.registry, {
      self: this.id,
      table: this.table,
      users: this.users,
      claims: new NameClaims(this.db),
      records: new RecordStore(this.db),
      call,
      policy: this.policy,
      limiter: new FailureLimiter(this.db, 5, 5 * 60_000),
      log,
    });
    registerAccessCommands(this.registry, {
      table: this.table,
      homes: this.homes,
      critical: this.critical,
      call,
      log,
    });
  }

  get dataDir(): string {
    return nodeDataDir(this.table, this.id);
  }

  async start(): Promise<void> {
    const self = findNode(this.table, this.id);
    const problems = quickCheck(this.db);
    if (problems.length) this.log.error({ event: 'database_damaged', problems }, 'SQLite quick_check found problems');
    await this.critical.start();
    const retentionMs = this.table.critical.inboxRetentionHours * 3_600_000;
    const prune = () => this.inbox.prune(Date.now() - retentionMs);
    prune();
    this.pruneTimer = setInterval(prune, Math.min(retentionMs, 3_600_000));
    this.pruneTimer.unref();
    this.sessionPruner.start();
    this.sessionCopies.start();
    await this.linkServer.listen(self.host, self.bindLinkPort ?? self.linkPort);
    await this.localSockets.listen();
    await this.replication.start();
    // Dialing every peer is also our announcement: each one that hears our hello dials back.
    for (const peer of this.peers.values()) peer.start();
    armCommitFaults();
    if (this.apps) {
      if (!pdeathsigAvailable) this.log.warn({ event: 'no_pdeathsig' }, 'setpriv (util-linux) not found: app instances would outlive a node killed with kill -9');
      this.apps.start();
    }
    this.log.info({ event: 'node_ready', linkPort: self.linkPort, socket: localSocketPath(this.table, this.id) }, `node ${this.id} ready`);
  }

  reconnectAll(): string[] {
    const redialed: string[] = [];
    for (const peer of this.peers.values()) {
      if (peer.state === 'down') {
        peer.reconnectNow();
        redialed.push(peer.id);
      }
    }
    return redialed;
  }

  async stop(): Promise<void> {
    clearInterval(this.pruneTimer);
    await this.sessionPruner.stop();
    this.sessionCopies.stop();
    await this.apps?.close();
    this.maintenance.close(); // answers the long polls waiting on it
    this.critical.stop();
    for (const peer of this.peers.values()) peer.stop();
    await Promise.all([this.linkServer.close(), this.localSockets.close(), this.replication.stop()]);
    await this.commit.run(() => undefined); // what was queued before is committed too
    this.db.close();
    this.sessionsDb.close();
    this.log.info({ event: 'node_stopped' }, `node ${this.id} stopped`);
  }
}
