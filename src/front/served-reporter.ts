import type { Logger } from 'pino';
import type { Backend } from './backend.ts';
import type { CallNode } from '../client/node-connection.ts';

/**
 * Tells each node how many requests this front sent its app instances (`app.served`), so
 * the supervisor can recycle an instance past its request limit, and which of them answered
 * with X-Cohort-Drain (the supervisor then makes it DYING for every front). What is not
 * delivered is sent with the next report; an instance that left the list is forgotten.
 */
export class ServedReporter {
  private readonly reported = new Map<Backend, number>();
  private readonly drainReported = new Set<Backend>();
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
      const current = new Set(list);
      for (const b of this.reported.keys()) if (!current.has(b)) this.reported.delete(b);
      for (const b of this.drainReported) if (!current.has(b)) this.drainReported.delete(b);
      const byNode = new Map<string, { backend: Backend; count: number; drain: boolean }[]>();
      for (const b of list) {
        const count = b.requests - (this.reported.get(b) ?? 0);
        const drain = b.appDraining && !this.drainReported.has(b);
        if ((count <= 0 && !drain) || b.node === undefined) continue;
        const entries = byNode.get(b.node) ?? [];
        entries.push({ backend: b, count, drain });
        byNode.set(b.node, entries);
      }
      await Promise.all([...byNode].map(async ([node, entries]) => {
        try {
          // A back-end two routes check by their own health settings is two objects with one id: summed.
          const counts: Record<string, number> = {};
          for (const e of entries) if (e.count > 0) counts[e.backend.id] = (counts[e.backend.id] ?? 0) + e.count;
          await this.call(node, 'app.served', { counts, draining: [...new Set(entries.filter((e) => e.drain).map((e) => e.backend.id))] });
          for (const e of entries) {
            this.reported.set(e.backend, (this.reported.get(e.backend) ?? 0) + Math.max(0, e.count));
            if (e.drain) this.drainReported.add(e.backend);
          }
        } catch (err) {
          this.log.debug({ event: 'app_served_unreported', node, err: (err as Error).message }, 'request counts kept for the next report');
        }
      }));
    } finally {
      this.sending = false;
    }
  }
}
