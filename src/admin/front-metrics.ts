import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Backend } from '../front/backend.ts';
import type { FrontErrorReason, RequestObserver } from '../front/proxy.ts';
import type { MetricsPage } from '../replication/http-service.ts';

/** Seconds from 1 ms to 30 s: cached pages, app pages, slow uploads. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** 1xx..5xx; anything else (a back-end may send any three digits) is "other". */
function codeClass(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other';
}

/**
 * The front's Prometheus metrics (its own Registry): requests and latency per route and
 * back-end, errors the front made itself, and each back-end's state read at scrape time.
 * Labels are bounded: route names and back-end ids come from the configuration (and the app
 * registries, for `backends: apps`), and retain() drops the series of routes and back-ends
 * a reload or registry change removed; code_class and reason are fixed sets.
 */
export class FrontMetrics implements RequestObserver {
  readonly registry = new Registry();
  private readonly requests: Counter<'route' | 'backend' | 'code_class'>;
  private readonly duration: Histogram<'route' | 'backend'>;
  private readonly errors: Counter<'route' | 'reason'>;
  /** The label sets written so far, so that those of gone routes and back-ends can be removed. */
  private readonly series = new Map<string, { route: string; backend: string; code_class: string }>();
  private readonly errorSeries = new Map<string, { route: string; reason: string }>();

  constructor(backends: () => readonly Backend[]) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'cohort_front_requests_total',
      help: 'Requests a back-end answered, by route, back-end and the class of its status (a retried request counts once per back-end that answered).',
      labelNames: ['route', 'backend', 'code_class'],
      registers,
    });
    this.duration = new Histogram({
      name: 'cohort_front_request_duration_seconds',
      help: 'From the request accepted by the front to the end of the back-end answer (a WebSocket: until it closed).',
      labelNames: ['route', 'backend'],
      buckets: BUCKETS,
      registers,
    });
    this.errors = new Counter({
      name: 'cohort_front_errors_total',
      help: 'Error answers the front made itself (500 dispatcher, 502, 503, 504), by route and reason.',
      labelNames: ['route', 'reason'],
      registers,
    });
    new Gauge({
      name: 'cohort_front_backend_up',
      help: 'Whether the back-end is usable (1: healthy and not ejected; a draining one still counts) or not (0).',
      labelNames: ['backend'],
      registers,
      collect() {
        this.reset();
        const now = Date.now();
        for (const b of backends()) this.set({ backend: b.id }, b.usable(now) ? 1 : 0);
      },
    });
    new Gauge({
      name: 'cohort_front_backend_draining',
      help: 'Whether the back-end is draining (1): it serves its sessions only.',
      labelNames: ['backend'],
      registers,
      collect() {
        this.reset();
        for (const b of backends()) this.set({ backend: b.id }, b.admin === 'draining' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'cohort_front_backend_active_requests',
      help: 'Requests the back-end holds now (sent, not yet answered in full).',
      labelNames: ['backend'],
      registers,
      collect() {
        this.reset();
        for (const b of backends()) this.set({ backend: b.id }, b.active);
      },
    });
  }

  answered(route: string, backend: string, status: number, ms: number): void {
    const code_class = codeClass(status);
    const key = `${route}\n${backend}\n${code_class}`;
    if (!this.series.has(key)) this.series.set(key, { route, backend, code_class });
    this.requests.inc({ route, backend, code_class });
    this.duration.observe({ route, backend }, ms / 1000);
  }

  failed(route: string, reason: FrontErrorReason): void {
    const key = `${route}\n${reason}`;
    if (!this.errorSeries.has(key)) this.errorSeries.set(key, { route, reason });
    this.errors.inc({ route, reason });
  }

  /** After a swap: forgets the series of routes and back-ends no longer configured. */
  retain(routes: ReadonlySet<string>, backends: ReadonlySet<string>): void {
    for (const [key, labels] of this.series) {
      if (routes.has(labels.route) && backends.has(labels.backend)) continue;
      this.series.delete(key);
      this.requests.remove(labels);
      this.duration.remove({ route: labels.route, backend: labels.backend });
    }
    for (const [key, labels] of this.errorSeries) {
      if (routes.has(labels.route)) continue;
      this.errorSeries.delete(key);
      this.errors.remove(labels);
    }
  }

  async render(): Promise<MetricsPage> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
