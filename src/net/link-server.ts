import { EventEmitter } from 'node:events';
import { isIP, type Socket } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { HostTable } from '../config/host-table.ts';
import { CohortError } from '../errors.ts';
import { Channel, type RequestHandler } from './channel.ts';
import { encodeFrame } from './framing.ts';
import { PROTOCOL_VERSION, type Message } from './protocol.ts';
import { identityMismatch, type TlsMaterial } from './tls-material.ts';
import { listenOn } from './listen.ts';
import { AddressScreen, normalizeIp } from './address-screen.ts';

export interface LinkServerOptions {
  self: string;
  table: HostTable;
  tls: TlsMaterial;
  log: Logger;
  /** Executes a command that arrived from the peer named `from`. */
  onRequest: (from: string) => RequestHandler;
  /**
   * A raw-transfer connection (ALPN RAW_PROTOCOL) from a peer whose certificate, host-table
   * entry and address were checked: resource bytes move there, not on the link, so a large
   * file never holds up commands.
   */
  onRaw?: (socket: TLSSocket, from: string) => void;
  /**
   * A signed host table a dialer brought in its hello (issue 28: a new node started on a newer
   * version than ours brings it). Set only where versions are signed (an operator key pinned):
   * then a connection from an address the table does not have yet gets a TLS handshake too, a
   * few a second at most, and is welcomed only if the table it brings names it there.
   */
  takeTable?: (table: { text: string; signature: string }, from: string) => Promise<unknown>;
  /** The version this node holds: a brought table is looked at only when the hello says a newer one. */
  tableVersion?: () => { version: number } | undefined;
}

/** The ALPN name of raw-transfer connections on a node's link port; links offer none. */
export const RAW_PROTOCOL = 'cohort-raw';


/**
 * Accepts peers' links (seed 000's lond): TLS 1.3 with a client certificate from the
 * cluster CA, then a hello whose node id must match the certificate, the host table and
 * the connecting address. Only then is the peer welcomed and its commands executed.
 * Events: 'hello' (nodeId) when a peer has been welcomed: it is up, so dial it back now.
 */
export class LinkServer extends EventEmitter {
  private readonly opts: LinkServerOptions;
  private readonly log: Logger;
  private readonly server: Server;
  private readonly inbound = new Map<string, Channel>();
  private readonly handshaking = new Set<TLSSocket>();
  /** Every connection open to the link port (links, raw transfers, handshakes), to cut at close. */
  private readonly sockets = new Set<Socket>();
  private closing = false;
  private readonly addresses: AddressScreen;

  constructor(opts: LinkServerOptions) {
    super();
    this.opts = opts;
    this.log = opts.log;
    this.addresses = new AddressScreen(opts.table, opts.log, { strangers: opts.takeTable !== undefined });
    const { link } = opts.table;
    this.server = createServer({
      ca: opts.tls.ca,
      cert: opts.tls.cert,
      key: opts.tls.key,
      requestCert: true,
      // Checked in accept() instead, so the refusal is logged and told with its reason.
      rejectUnauthorized: false,
      minVersion: 'TLSv1.3',
      handshakeTimeout: link.connectTimeoutMs,
      ALPNProtocols: [RAW_PROTOCOL],
    });
    // Screened as plain TCP, before any TLS work: only the host table's addresses, and
    // only a few connections at a time from each, so strangers cannot burn handshakes.
    this.server.on('connection', (raw: Socket) => this.screen(raw));
    this.server.on('secureConnection', (socket) => this.accept(socket));
    this.server.on('tlsClientError', (err, socket) => {
      this.log.warn({ event: 'link_rejected', remote: socket.remoteAddress, err: err.message }, 'TLS handshake refused');
    });
  }

  async listen(host: string, port: number): Promise<void> {
    await this.addresses.refresh();
    await listenOn(this.server, { port, host });
  }

  /** The host table changed (issue 28): the addresses links may come from are its nodes' now. */
  async refreshAddresses(): Promise<void> {
    await this.addresses.refresh();
  }

  /** A node the host table no longer has (issue 28): its link to us is closed (a new one is refused at its hello). */
  closeInbound(peer: string): void {
    this.inbound.get(peer)?.close(new CohortError('refused', `${peer} is no longer in the host table`));
  }

  connectedPeers(): string[] {
    return [...this.inbound.keys()];
  }

  /**
   * Stops taking connections and closes the links. A connection whose handshake was under way
   * would otherwise become a link after this (and keep the server open for good): none is taken
   * once closing, and what is still open a second later is cut.
   */
  close(): Promise<void> {
    this.closing = true;
    for (const channel of this.inbound.values()) channel.close();
    for (const socket of this.handshaking) socket.destroy();
    return new Promise((resolve) => {
      const cut = setTimeout(() => {
        for (const socket of this.sockets) socket.destroy();
      }, 1000);
      this.server.close(() => {
        clearTimeout(cut);
        resolve();
      });
    });
  }

  private screen(raw: Socket): void {
    if (this.closing) return void raw.destroy();
    this.sockets.add(raw);
    raw.once('close', () => this.sockets.delete(raw));
    this.addresses.admit(raw);
  }

  private acceptRaw(socket: TLSSocket): void {
    const from = this.addresses.known(socket.remoteAddress ?? '') ? rawPeer(socket, this.opts.table, this.opts.self) : new Error(`${socket.remoteAddress} is not a node address in the host table`);
    if (from instanceof Error || !this.opts.onRaw) {
      const why = from instanceof Error ? from.message : 'this node takes no raw transfers';
      this.log.warn({ event: 'raw_refused', remote: socket.remoteAddress, err: why }, `raw transfer connection refused: ${why}`);
      socket.destroy();
      return;
    }
    this.opts.onRaw(socket, from);
  }

  /** Peers whose links are refused and closed (tests only: a partition, COHORT_TEST_HOOKS). */
  private readonly cut = new Set<string>();

  /** Tests only: refuses and closes the links of these peers (none: healed). */
  setCut(peers: string[]): void {
    this.cut.clear();
    for (const p of peers) {
      this.cut.add(p);
      this.inbound.get(p)?.close(new CohortError('con_lost', 'cut (a test\'s partition)'));
    }
  }

  private accept(socket: TLSSocket): void {
    const { table, self } = this.opts;
    const remote = socket.remoteAddress ?? '?';
    if (!socket.authorized) {
      const reason = `client certificate not accepted: ${String(socket.authorizationError ?? 'none presented')}`;
      this.log.warn({ event: 'link_rejected', remote, err: reason }, 'TLS peer refused');
      socket.end(encodeFrame({ t: 'refuse', code: 'refused', message: reason }));
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    if (this.closing) return void socket.destroy();
    socket.setNoDelay(true);
    if (socket.alpnProtocol === RAW_PROTOCOL) return this.acceptRaw(socket);
    this.handshaking.add(socket);
    const channel = new Channel(socket, {
      label: `inbound link from ${remote}`,
      maxFrameBytes: table.link.maxFrameBytes,
      requestTimeoutMs: table.link.requestTimeoutMs,
      heartbeat: { intervalMs: table.link.heartbeatMs, deadAfterMs: table.link.deadAfterMs },
    });
    const helloTimer = setTimeout(() => refuse(new CohortError('refused', 'no hello in time')), table.link.connectTimeoutMs);
    const refuse = (err: CohortError) => {
      clearTimeout(helloTimer);
      this.log.warn({ event: 'link_refused', remote, code: err.code, err: err.message }, 'peer refused');
      channel.send({ t: 'refuse', code: err.code, message: err.message });
      channel.close(err);
    };
    channel.once('close', (reason?: Error) => {
      clearTimeout(helloTimer);
      this.handshaking.delete(socket);
      if (reason && !welcomed) this.log.debug({ event: 'link_closed', remote, err: reason.message }, 'handshake failed');
    });
    let welcomed = false;
    channel.once('control', (msg: Message) => {
      if (msg.t !== 'hello') return refuse(new CohortError('bad_frame', `expected hello, got ${msg.t}`));
      if (msg.v !== PROTOCOL_VERSION) return refuse(new CohortError('refused', `protocol version ${msg.v} is not ${PROTOCOL_VERSION}`));
      if (msg.cluster !== table.cluster) return refuse(new CohortError('refused', `cluster '${msg.cluster}' is not '${table.cluster}'`));
      const known = table.nodes.find((n) => n.id === msg.node);
      // A node of the table is who its certificate says before anything it brings is looked at.
      const wrongKnown = known && identityMismatch(socket.getPeerCertificate(), table.cluster, known);
      if (wrongKnown) return refuse(new CohortError('refused', `hello says node '${msg.node}' but the ${wrongKnown}`));
      // A table the dialer brought (issue 28), newer than ours: taken as any offer (its signature first), in the background.
      // A dialer the table lacks (its address or its id) is told to dial again, by when the table names it, or not.
      const brought = msg.table !== undefined && this.opts.takeTable !== undefined && (msg.tv ?? 0) > (this.opts.tableVersion?.()?.version ?? 0);
      if (brought) {
        this.opts.takeTable!(msg.table!, `the hello of ${msg.node}`).catch((err: Error) =>
          this.log.warn({ event: 'hello_table_refused', remote, node: msg.node, err: err.message }, `the host table ${msg.node}'s hello brought was refused: ${err.message}`),
        );
      }
      if (!this.addresses.known(remote)) return refuse(new CohortError(brought ? 'con_lost' : 'refused', `${remote} is not a node address in the host table${brought ? ' yet (taking the one the hello brought: dial again)' : ''}`));
      const entry = known;
      if (!entry || entry.id === self) return refuse(new CohortError(brought && !entry ? 'con_lost' : 'refused', `node '${msg.node}' is not a peer in the host table${brought ? ' yet (taking the one the hello brought: dial again)' : ''}`));
      const wrong = identityMismatch(socket.getPeerCertificate(), table.cluster, entry);
      if (wrong) return refuse(new CohortError('refused', `hello says node '${msg.node}' but the ${wrong}`));
      if (this.cut.has(entry.id)) return refuse(new CohortError('con_lost', `links from ${entry.id} are cut (a test's partition)`));
      if (isIP(entry.host) && normalizeIp(remote) !== normalizeIp(entry.host)) {
        return refuse(new CohortError('refused', `node '${msg.node}' must connect from ${entry.host}, not ${remote}`));
      }
      clearTimeout(helloTimer);
      welcomed = true;
      this.handshaking.delete(socket);
      const peerId = entry.id;
      channel.label = `inbound link from ${peerId}`;
      channel.onRequest = this.opts.onRequest(peerId);
      // A peer that reconnects replaces its old link: the old one is dead or dying.
      this.inbound.get(peerId)?.close(new CohortError('con_lost', 'replaced by a new link'));
      this.inbound.set(peerId, channel);
      channel.once('close', () => {
        if (this.inbound.get(peerId) === channel) this.inbound.delete(peerId);
      });
      channel.send({ t: 'welcome', v: PROTOCOL_VERSION, node: self });
      this.log.info({ event: 'peer_hello', peer: peerId }, `${peerId} linked to us`);
      this.emit('hello', peerId, msg.tv === undefined ? undefined : { version: msg.tv, hash: msg.th });
      // Its heartbeats say the same later (issue 28): a version it took since, or one it still lacks.
      channel.on('table', (heard: { version: number; hash: string }) => this.emit('table', peerId, heard));
    });
  }
}

/** The peer a raw-transfer connection comes from: named by its certificate, in the host table, from its address. */
function rawPeer(socket: TLSSocket, table: HostTable, self: string): string | Error {
  const cn = socket.getPeerCertificate().subject?.CN;
  const entry = table.nodes.find((n) => n.id === cn);
  if (!entry || entry.id === self) return new Error(`certificate names '${String(cn)}', not a peer in the host table`);
  const wrong = identityMismatch(socket.getPeerCertificate(), table.cluster, entry);
  if (wrong) return new Error(wrong);
  if (isIP(entry.host) && normalizeIp(socket.remoteAddress ?? '') !== normalizeIp(entry.host)) return new Error(`node '${entry.id}' must connect from ${entry.host}, not ${socket.remoteAddress}`);
  return entry.id;
}
