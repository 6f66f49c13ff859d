import { CohortClient } from '../client/client.ts';
import type { HostTable } from '../config/host-table.ts';

export type CallNode = (to: string, command: string, args?: unknown) => Promise<unknown>;

/**
 * The front's one way into the node network: the local socket of `front.node`, opened on
 * first use and again after it drops. Every caller (load figures, app registries,
 * maintenance) shares it, so the front holds one connection to its node.
 */
export class NodeCaller {
  private client: Promise<CohortClient> | undefined;
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

  private async connect(): Promise<CohortClient> {
    const current = this.client && (await this.client.catch(() => undefined));
    if (current && !current.closed) return current;
    const next = CohortClient.forNode(this.table, this.via, { timeoutMs: this.timeoutMs });
    this.client = next;
    next.catch(() => {
      if (this.client === next) this.client = undefined;
    });
    const client = await next;
    if (this.closed) client.close();
    return client;
  }

  close(): void {
    this.closed = true;
    void this.client?.then((c) => c.close(), () => undefined);
  }
}
