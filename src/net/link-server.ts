import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { HostTable } from '../config/host-table.ts';
import { CohortError } from '../errors.ts';
import { Channel, type RequestHandler } from './channel.ts';
import { encodeFrame } from './framing.ts';
import { PROTOCOL_VERSION, type Message } from './protocol.ts';
import { identityMismatch, type TlsMaterial } from './tls-material.ts';

export interface LinkServerOptions {
  self: string;
  table: HostTable;
  tls: TlsMaterial;
  log: Logger;
  /** Executes a command that arrived from the peer named `from`. */
  onRequest: (from: string) => RequestHandler;
}

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

  constructor(opts: LinkServerOptions) {
    super();
    this.opts = opts;
    this.log = opts.log;
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
    });
    this.server.on('secureConnection', (socket) => this.accept(socket));
    this.server.on('tlsClientError', (err, socket) => {
      this.log.warn({ event: 'link_rejected', remote: socket.remoteAddress, err: err.message }, 'TLS handshake refused');
    });
  }

  listen(host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  connectedPeers(): string[] {
    return [...this.inbound.keys()];
  }

  close(): Promise<void> {
    for (const channel of this.inbound.values()) channel.close();
    for (const socket of this.handshaking) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
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
    socket.setNoDelay(true);
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
      const entry = table.nodes.find((n) => n.id === msg.node);
      if (!entry || entry.id === self) return refuse(new CohortError('refused', `node '${msg.node}' is not a peer in the host table`));
      const wrong = identityMismatch(socket.getPeerCertificate().subject, table.cluster, msg.node);
      if (wrong) return refuse(new CohortError('refused', `hello says node '${msg.node}' but the ${wrong}`));
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
      this.emit('hello', peerId);
    });
  }
}

function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}
