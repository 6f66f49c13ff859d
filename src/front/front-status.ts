import { LardPolicy } from './policies/lard.ts';
import type { Backend } from './backend.ts';
import type { FrontState } from './front-state.ts';
import type { CertificateSummary } from '../tls/certificate-set.ts';

/** What /status (and the dashboard) reads: the state in service and the front's counters. */
export interface FrontStatusSources {
  state: FrontState;
  startedAt: number;
  reloads: number;
  certificates: CertificateSummary[] | undefined;
  tunnels: number;
  connections: number;
  /** The connections by protocol, and the HTTP/2 streams open on them. */
  protocols: { http1: number; h2: number; h2Streams: number };
  apps: unknown;
  maintenance: object | undefined;
  load: (node: string) => unknown;
}

/** The admin listener's GET /status: the listener, the back-ends, the routes. */
export function frontStatus(src: FrontStatusSources) {
  const now = Date.now();
  const { cfg, routes } = src.state;
  return {
    listen: `${cfg.listen.host}:${cfg.listen.port}`,
    policy: cfg.policy,
    sticky: cfg.sticky.mode,
    uptimeS: Math.round((now - src.startedAt) / 1000),
    reloads: src.reloads,
    certificates: src.certificates ?? null,
    tunnels: src.tunnels,
    connections: src.connections,
    protocols: src.protocols,
    apps: src.apps ?? null,
    maintenance: src.maintenance ?? null,
    backends: backendsStatus(src.state, now, src.load),
    routes: routes.map((r) => ({
      name: r.cfg.name,
      prefix: r.cfg.prefix,
      host: r.cfg.host ?? null,
      policy: r.policy.name,
      sticky: r.cfg.sticky.mode,
      backends: r.list.map((b) => b.id),
      waiting: r.waiting.length,
      dispatcher: r.remote ? { node: r.remote.node, state: r.remote.state, shared: r.remote.shared, alone: r.remote.alone, batches: r.remote.batches } : null,
      // This front's own LARD table (a shared dispatcher keeps its own): targets, and the bytes each back-end's cache must hold for them.
      lard: r.policy instanceof LardPolicy ? { targets: r.policy.lard.size, placedBytes: r.policy.lard.placed() } : null,
    })),
  };
}

/**
 * Each back-end once, as the admin's /status and the dashboard show it. A back-end that routes
 * check by their own health settings is an object per such route (generation.ts): its entry
 * sums what they hold and served (active, requests, errors), takes its state from the first
 * route that has it, and lists each route's view under `routes`.
 */
function backendsStatus(state: FrontState, now: number, load: (node: string) => unknown) {
  return state.list.map((b) => {
    const entry = { ...b.status(now), load: b.node === undefined ? null : (load(b.node) ?? null) };
    if (b.sameId.length < 2) return entry;
    const sum = (pick: (x: Backend) => number) => b.sameId.reduce((n, x) => n + pick(x), 0);
    return {
      ...entry,
      active: sum((x) => x.active),
      requests: sum((x) => x.requests),
      errors: sum((x) => x.errors),
      routes: b.sameId.map((x) => {
        const s = x.status(now);
        return { route: state.routes.find((r) => r.list.includes(x))?.cfg.name ?? null, state: s.state, healthy: s.healthy, active: s.active, requests: s.requests, errors: s.errors };
      }),
    };
  });
}
