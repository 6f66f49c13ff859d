import { httpProbe } from '../net/http-probe.ts';
import type { Backend } from './backend.ts';
import type { FrontConfig } from './config.ts';

/** Result of one active check: which layer failed and how. */
export interface CheckResult {
  ok: boolean;
  layer: 'L4' | 'L7';
  detail: string;
}

/** One HTTP GET of the health path on a fresh connection: 2xx or 3xx, the whole answer within the timeout, is healthy. */
export async function checkOnce(backend: Backend, cfg: FrontConfig): Promise<CheckResult> {
  const { path, timeoutMs } = cfg.health;
  const r = await httpProbe({ host: backend.host, port: backend.port, path, timeoutMs, userAgent: 'cohort-health', untilEnd: true, tls: backend.tls });
  if (!r.answered) return { ok: false, layer: r.layer, detail: r.detail };
  return r.status < 400 ? { ok: true, layer: 'L7', detail: `status ${r.status}` } : { ok: false, layer: 'L7', detail: `bad status ${r.status}` };
}

/** A back-end due within this of its interval is checked on this tick, not the next. */
const TICK_SLACK_MS = 50;

/** Runs the active checks of every back-end on its interval. */
export class HealthChecker {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private lastCheck = new WeakMap<Backend, number>();

  private readonly backends: () => Backend[];
  /** Every route's check interval: the ticker runs at the shortest, whatever back-ends the routes have now. */
  private readonly intervals: () => number[];

  constructor(backends: () => Backend[], intervals: () => number[]) {
    this.backends = backends;
    this.intervals = intervals;
  }

  start(): void {
    const tick = async () => {
      if (this.running) return;
      this.running = true;
      try {
        const now = Date.now();
        await Promise.all(this.backends().map(async (b) => {
          // Each back-end at its own route's interval (the ticker runs at the shortest).
          if (now - (this.lastCheck.get(b) ?? 0) < b.config.health.intervalMs - TICK_SLACK_MS) return;
          this.lastCheck.set(b, now);
          const r = await checkOnce(b, b.config);
          b.checked(r.ok, r.layer, r.detail);
          if (r.ok) b.recovered();
        }));
      } finally {
        this.running = false;
      }
    };
    void tick();
    // From the routes, not the back-ends known now: those of `backends: apps` may come later.
    this.timer = setInterval(tick, Math.min(...this.intervals()));
  }

  restart(): void {
    this.stop();
    this.start();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
