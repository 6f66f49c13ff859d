import { Agent } from 'node:http';
import { http } from './http-client.ts';

/**
 * A steady client load: `concurrency` loops, each sending GET requests one after another on
 * keep-alive connections, until stopped. Every answer is counted; anything but a 200 (or a
 * connection error) is a failure the test reports with its detail.
 */
export class SteadyLoad {
  ok = 0;
  readonly failures: string[] = [];
  /** Which instance answered, as the app stamps it (x-instance / x-served-by). */
  readonly servedBy = new Map<string, number>();
  private running = true;
  private readonly loops: Promise<void>[] = [];
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });

  constructor(url: string, concurrency = 8, headers: Record<string, string> = {}) {
    for (let i = 0; i < concurrency; i++) this.loops.push(this.loop(url, headers));
  }

  private async loop(url: string, headers: Record<string, string>): Promise<void> {
    while (this.running) {
      try {
        const r = await http(url, { agent: this.agent, headers });
        if (r.status === 200) this.ok++;
        else this.failures.push(`status ${r.status}: ${r.body.slice(0, 200)}`);
        const by = String(r.headers['x-instance'] ?? r.headers['x-served-by'] ?? '?');
        this.servedBy.set(by, (this.servedBy.get(by) ?? 0) + 1);
      } catch (err) {
        this.failures.push(`error: ${(err as Error).message}`);
      }
    }
  }

  get total(): number {
    return this.ok + this.failures.length;
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.agent.destroy();
  }
}
