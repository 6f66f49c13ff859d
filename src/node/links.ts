import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { HostTable } from '../config/host-table.ts';
import type { NodeEntry } from '../config/schema.ts';
import { LinkServer } from '../net/link-server.ts';
import { Peer } from '../net/peer.ts';
import type { RequestHandler } from '../net/channel.ts';
import type { TlsMaterial } from '../net/tls-material.ts';
import type { Part } from './lifecycle.ts';

/**
 * A node's links: one it dials to every peer of the host table, and its link port, which
 * accepts theirs. Two parts: the link port listens before the peers are dialed, since dialing
 * is also our announcement (each peer that hears our hello dials back).
 */
export class NodeLinks {
  readonly peers = new Map<string, Peer>();
  readonly listener: Part;
  readonly dialer: Part;
  /** A peer's hello or heartbeat said which host table version it holds (issue 28: NodeHosts follows it). */
  onPeerTable: ((peer: string, table: { version: number; hash: string }) => void) | undefined;
  private readonly server: LinkServer;
  private readonly makePeer: (entry: NodeEntry) => Peer;
  private dialing = false;

  constructor(opts: {
    self: NodeEntry;
    table: HostTable;
    tls: TlsMaterial;
    log: Logger;
    tableVersion?: () => { version: number; hash: string } | undefined;
    tableToBring?: () => { text: string; signature: string } | undefined;
    takeTable?: (table: { text: string; signature: string }, from: string) => Promise<unknown>;
    onRequest: (from: string) => RequestHandler;
    onRaw: (socket: TLSSocket, from: string) => void;
  }) {
    const { self, table, tls, log } = opts;
    this.makePeer = (entry) => new Peer({ self: self.id, cluster: table.cluster, peer: entry, tls, link: table.link, tableVersion: opts.tableVersion, tableToBring: opts.tableToBring }, log);
    for (const entry of table.nodes) {
      if (entry.id !== self.id) this.peers.set(entry.id, this.makePeer(entry));
    }
    this.server = new LinkServer({ self: self.id, table, tls, log, onRequest: opts.onRequest, onRaw: opts.onRaw, takeTable: opts.takeTable, tableVersion: opts.tableVersion });
    // A peer that links to us is alive: dial it back at once instead of waiting out a back-off.
    this.server.on('hello', (peerId: string, heard: { version: number; hash: string } | undefined) => {
      this.peers.get(peerId)?.reconnectNow();
      if (heard) this.peerHolds(peerId, heard);
    });
    this.server.on('table', (peerId: string, heard: { version: number; hash: string }) => this.peerHolds(peerId, heard));
    this.listener = { start: () => this.server.listen(self.host, self.bindLinkPort ?? self.linkPort), stop: () => this.server.close() };
    this.dialer = {
      start: () => {
        this.dialing = true;
        this.peers.forEach((peer) => peer.start());
      },
      stop: () => {
        this.dialing = false;
        this.peers.forEach((peer) => peer.stop());
      },
      status: () => ({ ok: true, detail: `${[...this.peers.values()].filter((p) => p.state === 'up').length} of ${this.peers.size} links up` }),
    };
  }

  /**
   * Tests only (COHORT_TEST_HOOKS=1, command test.partition): cuts this node off from these
   * peers both ways (its links to them dropped and not dialed, theirs refused), as a network
   * partition would; an empty list heals it.
   */
  partition(peers: string[]): void {
    this.server.setCut(peers);
    for (const [id, peer] of this.peers) peer.pause(peers.includes(id));
  }

  /** A peer's hello or heartbeat said which host table it holds. */
  private peerHolds(peerId: string, heard: { version: number; hash: string }): void {
    const peer = this.peers.get(peerId);
    if (!peer) return;
    peer.heardTable = heard;
    this.onPeerTable?.(peerId, heard);
  }

  /**
   * Nodes a newer host table added (issue 28): their links are dialed now, and their hellos
   * taken (the link server reads the table it was given, which has them now).
   */
  async added(entries: NodeEntry[]): Promise<void> {
    await this.server.refreshAddresses();
    for (const entry of entries) {
      if (this.peers.has(entry.id)) continue;
      const peer = this.makePeer(entry);
      this.peers.set(entry.id, peer);
      if (this.dialing) peer.start();
    }
  }

  /** Nodes a newer host table removed: our links to them closed and not dialed again, theirs to us closed. */
  async removed(ids: string[]): Promise<void> {
    for (const id of ids) {
      this.peers.get(id)?.stop();
      this.peers.delete(id);
      this.server.closeInbound(id);
    }
    await this.server.refreshAddresses();
  }

  /** The peers whose links to us are up. */
  connectedPeers(): string[] {
    return this.server.connectedPeers();
  }

  /** Dials every peer whose link is down now, without waiting out its back-off; says which. */
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
}
