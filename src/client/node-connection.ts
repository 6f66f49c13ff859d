import { CohortClient } from './client.ts';
import type { SessionPatch } from './sessions.ts';
import type { HostTable } from '../config/host-table.ts';

export type CallNode = (to: string, command: string, args?: unknown) => Promise<unknown>;

/**
 * One connection to a node's local socket for a long-running process (the front, an app):
 * opened on first use and again after it drops (the node restarted), one open at a time
 * however many callers ask. The front reaches the network through it (load figures, app
 * registries, maintenance); apps through client().
 */
export class NodeConnection {
  private current: CohortClient | undefined;
  private pending: Promise<CohortClient> | undefined;
  private closed = false;
  private readonly table: HostTable;
  private readonly via: string;
  private readonly timeoutMs: number;

  /** For the front, timeoutMs must exceed the longest long poll it makes (8 s). */
  constructor(table: HostTable, via: string, timeoutMs = 12_000) {
    this.table = table;
    this.via = via;
    this.timeoutMs = timeoutMs;
  }

  get node(): string {
    return this.via;
  }

  /** client.sessions over whatever connection is open now: a session store keeps working across node restarts. */
  readonly sessions = {
    get: async (id: string) => (await this.client()).sessions.get(id),
    write: async (id: string, patch: SessionPatch) => (await this.client()).sessions.write(id, patch),
    touch: async (id: string, expires: number) => (await this.client()).sessions.touch(id, expires),
    destroy: async (id: string) => (await this.client()).sessions.destroy(id),
  };

  readonly call: CallNode = async (to, command, args) => {
    if (this.closed) throw new Error('the node connection is closed');
    const client = await this.client();
    return client.call(to, command, args);
  };

  /** The open connection, or the one being opened: one at a time, whoever asks. */
  client(): Promise<CohortClient> {
    if (this.current && !this.current.closed) return Promise.resolve(this.current);
    this.pending ??= CohortClient.forNode(this.table, this.via, { timeoutMs: this.timeoutMs }).then(
      (client) => {
        this.pending = undefined;
        if (this.closed) client.close();
        this.current = client;
        return client;
      },
      (err: unknown) => {
        this.pending = undefined;
        throw err;
      },
    );
    return this.pending;
  }

  close(): void {
    this.closed = true;
    this.current?.close();
  }
}
