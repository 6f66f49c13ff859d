import { createReadStream } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { CohortError } from '../errors.ts';
import { httpStatusOf } from '../error-status.ts';
import { plain } from '../net/plain-reply.ts';
import type { BlobCache } from './blob-cache.ts';
import type { PublishOptions, ResourceHome } from './resource-home.ts';
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
  private readonly cache: BlobCache;
  private readonly log: Logger;

  constructor(home: ResourceHome, cache: BlobCache, log: Logger) {
    this.home = home;
    this.cache = cache;
    this.log = log;
    this.server = createServer({ requestTimeout: 0, headersTimeout: 10_000, keepAliveTimeout: 30_000 }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        const code = err instanceof CohortError ? err.code : 'internal';
        const { status } = httpStatusOf(code);
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

  /** A node the host table removed (issue 28): its open raw-transfer connections end now. */
  closeFrom(peer: string): void {
    for (const socket of this.sockets) if (this.peerOf.get(socket) === peer) socket.destroy();
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
        return this.sendRaw(from, ref.url, version, res);
      }
      if (req.method === 'PUT' && path.startsWith('/publish/res/')) {
        const ref = parseResourcePath(path.slice('/publish'.length));
        const out = await this.home.receivePublish(from, ref, req, relayOptions(req.headers));
        return void res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify(out));
      }
    } catch (err) {
      if (err instanceof ResourceUrlError) return plain(res, 400, err.message);
      throw err;
    }
    plain(res, 404, 'no such raw-transfer request');
  }

  /** The bytes of a version to a subscribed node (resource-home.ts decides which may have them). */
  private sendRaw(from: string, url: string, version: number, res: ServerResponse): void {
    let found;
    try {
      found = this.home.rawVersion(from, url, version);
    } catch (err) {
      if (err instanceof CohortError) return plain(res, httpStatusOf(err.code).status, err.message);
      throw err;
    }
    const { meta, path } = found;
    const head = { 'content-type': 'application/octet-stream', 'content-length': meta.size, 'x-cohort-digest': meta.digest };
    // A small resource in one write from memory (read once for every subscriber that asks); a large one streamed from its file.
    const send = (bytes: Buffer | undefined) => (bytes ? void res.writeHead(200, head).end(bytes) : this.stream(url, path, head, res));
    const held = this.cache.read(meta, path);
    if (held instanceof Promise) void held.then(send);
    else send(held);
  }

  private stream(url: string, path: string, head: Record<string, string | number>, res: ServerResponse): void {
    const stream = createReadStream(path);
    stream.once('open', () => {
      res.writeHead(200, head);
      stream.pipe(res);
    });
    stream.once('error', (err) => {
      this.log.error({ event: 'raw_read_failed', url, err: err.message }, `cannot read the bytes of ${url}`);
      if (!res.headersSent) plain(res, 500, 'cannot read the resource');
      else res.destroy();
    });
    res.once('close', () => stream.destroy());
  }
}

/** A relayed publish's options, from the relaying node's headers. */
function relayOptions(headers: IncomingHttpHeaders): PublishOptions {
  const access = headers['x-cohort-access'];
  const contentType = headers['content-type'];
  const ifVersion = headers['x-cohort-if-version'];
  if (ifVersion !== undefined && !/^\d{1,15}$/.test(String(ifVersion))) throw new CohortError('bad_args', 'X-Cohort-If-Version is a whole number');
  const length = headers['content-length'];
  return { access: access === 'domain' || access === 'cluster' ? access : undefined, contentType: typeof contentType === 'string' ? contentType : undefined, ifVersion: ifVersion === undefined ? undefined : Number(ifVersion), length: length === undefined ? undefined : Number(length) };
}
