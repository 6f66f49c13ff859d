import { createConnection } from 'node:net';
import { localSocketPath, type HostTable } from '../config/host-table.ts';
import { CohortError } from '../errors.ts';
import { Channel } from '../net/channel.ts';
import { AuthApi, RecordsApi } from './records.ts';
import { ResourcesApi } from './resources.ts';
import { SessionsApi } from './sessions.ts';
import type { CriticalResult } from './critical-result.ts';

export type { CriticalResult } from './critical-result.ts';

export interface ClientOptions {
  /** A call without a reply after this long fails with con_lost. */
  timeoutMs?: number;
  maxFrameBytes?: number;
}

/**
 * What an app process uses to talk to the network (seed 000's lonnet): one cheap
 * connection to its node's local socket, over which it can reach any node.
 * Calls resolve with the reply's data or reject with a CohortError whose code says why.
 */
export class CohortClient {
  private readonly channel: Channel;
  /** Users' records, through this node to her home node. */
  readonly records: RecordsApi;
  /** Logins and users, checked at her home node. */
  readonly auth: AuthApi;
  /** Sessions any app instance on any node can serve. */
  readonly sessions: SessionsApi;
  /** Published resources, copied to this node on first use. */
  readonly resources: ResourcesApi;

  private constructor(channel: Channel) {
    this.channel = channel;
    const local = (cmd: string, args: unknown) => this.channel.request(cmd, args);
    this.records = new RecordsApi(local);
    this.auth = new AuthApi(local);
    this.sessions = new SessionsApi(local);
    this.resources = new ResourcesApi(local);
  }

  static connect(socketPath: string, opts: ClientOptions = {}): Promise<CohortClient> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(socketPath);
      socket.once('error', (err) => reject(new CohortError('con_lost', `cannot reach the node at ${socketPath}: ${err.message}`)));
      socket.once('connect', () => {
        socket.removeAllListeners('error');
        const channel = new Channel(socket, {
          label: `node socket ${socketPath}`,
          maxFrameBytes: opts.maxFrameBytes ?? 16 * 1024 * 1024,
          requestTimeoutMs: opts.timeoutMs ?? 15_000,
        });
        resolve(new CohortClient(channel));
      });
    });
  }

  /** Connects to the local socket of node `id` of this host table (an app instance: the one its node gave it). */
  static forNode(table: HostTable, id: string, opts: ClientOptions = {}): Promise<CohortClient> {
    return CohortClient.connect(socketFor(table, id), { maxFrameBytes: table.link.maxFrameBytes, ...opts });
  }

  /** Runs `command` on node `to` (this node itself, or any peer) and returns its reply. */
  call(to: string, command: string, args?: unknown): Promise<unknown> {
    return this.channel.request(command, args, { to });
  }

  /**
   * Sends a critical message: resolves with status 'ok' (applied by the target, with its
   * reply) or 'delayed' (stored durably on our node, delivered when the target is back).
   * Rejects only when the target refused it for good (it then sits in the dead letters).
   */
  critical(to: string, command: string, args?: unknown): Promise<CriticalResult> {
    return this.channel.request(command, args, { to, crit: true }) as Promise<CriticalResult>;
  }

  ping(to: string): Promise<{ node: string }> {
    return this.call(to, 'ping') as Promise<{ node: string }>;
  }

  get closed(): boolean {
    return this.channel.closed;
  }

  close(): void {
    this.channel.close();
  }
}

/**
 * The socket to reach node `id` through: in an app instance, the app socket its node gave it
 * ($COHORT_SOCKET, for $COHORT_NODE), where it runs what apps may; else the node's local
 * (operator) socket.
 */
export function socketFor(table: HostTable, id: string): string {
  const { COHORT_SOCKET, COHORT_NODE } = process.env;
  return COHORT_SOCKET && COHORT_NODE === id ? COHORT_SOCKET : localSocketPath(table, id);
}
