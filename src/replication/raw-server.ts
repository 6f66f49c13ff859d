import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { CohortError } from '../errors.ts';
import { plain, type ResourceHome } from './resource-home.ts';
import { parseResourcePath, ResourceUrlError } from './resource-url.ts';

/**
 * The answering side of raw transfers: HTTP/1.1 on the TLS connections the link server hands
 * over (ALPN, peer already identified by its certificate). GET /raw/res/...?version=N: the
 * bytes, to a subscribed node only (D5b). PUT /publish/res/...: a publish another node of a
 * domain allowed the author's relays from `cohort publish`.
 */
/** A raw connection with no byte either way for this long is closed. */
const IDLE_MS = 60_000;

export class RawServer {
  private readonly server: Server;
  private readonly peerOf = new WeakMap<Socket, string>();
  /** Open raw connections: this server never listens, so it does not track them itself. */
  private readonly sockets = new Set<TLSSocket>();
  private readonly home: ResourceHome;
  private readonly log: Logger;

  constructor(home: ResourceHome, log: Logger) {
    this.home = home;
    this.log = log;
    this.server = createServer({ requestTimeout: 0, headersTimeout: 10_000, keepAliveTimeout: 30_000 }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        const code = err instanceof CohortError ? err.code : 'internal';
        const status = code === 'refused' ? 403 : code === 'not_found' ? 404 : code === 'conflict' ? 409 : code === 'too_large' ? 413 : code === 'insufficient_storage' ? 507 : code === 'bad_args' ? 400 : 500;
        if (status === 500) this.log.error({ event: 'raw_failed', err: (err as Error).message }, 'raw transfer failed');
        res.setHeader('connection', 'close');
        // An internal failure's text (file paths) stays in this node's log.
        plain(res, status, status === 500 ? 'Internal Server Error' : (err as Error).message);
      });
    });
  }

  /** A raw-transfer connection from `from` (LinkServer's onRaw). */
  readonly accept = (socket: TLSSocket, from: string): void => {
    this.peerOf.set(socket, from);
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    // An idle or stalled peer does not hold a connection forever (the server's own timeouts need listen()).
    socket.setTimeout(IDLE_MS, () => socket.destroy());
    this.server.emit('connection', socket);
  };

  close(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const from = this.peerOf.get(req.socket);
    if (!from) return plain(res, 403, 'not a raw-transfer connection');
    const target = req.url ?? '';
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    const params = new URLSearchParams(q < 0 ? '' : target.slice(q + 1));
    try {
      if (req.method === 'GET' && path.startsWith('/raw/res/')) {
        const ref = parseResourcePath(path.slice('/raw'.length));
        const version = Number(params.get('version'));
        if (!Number.isSafeInteger(version) || version < 1) return plain(res, 400, 'version is a positive whole number');
        return this.home.serveRaw(from, ref.url, version, res);
      }
      if (req.method === 'PUT' && path.startsWith('/publish/res/')) {
        return await this.home.receivePublish(from, parseResourcePath(path.slice('/publish'.length)), req, res);
      }
    } catch (err) {
      if (err instanceof ResourceUrlError) return plain(res, 400, err.message);
      throw err;
    }
    plain(res, 404, 'no such raw-transfer request');
  }
}
