import type { Logger } from 'pino';
import type { CallNode } from '../client/node-connection.ts';
import { readLoadPercent } from '../sessions/load.ts';

/**
 * The nodes' `load` figures for the least_load policy, fetched through the node network
 * (from the front's node) every few seconds. A node that does not answer has no figure,
 * and the policy falls back to fewest requests in flight.
 */
export class LoadSource {
  private readonly figures = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  private readonly call: CallNode;
  private readonly nodes: () => string[];
  private readonly log: Logger;
  private readonly everyMs: number;

  constructor(call: CallNode, nodes: () => string[], log: Logger, everyMs = 2000) {
    this.call = call;
    this.nodes = nodes;
    this.log = log;
    this.everyMs = everyMs;
  }

  readonly get = (node: string): number | undefined => this.figures.get(node);

  start(): void {
    let busy = false;
    const tick = async () => {
      // A round whose nodes answer slowly (a link down: each call waits out its timeout) is not overlapped by the next.
      if (busy) return;
      busy = true;
      let failed = 0;
      const nodes = [...new Set(this.nodes())];
      await Promise.all(nodes.map(async (node) => {
        try {
          this.figures.set(node, await readLoadPercent(this.call, node));
        } catch (err) {
          this.figures.delete(node);
          if (++failed === nodes.length) this.log.debug({ event: 'load_unavailable', err: (err as Error).message }, 'no load figures');
        }
      })).finally(() => (busy = false));
    };
    void tick();
    this.timer = setInterval(tick, this.everyMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
