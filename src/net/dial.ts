import { connect } from 'node:tls';
import { CohortError } from '../errors.ts';
import type { LinkSettings, NodeEntry } from '../config/schema.ts';
import { Channel } from './channel.ts';
import { PROTOCOL_VERSION, type Message } from './protocol.ts';
import { identityMismatch, type TlsMaterial } from './tls-material.ts';

export interface DialOptions {
  self: string;
  cluster: string;
  peer: NodeEntry;
  tls: TlsMaterial;
  link: LinkSettings;
  /** The host table version this node holds, said in each hello (issue 28). */
  tableVersion?: () => { version: number; hash: string } | undefined;
  /** The signed table to bring in the hello, when the peer may not hold it (undefined: none). */
  tableToBring?: () => { text: string; signature: string } | undefined;
}

/**
 * Opens one link to a peer: TLS 1.3 with both certificates checked, then hello, then
 * the peer's welcome. Only the welcome counts: in TLS 1.3 our handshake completes
 * before the peer has judged our certificate, so "connected" is not "accepted".
 */
export function dialPeer(opts: DialOptions): Promise<Channel> {
  const { peer, link } = opts;
  return new Promise((resolve, reject) => {
    let settled = false;
    const socket = connect({
      host: peer.host,
      port: peer.linkPort,
      ca: opts.tls.ca,
      cert: opts.tls.cert,
      key: opts.tls.key,
      minVersion: 'TLSv1.3',
      checkServerIdentity: (_host, cert) => {
        const wrong = identityMismatch(cert, opts.cluster, peer);
        return wrong ? new CohortError('refused', `peer at ${peer.host}:${peer.linkPort}: ${wrong}`) : undefined;
      },
    });
    socket.setNoDelay(true);
    const timer = setTimeout(() => giveUp(new CohortError('con_lost', `no welcome from ${peer.id} within ${link.connectTimeoutMs} ms`)), link.connectTimeoutMs);
    const giveUp = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    const onSocketClose = () => giveUp(new CohortError('con_lost', `${peer.id} closed the connection during the handshake`));
    socket.once('error', giveUp);
    socket.once('close', onSocketClose);
    socket.once('secureConnect', () => {
      const channel = new Channel(socket, {
        label: `link to ${peer.id}`,
        maxFrameBytes: link.maxFrameBytes,
        requestTimeoutMs: link.requestTimeoutMs,
        heartbeat: { intervalMs: link.heartbeatMs, deadAfterMs: link.deadAfterMs },
        heartbeatTable: opts.tableVersion,
      });
      const onChannelClose = (reason?: Error) => giveUp(reason ?? new CohortError('con_lost', `${peer.id} closed the link during the handshake`));
      channel.once('close', onChannelClose);
      channel.once('control', (msg: Message) => {
        if (msg.t === 'welcome' && msg.node === peer.id && msg.v === PROTOCOL_VERSION) {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          // From here on the channel owns the socket and reports its end.
          socket.off('error', giveUp).off('close', onSocketClose);
          channel.off('close', onChannelClose);
          resolve(channel);
        } else if (msg.t === 'refuse') {
          giveUp(new CohortError(msg.code, `${peer.id} refused the link: ${msg.message}`));
        } else {
          giveUp(new CohortError('bad_frame', `${peer.id} answered hello with ${JSON.stringify(msg)}`));
        }
      });
      const table = opts.tableVersion?.();
      const bring = opts.tableToBring?.();
      channel.send({ t: 'hello', v: PROTOCOL_VERSION, cluster: opts.cluster, node: opts.self, ...(table ? { tv: table.version, th: table.hash } : {}), ...(bring ? { table: bring } : {}) });
    });
  });
}
