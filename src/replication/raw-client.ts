import { Agent, request } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { HostTable } from '../config/host-table.ts';
import { CohortError } from '../errors.ts';
import { errorCodeOf } from '../error-status.ts';
import { RAW_PROTOCOL } from '../net/link-server.ts';
import { RAW_SOCKETS_PER_PEER } from '../net/address-screen.ts';
import { identityMismatch, type TlsMaterial } from '../net/tls-material.ts';

/**
 * The asking side of raw transfers (seed 000's /raw area, D5): HTTP/1.1 over TLS 1.3 to a
 * peer's link port with the cluster's certificates both ways (ALPN RAW_PROTOCOL), on
 * connections of their own: a large file never holds up commands on the link.
 */
export class RawClient {
  private readonly table: HostTable;
  private readonly tls: TlsMaterial;
  private readonly agents = new Map<string, Agent>();

  constructor(table: HostTable, tls: TlsMaterial) {
    this.table = table;
    this.tls = tls;
  }

  /**
   * Sends a request to `peer`; resolves with its response once the head arrives. Statuses
   * other than 2xx reject with the code the status stands for (error-status.ts) and the peer's reason.
   */
  request(peer: string, method: 'GET' | 'PUT', path: string, opts: { headers?: Record<string, string>; body?: Readable; idleMs: number }): Promise<IncomingMessage> {
    const entry = this.table.nodes.find((n) => n.id === peer);
    if (!entry) return Promise.reject(new CohortError('no_such_host', `no node '${peer}' in the host table`));
    return new Promise((resolve, reject) => {
      const req = request({ host: entry.host, port: entry.linkPort, method, path, headers: opts.headers, agent: this.agent(peer), timeout: opts.idleMs }, (res) => {
        if (res.statusCode! >= 200 && res.statusCode! < 300) return resolve(res);
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          if (text.length < 2000) text += d;
        });
        res.on('error', () => undefined);
        res.on('end', () => {
          reject(new CohortError(errorCodeOf(res.statusCode!), `${peer}: ${res.statusCode} ${text.trim().slice(0, 300)}`));
        });
      });
      req.on('timeout', () => req.destroy(new CohortError('con_lost', `${peer}: no byte for ${opts.idleMs} ms`)));
      req.on('error', (err) => reject(err instanceof CohortError ? err : new CohortError('con_lost', `${peer}: ${err.message}`)));
      if (opts.body) pipeline(opts.body, req).catch((err: unknown) => req.destroy(err as Error));
      else req.end();
    });
  }

  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }

  /** A node the host table removed: its pooled connections end. */
  forget(peer: string): void {
    this.agents.get(peer)?.destroy();
    this.agents.delete(peer);
  }

  private agent(peer: string): Agent {
    let agent = this.agents.get(peer);
    if (!agent) {
      agent = new Agent({
        keepAlive: true,
        maxSockets: RAW_SOCKETS_PER_PEER,
        ca: this.tls.ca,
        cert: this.tls.cert,
        key: this.tls.key,
        minVersion: 'TLSv1.3',
        ALPNProtocols: [RAW_PROTOCOL],
        checkServerIdentity: (_host, cert) => {
          const entry = this.table.nodes.find((n) => n.id === peer);
          const wrong = entry ? identityMismatch(cert, this.table.cluster, entry) : `no node '${peer}' in the host table`;
          return wrong ? new CohortError('refused', `raw transfer to ${peer}: ${wrong}`) : undefined;
        },
      });
      this.agents.set(peer, agent);
    }
    return agent;
  }
}
