import { mkdirSync } from 'node:fs';
import type { Logger } from 'pino';
import { findNode, localSocketPath, nodeDataDir, type HostTable } from '../config/host-table.ts';
import { CommandRegistry, LOCAL } from '../commands/registry.ts';
import { registerBuiltins } from '../commands/builtin.ts';
import { LinkServer } from '../net/link-server.ts';
import { LocalServer } from '../net/local-server.ts';
import { Peer } from '../net/peer.ts';
import { loadTlsMaterial } from '../net/tls-material.ts';
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
  private readonly localServer: LocalServer;
  private readonly router: Router;

  constructor(table: HostTable, id: string, log: Logger) {
    this.id = id;
    this.table = table;
    this.log = log;
    const self = findNode(table, id);
    const tls = loadTlsMaterial(table.tlsDir, table.cluster, id);
    for (const entry of table.nodes) {
      if (entry.id === id) continue;
      const peer = new Peer({ self: id, cluster: table.cluster, peer: entry, tls, link: table.link }, log);
      this.peers.set(entry.id, peer);
    }
    this.router = new Router(id, table, this.registry, this.peers);
    registerBuiltins(this.registry, {
      self: id,
      loadFullAt: self.loadFullAt ?? table.loadFullAt,
      peers: () => [...this.peers.values()].map((p) => p.snapshot()),
      inboundPeers: () => this.linkServer.connectedPeers(),
      reconnectAll: () => this.reconnectAll(),
    });
    this.linkServer = new LinkServer({
      self: id,
      table,
      tls,
      log,
      onRequest: (from) => (req) => this.registry.execute(req.cmd, req.args, { from }),
    });
    // A peer that links to us is alive: dial it back at once instead of waiting out a back-off.
    this.linkServer.on('hello', (peerId: string) => this.peers.get(peerId)?.reconnectNow());
    this.localServer = new LocalServer({
      path: localSocketPath(table, id),
      maxFrameBytes: table.link.maxFrameBytes,
      requestTimeoutMs: table.link.requestTimeoutMs + table.link.connectTimeoutMs,
      log,
      onRequest: (req) => this.router.route(req.to ?? id, req.cmd, req.args, { from: LOCAL }),
    });
  }

  get dataDir(): string {
    return nodeDataDir(this.table, this.id);
  }

  async start(): Promise<void> {
    const self = findNode(this.table, this.id);
    mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
    await this.linkServer.listen(self.host, self.linkPort);
    await this.localServer.listen();
    // Dialing every peer is also our announcement: each one that hears our hello dials back.
    for (const peer of this.peers.values()) peer.start();
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
    for (const peer of this.peers.values()) peer.stop();
    await Promise.all([this.linkServer.close(), this.localServer.close()]);
    this.log.info({ event: 'node_stopped' }, `node ${this.id} stopped`);
  }
}
