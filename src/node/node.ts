import { dirname } from 'node:path';
import { acmeHome } from '../acme/issued-certificate.ts';
import { StoredCertificates } from '../acme/stored-certificates.ts';
import { AcmeItems } from '../acme/acme-items.ts';
import type { Logger } from 'pino';
import { z } from 'zod';
import { registerJournalCommands } from '../journal/commands.ts';
import { Journal } from '../journal/journal.ts';
import { DomainPolicy } from '../records/domain-policy.ts';
import { HomeStorePart, homeStoreFor } from './home-store-part.ts';
import { armCommitFaults } from '../store/commit-faults.ts';
import { MaintenanceStore, registerMaintenanceCommands } from '../supervisor/maintenance.ts';
import { AcmeStore, registerAcmeCommands } from '../acme/acme-store.ts';
import { loadFigures } from '../sessions/load.ts';
import { appSocketPath, findNode, localSocketPath, nodeDataDir, type HostTable } from '../config/host-table.ts';
import { CommandRegistry, LOCAL } from '../commands/registry.ts';
import { registerBuiltins } from '../commands/builtin.ts';
import { LocalSockets } from './local-sockets.ts';
import { loadTlsMaterial } from '../net/tls-material.ts';
import { ReplicationService } from '../replication/service.ts';
import { registerDispatcherCommands, SharedLard } from '../dispatcher/shared-lard.ts';
import { isLoopback } from '../loopback.ts';
import { Router } from './router.ts';
import { AppPart } from './app-part.ts';
import { CriticalPart } from './critical-part.ts';
import { NodeHttpPort } from './http-port.ts';
import { Lifecycle } from './lifecycle.ts';
import { NodeLinks } from './links.ts';
import type { StartTable } from './accepted-table.ts';
import { NodeHosts } from './node-hosts.ts';
import { NodeDatabase } from './node-database.ts';
import { NodeHomes } from './node-homes.ts';
import { NodeTerms } from './node-terms.ts';
import { lanesServedBy } from '../homes/terms/voters.ts';
import { CohortError } from '../errors.ts';
import { FailureLimiter, LOGIN_FAILURE_LIMIT, LOGIN_FAILURE_WINDOW_MS } from '../records/rate-limit.ts';
import { NodeSessions } from './node-sessions.ts';
import { registerRecordCommands } from './record-commands.ts';
import { UserMover } from '../homes/user-mover.ts';
import { backupOf } from '../homes/backup-of.ts';
import { StatusPages } from './status-pages.ts';

/**
 * One Cohort daemon: accepts peers' links, keeps a link to every peer, listens on the local
 * socket and its HTTP port, and runs or forwards commands. Provision (config, certificates,
 * databases) happens in the constructor, so a bad setup fails before anything listens; then
 * the node is its parts, started in the order `parts` lists them and stopped in reverse.
 */
export class CohortNode {
  readonly id: string;
  readonly table: HostTable;
  readonly registry = new CommandRegistry();
  private readonly log: Logger;
  private readonly parts: Lifecycle;

  /** The host table over time (issue 28): versions taken while running. */
  readonly hosts: NodeHosts;

  /** `start`: the table to run on (accepted-table.ts: the config file or a newer version accepted earlier). */
  constructor(start: StartTable, configFile: string, id: string, log: Logger) {
    const table = start.table;
    this.id = id;
    this.table = table;
    this.log = log;
    const self = findNode(table, id);
    const tls = loadTlsMaterial(table.tlsDir, table.cluster, id, self.certSha256);
    const database = new NodeDatabase(nodeDataDir(table, id), log);
    const { db, commit } = database;
    const registry = this.registry;
    const links: NodeLinks = new NodeLinks({
      self,
      table,
      tls,
      log,
      tableVersion: () => hosts.version(),
      // A new node started on a newer signed version brings it in its hellos, and takes one a hello brings (issue 28).
      tableToBring: () => hosts.signedTable(),
      takeTable: start.held ? (brought, from) => hosts.offer(brought, from) : undefined,
      // A request with a message id is critical: applied once, in a transaction.
      onRequest: (from) => (req) => (req.mid ? critical.inbox.apply(from, req.mid, req.cmd, req.args, req.oldest, laneServed(req.lane)) : registry.execute(req.cmd, req.args, { from })),
      onRaw: (socket, from) => replication.rawServer.accept(socket, from),
    });
    const peers = links.peers;
    const router = new Router(id, table, registry, peers);
    // A home's lane (issue 27) is this node's own home or one it may take over as its backup: any other is no message for it.
    // Computed again when a library node joins (issue 28).
    let lanes = lanesServedBy(table, id);
    const laneServed = (lane: string | undefined) => {
      if (lane !== undefined && !lanes.includes(lane)) throw new CohortError('refused', `${id} takes no writes of ${lane}'s lane (it is neither ${lane} nor its backup)`);
      return lane;
    };
    const callAsNode = async (to: string, cmd: string, args: unknown) => router.route(to, cmd, args, { from: LOCAL });
    const sessions = new NodeSessions({ self: id, table, db: database.sessionsDb, registry, call: callAsNode, log });
    const hosts = new NodeHosts({ self: id, table, configFile, held: start.held, peers, registry, call: callAsNode, log });
    this.hosts = hosts;
    links.onPeerTable = (peer, heard) => hosts.peerSaid(peer, heard);
    hosts.appliers = {
      nodesAdded: async (entries) => {
        await links.added(entries);
        for (const e of entries) critical.service.addPeer(peers.get(e.id)!);
        // A library node joining (issue 28): a lane to it, and, on its backup, its copy and its term.
        lanes = lanesServedBy(table, id);
        for (const e of entries.filter((n) => n.role === 'library')) {
          critical.homeAdded(e.id);
          if (backupOf(table, e.id) !== id) continue;
          homes.keepCopyOf(e.id);
          terms.addBackedUp(e.id);
        }
      },
      nodesRemoved: async (ids) => {
        await links.removed(ids);
        for (const id of ids) {
          await critical.service.removePeer(id);
          replication.nodeRemoved(id);
        }
      },
      placedAnew: (previous) => sessions.tableChanged(previous),
    };
    registerBuiltins(registry, {
      self: id,
      load: () => loadFigures({ self: id, fullAt: self.loadFullAt ?? table.loadFullAt, userLimit: self.loadUserLimit ?? table.loadUserLimit, windowMs: table.loadSessionWindowMs, activeSessions: (since) => sessions.store.madeHereActiveSince(id, since) }),
      peers: () => [...peers.values()].map((p) => p.snapshot()),
      inboundPeers: () => links.connectedPeers(),
      reconnectAll: () => links.reconnectAll(),
    });
    registerJournalCommands(registry, new Journal(db));
    // A home's changes are logged for its backup, and their answers wait for it (issue 27).
    const policy = new DomainPolicy(table, id, log);
    // The home's login limiter (its failures told to its backup; the backup's told to it): made once the homes part says where they go.
    const terms = new NodeTerms({ self: id, table, dataDir: this.dataDir, registry, call: callAsNode, log });
    const homes: NodeHomes = new NodeHomes({ self: id, table, db, dataDir: this.dataDir, registry, policy, terms, ownLogins: { told: (domain, events) => logins.told(domain, events) }, call: callAsNode, log });
    const logins = new FailureLimiter(db, LOGIN_FAILURE_LIMIT, LOGIN_FAILURE_WINDOW_MS, { sink: homes.loginFailures });
    // Her users and records: this node's SQLite file (its changes logged for the backup) or PostgreSQL.
    const homeStore = homeStoreFor(self, db, commit, homes.log, log);
    const critical = new CriticalPart({ self: id, table, db, commit, registry, peers, log, backup: homes, store: homeStore });
    // Any node can be the LARD dispatcher a front's route names.
    registerDispatcherCommands(this.registry, new SharedLard());
    registerRecordCommands(registry, { self: id, table, db, store: homeStore, logins, backup: homes, lease: terms, takenOver: (domain, user) => homes.takenOver.find(domain, user), copies: homes, policy, critical: critical.service, call: callAsNode, log });
    const apps = new AppPart(self, table, registry, log);
    // Every node keeps the cluster's maintenance mode (fronts may follow any node).
    const maintenance = new MaintenanceStore(db, id);
    registerMaintenanceCommands(registry, maintenance);
    // The fronts' ACME state (account, certificates, leases) on whichever node is their ACME home.
    registerAcmeCommands(registry, new AcmeStore(db));
    const replication = new ReplicationService({ self, table, dataDir: this.dataDir, db, tls, registry, critical: critical.service, policy, isAuthorHere: (domain, author) => homeStore.users.exists(domain, author), call: callAsNode, log });
    // `cohort user move` (issue 28): a user of this home moves to another library node of her domain.
    const userMover = new UserMover(registry, { self: id, table, store: homeStore, lease: terms, backup: homes, call: callAsNode, policy, hasPublished: (domain, user) => replication.hasPublished(domain, user), maxFrameBytes: table.link.maxFrameBytes, log });
    // The dashboard beyond loopback only with the admin token (checked per request by the HTTP port).
    const status = new StatusPages({ self: id, table, registry, peers, critical: critical.service, apps: apps.pool, resources: (limit) => replication.summary(limit), transfers: () => replication.transfers, memoryCache: () => replication.memoryCache, homeBackup: () => homes.backupStatus(), homeCopyAnswers: () => homes.copyAnswers, homesTakenOver: () => homes.takenOver.status(), sessionCopiesOwed: () => sessions.store.missedCount(), hostTable: () => hosts.current(), call: callAsNode, dashboard: isLoopback(self.host) || table.admin !== undefined });
    // nodes[].tls.acme: the certificates the fronts ordered for this port's names, read from the ACME home.
    const acmeTls = self.tls?.acme;
    const acmeCertificates = acmeTls && new StoredCertificates({ directory: acmeTls.directory, names: acmeTls.names, items: new AcmeItems(callAsNode, acmeHome(table, acmeTls.home)), log, changed: () => http.certificatesChanged() });
    const http = new NodeHttpPort({
      host: self.host,
      port: self.httpPort,
      metrics: () => status.metrics.render(),
      dashboard: status.dashboard,
      adminToken: table.admin?.token,
      notRunning: () => this.parts.notRunning(),
      tls: self.tls && { section: self.tls, baseDir: dirname(table.file), issued: () => acmeCertificates?.issued() ?? [] },
      dashboardRefusal: `the dashboard of a node beyond loopback (this node listens on ${self.host}) needs an admin token in the host table (admin: { token }); or use the front's admin listener, GET /dashboard?token=...`,
      log,
    });
    http.mount('/res/', replication.http.handle);
    const localSockets = new LocalSockets({
      operatorPath: localSocketPath(table, id),
      appPath: appSocketPath(table, id),
      maxFrameBytes: table.link.maxFrameBytes,
      requestTimeoutMs: table.link.requestTimeoutMs + table.link.connectTimeoutMs,
      registry,
      log,
      send: (req, who) => (req.crit ? critical.service.send(req.to ?? id, req.cmd, req.args) : router.route(req.to ?? id, req.cmd, req.args, { from: LOCAL, caller: who.caller })),
    });
    // Started in this order, drained then stopped in reverse (lifecycle.ts). What an earlier run
    // left (outbox, sessions' copies owed) is taken up before the node listens; peers are dialed
    // once it listens (links.ts); app instances come last and go first.
    this.parts = new Lifecycle({
      database,
      hosts,
      // Before the inbox takes messages: PostgreSQL's tables made (or, while it cannot be reached, tried again at each use).
      homeStore: new HomeStorePart(homeStore, log),
      critical,
      sessions,
      // Before the links: its voter answers as soon as peers can ask; its lease is renewed once links are up.
      terms,
      // Before the links: it stops after them, so no write comes in once it has given up waiting for the backup.
      homes,
      linkListener: links.listener,
      localSockets: { start: () => localSockets.listen(), stop: () => localSockets.close() },
      replication,
      userMover: { start: () => userMover.start(), drain: () => userMover.stop() },
      http,
      linkDialer: links.dialer,
      acmeCertificates: { start: () => acmeCertificates?.start(), drain: () => acmeCertificates?.stop() },
      commitFaults: { start: armCommitFaults },
      maintenance: { drain: () => maintenance.close() }, // answers the long polls waiting on it
      apps,
    });
    // Fault injection for tests (COHORT_TEST_HOOKS=1, never in production): a partition from chosen peers.
    if (process.env.COHORT_TEST_HOOKS === '1') {
      registry.register({ name: 'test.partition', summary: 'tests only: cut this node off from these peers, both ways (none: heal)', args: z.strictObject({ peers: z.array(z.string().max(64)).max(1000) }), scope: 'operator-local', run: (a) => (links.partition(a.peers), { cut: a.peers }) });
    }
    registry.register({ name: 'node.parts', summary: "this node's parts in start order: each one's state (running, draining...) and what it says of itself", args: z.strictObject({}), scope: 'operator', run: () => this.parts.status() });
  }

  get dataDir(): string {
    return nodeDataDir(this.table, this.id);
  }

  async start(): Promise<void> {
    await this.parts.start();
    const self = findNode(this.table, this.id);
    this.log.info({ event: 'node_ready', linkPort: self.linkPort, socket: localSocketPath(this.table, this.id) }, `node ${this.id} ready`);
  }

  async stop(): Promise<void> {
    await this.parts.stop();
    this.log.info({ event: 'node_stopped' }, `node ${this.id} stopped`);
  }
}
