import type { Logger } from 'pino';
import { CohortClient } from '../client/client.ts';
import type { HostTable } from '../config/host-table.ts';

/**
 * The nodes' `load` figures for the least_load policy, fetched through the node network
 * (from the local node's socket) every few seconds. A node that does not answer has no
 * figure, and the policy falls back to fewest requests in flight.
 */
export class LoadSource {
  private readonly figures = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private client: CohortClient | undefined;

  private readonly table: HostTable;
  private readonly via: string;
  private readonly nodes: () => string[];
  private readonly log: Logger;
  private readonly everyMs: number;

  constructor(table: HostTable, via: string, nodes: () => string[], log: Logger, everyMs = 2000) {
    this.table = table;
    this.via = via;
    this.nodes = nodes;
    this.log = log;
    this.everyMs = everyMs;
  }

  readonly get = (node: string): number | undefined => this.figures.get(node);

  start(): void {
    const tick = async () => {
      try {
        if (!this.client || this.client.closed) this.client = await CohortClient.forNode(this.table, this.via, { timeoutMs: this.everyMs });
        const client = this.client;
        await Promise.all(this.nodes().map(async (node) => {
          try {
            this.figures.set(node, ((await client.call(node, 'load')) as { percent: number }).percent);
          } catch {
            this.figures.delete(node);
          }
        }));
      } catch (err) {
        this.figures.clear();
        this.log.debug({ event: 'load_unavailable', via: this.via, err: (err as Error).message }, 'no load figures');
      }
    };
    void tick();
    this.timer = setInterval(tick, this.everyMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.client?.close();
  }
}
