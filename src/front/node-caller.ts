import { CohortClient } from '../client/client.ts';
import type { HostTable } from '../config/host-table.ts';

export type CallNode = (to: string, command: string, args?: unknown) => Promise<unknown>;

/**
 * The front's one way into the node network: the local socket of `front.node`, opened on
 * first use and again after it drops. Every caller (load figures, app registries,
 * maintenance) shares it, so the front holds one connection to its node.
 */
export class NodeCaller {
  private current: CohortClient | undefined;
  private pending: Promise<CohortClient> | undefined;
  private closed = false;
  private readonly table: HostTable;
  private readonly via: string;
  private readonly timeoutMs: number;

  /** timeoutMs must exceed the longest long poll a caller makes (8 s). */
  constructor(table: HostTable, via: string, timeoutMs = 12_000) {
    this.table = table;
    this.via = via;
    this.timeoutMs = timeoutMs;
  }

  get node(): string {
    return this.via;
  }

  readonly call: CallNode = async (to, command, args) => {
    if (this.closed) throw new Error('the front is stopping');
    const client = await this.connect();
    return client.call(to, command, args);
  };

  /** The open connection, or the one being opened: one at a time, whoever asks. */
  private connect(): Promise<CohortClient> {
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
