import { collectDefaultMetrics, Counter, Gauge, Registry, type Metric } from 'prom-client';
import type { Backend } from './backend.ts';
import { FRONT_ERROR_REASONS, type FrontErrorReason, type RequestObserver } from './request-observer.ts';
import type { MetricsPage } from '../admin/metrics-page.ts';

/** Seconds from 1 ms to 30 s: cached pages, app pages, slow uploads. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'other'];

/** 1xx..5xx; anything else (a back-end may send any three digits) is "other". */
function codeClass(status: number): number {
  return status >= 100 && status < 600 ? Math.floor(status / 100) - 1 : 5;
}

/** One route and back-end's answers: counts by status class, and the latency histogram (buckets not cumulative). */
interface Series {
  route: string;
  backend: string;
  classes: number[];
  buckets: number[];
  sum: number;
  count: number;
}

interface Sample {
  metricName?: string;
  labels: Record<string, string | number>;
  value: number;
}

/**
 * A metric prom-client's Registry renders (it asks get() at scrape time) whose values are
 * kept here in plain arrays: counting a request costs one Map lookup and a few additions,
 * not prom-client's label hashing (about 1 µs a request for a counter and a histogram).
 */
function custom(name: string, help: string, type: 'counter' | 'histogram', values: () => Sample[]): Metric {
  return { name, help, type, get: async () => ({ name, help, type, aggregator: 'sum', values: values() }) } as unknown as Metric;
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
  /**
   * route -> back-end series label -> its answers: two lookups of configured strings (hashed once),
   * not a key built per request. Entries of gone routes and back-ends are removed by retain().
   */
  private readonly series = new Map<string, Map<string, Series>>();
  /** route -> error answers the front made, by reason (FRONT_ERROR_REASONS' order). */
  private readonly errors = new Map<string, number[]>();
  /** route + '\n' + back-end series label -> requests tried again elsewhere after failing there. */
  private readonly retries = new Map<string, { route: string; backend: string; n: number }>();
  private readonly reasonIndex = new Map<string, number>(FRONT_ERROR_REASONS.map((r, i) => [r, i]));

  /** backends: each id once (FrontState.list); a back-end routes check by their own settings counts all its objects (sameId). */
  constructor(backends: () => readonly Backend[], front: () => { connections: { http1: number; h2: number; h2Streams: number }; tunnels: number; maintenancePages: number }) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.registry.registerMetric(
      custom('cohort_front_requests_total', 'Requests a back-end answered, by route, back-end and the class of its status (a retried request counts once per back-end that answered).', 'counter', () => {
        const out: Sample[] = [];
        for (const s of this.allSeries()) {
          s.classes.forEach((n, i) => {
            if (n > 0) out.push({ labels: { route: s.route, backend: s.backend, code_class: CLASSES[i] }, value: n });
          });
        }
        return out;
      }),
    );
    this.registry.registerMetric(
      custom('cohort_front_request_duration_seconds', 'From the request accepted by the front to the end of the back-end answer (a WebSocket: until it closed).', 'histogram', () => {
        const out: Sample[] = [];
        const name = 'cohort_front_request_duration_seconds';
        for (const s of this.allSeries()) {
          const labels = { route: s.route, backend: s.backend };
          let below = 0;
          BUCKETS.forEach((le, i) => {
            below += s.buckets[i];
            out.push({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: below });
          });
          out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: s.count });
          out.push({ metricName: `${name}_sum`, labels, value: s.sum });
          out.push({ metricName: `${name}_count`, labels, value: s.count });
        }
        return out;
      }),
    );
    this.registry.registerMetric(
      custom('cohort_front_retries_total', 'Requests that failed on a back-end before any answer and were tried again (on another back-end, or answered 503 when none was left; HAProxy: wretr/wredis), by route and the back-end that failed.', 'counter', () =>
        [...this.retries.values()].map((r) => ({ labels: { route: r.route, backend: r.backend }, value: r.n }))),
    );
    this.registry.registerMetric(
      custom('cohort_front_errors_total', 'Error answers the front made itself (500 dispatcher, 502, 503, 504), by route and reason.', 'counter', () => {
        const out: Sample[] = [];
        for (const [route, counts] of this.errors) {
          counts.forEach((n, i) => {
            if (n > 0) out.push({ labels: { route, reason: FRONT_ERROR_REASONS[i] }, value: n });
          });
        }
        return out;
      }),
    );
    new Gauge({
      name: 'cohort_front_backend_up',
      help: 'Whether the back-end is usable (1: healthy and not ejected, by every route that checks it; a draining one still counts) or not (0).',
      labelNames: ['backend'],
      registers,
      collect() {
        this.reset();
        const now = Date.now();
        for (const b of backends()) this.set({ backend: b.id }, b.sameId.every((x) => x.usable(now)) ? 1 : 0);
      },
    });
    new Gauge({
      name: 'cohort_front_backend_draining',
      help: 'Whether the back-end is draining (1): it serves its sessions only.',
      labelNames: ['backend'],
      registers,
      collect() {
        this.reset();
        for (const b of backends()) this.set({ backend: b.id }, b.sameId.some((x) => x.admin === 'draining') ? 1 : 0);
      },
    });
    new Gauge({
      name: 'cohort_front_backend_active_requests',
      help: 'Requests the back-end holds now (sent, not yet answered in full).',
      labelNames: ['backend'],
      registers,
      collect() {
        this.reset();
        for (const b of backends()) this.set({ backend: b.id }, b.sameId.reduce((n, x) => n + x.active, 0));
      },
    });
    new Gauge({
      name: 'cohort_front_client_connections',
      help: 'Client connections open on the front now, by protocol (http/1.1, or h2 by ALPN).',
      labelNames: ['protocol'],
      registers,
      collect() {
        const { http1, h2 } = front().connections;
        this.set({ protocol: 'http/1.1' }, http1);
        this.set({ protocol: 'h2' }, h2);
      },
    });
    new Gauge({
      name: 'cohort_front_h2_streams',
      help: 'HTTP/2 streams open on the front now (requests under way, WebSockets over h2).',
      registers,
      collect() {
        this.set(front().connections.h2Streams);
      },
    });
    new Gauge({
      name: 'cohort_front_tunnels',
      help: 'Switched connections (WebSockets) open now.',
      registers,
      collect() {
        this.set(front().tunnels);
      },
    });
    new Counter({
      name: 'cohort_front_maintenance_pages_total',
      help: 'Maintenance pages served (503) while the cluster is in maintenance mode.',
      registers,
      collect() {
        this.reset();
        this.inc(front().maintenancePages);
      },
    });
  }

  answered(route: string, backend: string, status: number, ms: number): void {
    let byBackend = this.series.get(route);
    if (!byBackend) this.series.set(route, (byBackend = new Map()));
    let s = byBackend.get(backend);
    if (!s) byBackend.set(backend, (s = { route, backend, classes: CLASSES.map(() => 0), buckets: BUCKETS.map(() => 0), sum: 0, count: 0 }));
    s.classes[codeClass(status)]++;
    // A switched connection's lifetime is not a response time.
    if (status === 101) return;
    const seconds = ms / 1000;
    let i = 0;
    while (i < BUCKETS.length && seconds > BUCKETS[i]) i++;
    if (i < BUCKETS.length) s.buckets[i]++;
    s.sum += seconds;
    s.count++;
  }

  retried(route: string, backend: string): void {
    const key = `${route}\n${backend}`;
    const r = this.retries.get(key);
    if (r) r.n++;
    else this.retries.set(key, { route, backend, n: 1 });
  }

  failed(route: string, reason: FrontErrorReason): void {
    let counts = this.errors.get(route);
    if (!counts) this.errors.set(route, (counts = FRONT_ERROR_REASONS.map(() => 0)));
    counts[this.reasonIndex.get(reason)!]++;
  }

  /** After a swap: forgets the series of routes and back-ends (by series label) no longer configured. */
  retain(routes: ReadonlySet<string>, backends: ReadonlySet<string>): void {
    for (const [route, byBackend] of this.series) {
      if (!routes.has(route)) this.series.delete(route);
      else for (const backend of byBackend.keys()) if (!backends.has(backend)) byBackend.delete(backend);
    }
    for (const route of this.errors.keys()) if (!routes.has(route)) this.errors.delete(route);
    for (const [key, r] of this.retries) if (!routes.has(r.route) || !backends.has(r.backend)) this.retries.delete(key);
  }

  private *allSeries(): Iterable<Series> {
    for (const byBackend of this.series.values()) yield* byBackend.values();
  }

  async render(): Promise<MetricsPage> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
