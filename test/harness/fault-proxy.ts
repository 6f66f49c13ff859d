import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP forwarder that sits in front of a node's link port and breaks things on demand:
 * cut every connection, stall them (bytes stop flowing both ways, sockets stay open),
 * or refuse new ones. Faults are real: the nodes see resets and silence, not mocks.
 */
export class FaultProxy {
  readonly port: number;
  private readonly targetPort: number;
  private readonly server: Server;
  private readonly pairs = new Set<[Socket, Socket]>();
  private stalled = false;
  private refusing = false;
  private refuseCount = 0;
  cuts = 0;
  /** Connections accepted so far (refused ones too). */
  accepted = 0;

  private constructor(server: Server, port: number, targetPort: number) {
    this.server = server;
    this.port = port;
    this.targetPort = targetPort;
    server.on('connection', (client) => this.accept(client));
  }

  static start(port: number, targetPort: number): Promise<FaultProxy> {
    return new Promise((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve(new FaultProxy(server, port, targetPort)));
    });
  }

  /** Destroys every open connection (both sides see a reset). */
  cut(): void {
    this.cuts++;
    for (const [a, b] of this.pairs) {
      a.resetAndDestroy();
      b.resetAndDestroy();
    }
    this.pairs.clear();
  }

  /** Stops moving bytes in both directions until resume(); connections stay open. */
  stall(): void {
    this.stalled = true;
    for (const [a, b] of this.pairs) {
      a.pause();
      b.pause();
    }
  }

  resume(): void {
    this.stalled = false;
    for (const [a, b] of this.pairs) {
      a.resume();
      b.resume();
    }
  }

  /** While on, new connections are closed at once. */
  refuse(on: boolean): void {
    this.refusing = on;
  }

  /** The next `n` new connections are closed at once; later ones pass. */
  refuseNext(n: number): void {
    this.refuseCount = n;
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    this.accepted++;
    if (this.refusing) return void client.resetAndDestroy();
    if (this.refuseCount > 0) {
      this.refuseCount--;
      return void client.resetAndDestroy();
    }
    const upstream = createConnection(this.targetPort, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    const drop = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
      from.on('data', (chunk) => {
        if (!to.write(chunk)) {
          from.pause();
          to.once('drain', () => this.stalled || from.resume());
        }
      });
      from.on('error', drop);
      from.on('close', drop);
    }
    if (this.stalled) {
      client.pause();
      upstream.pause();
    }
  }
}
