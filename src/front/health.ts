import { connect } from 'node:net';
import type { Backend } from './backend.ts';
import type { FrontConfig } from './config.ts';
import { ResponseParser } from './http/response-parser.ts';

/** Result of one active check: which layer failed and how. */
export interface CheckResult {
  ok: boolean;
  layer: 'L4' | 'L7';
  detail: string;
}

/** One HTTP GET of the health path on a fresh connection: 2xx or 3xx within the timeout is healthy. */
export function checkOnce(backend: Backend, cfg: FrontConfig): Promise<CheckResult> {
  const { path, timeoutMs } = cfg.health;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (r: CheckResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const socket = connect({ host: backend.host, port: backend.port, noDelay: true });
    const timer = setTimeout(() => finish({ ok: false, layer: socket.connecting ? 'L4' : 'L7', detail: `timeout after ${timeoutMs} ms` }), timeoutMs);
    const parser = new ResponseParser(65_536);
    let status = 0;
    parser.expect({ onHead: (s) => (status = s), onBody: () => {}, onEnd: () => finish(status < 400 ? { ok: true, layer: 'L7', detail: `status ${status}` } : { ok: false, layer: 'L7', detail: `bad status ${status}` }) }, false);
    socket.once('connect', () => socket.write(`GET ${path} HTTP/1.1\r\nhost: ${backend.host}:${backend.port}\r\nuser-agent: cohort-health\r\nconnection: close\r\n\r\n`));
    socket.on('data', (chunk: Buffer) => {
      try {
        parser.push(chunk);
      } catch (err) {
        finish({ ok: false, layer: 'L7', detail: (err as Error).message });
      }
    });
    socket.once('error', (err) => finish({ ok: false, layer: socket.connecting ? 'L4' : 'L7', detail: `connect failed: ${err.message}` }));
    socket.once('close', () => {
      try {
        parser.close();
      } catch (err) {
        finish({ ok: false, layer: 'L7', detail: (err as Error).message });
      }
    });
  });
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
