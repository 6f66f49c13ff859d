import type { Logger } from 'pino';
import type { Backend } from './backend.ts';
import type { CallNode } from './node-caller.ts';

/**
 * Tells each node how many requests this front sent its app instances (`app.served`), so
 * the supervisor can recycle an instance past its request limit. Counts not delivered are
 * sent with the next report; an instance that left the list is forgotten.
 */
export class ServedReporter {
  private readonly reported = new Map<Backend, number>();
  private timer: NodeJS.Timeout | undefined;
  private sending = false;
  private readonly call: CallNode;
  private readonly backends: () => Backend[];
  private readonly log: Logger;
  private readonly everyMs: number;

  constructor(call: CallNode, backends: () => Backend[], log: Logger, everyMs = 1000) {
    this.call = call;
    this.backends = backends;
    this.log = log;
    this.everyMs = everyMs;
  }

  start(): void {
    this.timer = setInterval(() => void this.report(), this.everyMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async report(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      const list = this.backends();
      for (const b of this.reported.keys()) if (!list.includes(b)) this.reported.delete(b);
      const byNode = new Map<string, { backend: Backend; count: number }[]>();
      for (const b of list) {
        const count = b.requests - (this.reported.get(b) ?? 0);
        if (count <= 0 || b.node === undefined) continue;
        byNode.set(b.node, [...(byNode.get(b.node) ?? []), { backend: b, count }]);
      }
      await Promise.all([...byNode].map(async ([node, entries]) => {
        try {
          await this.call(node, 'app.served', { counts: Object.fromEntries(entries.map((e) => [e.backend.id, e.count])) });
          for (const e of entries) this.reported.set(e.backend, (this.reported.get(e.backend) ?? 0) + e.count);
        } catch (err) {
          this.log.debug({ event: 'app_served_unreported', node, err: (err as Error).message }, 'request counts kept for the next report');
        }
      }));
    } finally {
      this.sending = false;
    }
  }
}
