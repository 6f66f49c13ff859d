import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { Channel, type RequestHandler } from './channel.ts';
import { listenOn } from './listen.ts';

// Linux limits a UNIX socket path to 107 bytes; say so instead of failing obscurely.
const MAX_SOCKET_PATH = 107;

export interface LocalServerOptions {
  path: string;
  maxFrameBytes: number;
  requestTimeoutMs: number;
  log: Logger;
  /** What one connection's requests are handled by (the node decides, per connection, who the caller is). */
  onConnection: (socket: Socket) => RequestHandler;
}

/**
 * A node's UNIX-domain socket (seed 000's lonc socket): local processes connect
 * cheaply and send commands that the node runs or forwards over its links.
 * Mode 0600: only the node's own user may talk to it. A node has two (src/node/local-sockets.ts):
 * the operator's, and the one it gives its app instances.
 */
export class LocalServer {
  private readonly opts: LocalServerOptions;
  private readonly server: Server;
  private readonly channels = new Set<Channel>();
  private nextClient = 1;

  constructor(opts: LocalServerOptions) {
    this.opts = opts;
    this.server = createServer((socket) => this.accept(socket));
  }

  async listen(): Promise<void> {
    const { path } = this.opts;
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
      throw new Error(`local socket path is ${Buffer.byteLength(path)} bytes, over the limit of ${MAX_SOCKET_PATH}: ${path} (choose a shorter dataDir)`);
    }
    if (existsSync(path)) {
      if (await isAlive(path)) throw new Error(`another node is already listening on ${path}`);
      unlinkSync(path); // left behind by a node that was killed
    }
    await listenOn(this.server, { path });
    chmodSync(path, 0o600);
  }

  close(): Promise<void> {
    for (const channel of this.channels) channel.close();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    const channel = new Channel(socket, {
      label: `local client ${this.nextClient++}`,
      maxFrameBytes: this.opts.maxFrameBytes,
      requestTimeoutMs: this.opts.requestTimeoutMs,
      onRequest: this.opts.onConnection(socket),
    });
    this.channels.add(channel);
    channel.once('close', (reason?: Error) => {
      this.channels.delete(channel);
      if (reason) this.opts.log.warn({ event: 'local_client_dropped', client: channel.label, err: reason.message }, 'local client dropped');
    });
  }
}

function isAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}
