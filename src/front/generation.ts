import type { Logger } from 'pino';
import type { HostTable } from '../config/host-table.ts';
import type { CallNode } from '../client/node-connection.ts';
import { Backend, type SeriesBackendConfig } from './backend.ts';
import { clusterTrustContext } from '../net/cluster-trust.ts';
import { Stickiness, stickyPolicy } from './balance/sticky.ts';
import { routeConfigs, type BackendConfig, type FrontConfig, type RouteConfig } from './config.ts';
import { RemoteDispatcher } from './dispatcher/remote-dispatcher.ts';
import type { FrontState } from './front-state.ts';
import { createPolicy } from './policies/index.ts';
import { LardPolicy } from './policies/lard.ts';
import type { LoadFigures } from './policies/least-load.ts';
import type { Policy } from './policies/policy.ts';
import type { RouteState } from './routes.ts';

/** What a new generation is built from. */
export interface GenerationInput {
  table: HostTable;
  cfg: FrontConfig;
  /** backends: apps — the instances the registries list now. */
  apps: { def: SeriesBackendConfig; dying: boolean }[];
  /** The generation in service (none at start): its back-ends, policies and dispatchers are kept where they still fit. */
  previous: FrontState | undefined;
  /** front.node's caller (shared dispatchers need one). */
  call: CallNode | undefined;
  loads: LoadFigures;
  log: Logger;
}

/** A configuration generation built beside the one in service, and what to do once it is swapped in. */
export interface Generation {
  state: FrontState;
  /**
   * After the swap, in the same turn: back-ends carried over take their new settings, dying app
   * instances go draining, and what the new generation dropped (back-ends, dispatchers) stops.
   * Nothing live changes before it, so a build that throws changes nothing (Caddy's rule).
   */
  commit(): void;
}

/**
 * Builds the state for a host table. Back-ends that stay (same id and address) keep their
 * health, counters and connections; a route's policy with memory (LARD's targets, the hash
 * ring) and its shared dispatcher carry over while the route's settings for them stay.
 */
export function buildGeneration(input: GenerationInput): Generation {
  const { cfg, previous, log } = input;
  const byId = new Map<string, Backend>();
  /** Every back-end object, and the health settings it is checked by. */
  const healthOf = new Map<Backend, RouteConfig['health']>();
  const ofId = new Map<string, Backend[]>();
  const routes: RouteState[] = [];
  const later: (() => void)[] = [];
  /** Each back-end's routes' caps on passive ejection (generation-wide: an object may be in several routes). */
  const ejectionGates = new Map<Backend, ((now: number) => boolean)[]>();
  for (const rc of routeConfigs(cfg)) {
    // What its back-ends run by: the front's limits and timeouts, the route's health and session settings (health.ts reads them as a FrontConfig).
    const settings: FrontConfig = { ...cfg, sticky: rc.sticky, health: rc.health };
    const defs = rc.backends === 'access' ? accessBackends(input.table) : rc.backends === 'apps' ? input.apps.map((a) => a.def) : rc.backends;
    const before = previous?.routes.find((r) => r.cfg.name === rc.name);
    const list = defs.map((def) => {
      // A back-end another route lists too is one object (same address, checked at load) while
      // the routes check it alike; a route with other health settings has its own, checked and
      // ready or not by them.
      const alike = ofId.get(def.id)?.find((b) => sameHealth(healthOf.get(b)!, rc.health));
      if (alike) return alike;
      // Kept from the generation in service (this route's, else any route's) when the address is
      // the same: its health, counters and connections stay, its new settings apply at the swap.
      const old = before?.byId.get(def.id) ?? previous?.byId.get(def.id);
      let b: Backend;
      if (old && !healthOf.has(old) && old.host === def.host && old.port === def.port && (old.tls === undefined) === ((def as SeriesBackendConfig).tls === undefined)) {
        later.push(() => old.configure(def, settings));
        b = old;
      } else {
        b = new Backend(def, settings);
        // An access node a newer host table added joins a front in service once it answers (issue 28).
        if (previous && rc.backends === 'access') b.startDown();
      }
      healthOf.set(b, rc.health);
      const same = ofId.get(def.id);
      if (same) same.push(b);
      else {
        ofId.set(def.id, [b]);
        byId.set(def.id, b);
      }
      return b;
    });
    // Live traffic ejects at most maxEjectedPercent of the route's back-ends at once, and always one;
    // one that active checks hold down is out anyway and takes no place.
    const mayEject = Math.max(1, Math.floor((list.length * rc.health.maxEjectedPercent) / 100));
    const routeAllows = (now: number) => list.filter((b) => b.ejectedUntil > now && b.healthy).length < mayEject;
    for (const b of list) (ejectionGates.get(b) ?? ejectionGates.set(b, []).get(b)!).push(routeAllows);
    const routeById = new Map(list.map((b) => [b.id, b]));
    // A node leaving the cluster (issue 28): its back-ends (its own port, its app instances) take only their sessions' requests.
    const leaving = new Set(input.table.nodes.filter((n) => n.leaving).map((n) => n.id));
    for (const b of list) {
      if (b.node === undefined || !leaving.has(b.node)) continue;
      later.push(() => {
        if (b.admin === 'draining') return;
        b.admin = 'draining';
        log.info({ event: 'backend_draining', backend: b.id, by: 'host table' }, `${b.id} is on node ${b.node}, which is leaving: its sessions only`);
      });
    }
    // A DYING instance (its registry says so) takes only the requests of its sessions.
    if (rc.backends === 'apps') {
      for (const { def, dying } of input.apps) {
        const b = routeById.get(def.id);
        if (!b || !dying) continue;
        later.push(() => {
          if (b.admin === 'draining') return;
          b.admin = 'draining';
          log.info({ event: 'backend_draining', backend: b.id, by: 'app registry' }, `${b.id} is dying: its sessions only`);
        });
      }
    }
    const sticky = rc.sticky.mode === 'cookie' ? new Stickiness(rc.sticky, list.map((b) => b.id)) : undefined;
    const policy = before && samePolicy(before.cfg, rc) ? before.policy : createPolicy({ ...rc, policy: stickyPolicy(rc) }, input.loads);
    let remote: RemoteDispatcher | undefined;
    if (rc.dispatcher && input.call && policy instanceof LardPolicy) {
      const kept = before?.remote && before.policy === policy && before.cfg.dispatcher?.node === rc.dispatcher.node && before.cfg.dispatcher.timeoutMs === rc.dispatcher.timeoutMs;
      remote = kept ? before.remote : new RemoteDispatcher({ call: input.call, node: rc.dispatcher.node, route: rc.name, local: policy, timeoutMs: rc.dispatcher.timeoutMs, log });
    }
    routes.push({ cfg: rc, list, byId: routeById, policy, sticky, remote, waiting: [], deciding: 0 });
  }
  const all = [...healthOf.keys()];
  // A back-end several routes list is ejected only if each of them allows it.
  later.push(() => {
    for (const [b, gates] of ejectionGates) b.ejectionAllowed = (now) => gates.every((allows) => allows(now));
  });
  // At the swap, each object knows the others of its id (an app's drain header reaches them all).
  for (const group of ofId.values()) later.push(() => { for (const b of group) b.sameId = group; });
  const state: FrontState = { cfg, routes, list: [...byId.values()], byId, all, adminToken: cfg.admin?.token };
  return {
    state,
    commit: () => {
      for (const work of later) work();
      if (!previous) return;
      const remotes = new Set(routes.map((r) => r.remote));
      for (const r of previous.routes) if (r.remote && !remotes.has(r.remote)) r.remote.stop();
      for (const b of previous.all) if (!healthOf.has(b)) b.close();
    },
  };
}

function sameHealth(a: RouteConfig['health'], b: RouteConfig['health']): boolean {
  if (a === b) return true;
  for (const key of Object.keys(a) as (keyof typeof a)[]) if (a[key] !== b[key]) return false;
  return Object.keys(a).length === Object.keys(b).length;
}

/** The route's policy settings are the same: its policy (and the memory it holds) carries over. */
function samePolicy(a: RouteConfig, b: RouteConfig): boolean {
  return stickyPolicy(a) === stickyPolicy(b) && a.chashLoadFactor === b.chashLoadFactor && a.lard.tLow === b.lard.tLow && a.lard.tHigh === b.lard.tHigh && a.lard.kS === b.lard.kS && a.lard.maxTargets === b.lard.maxTargets && a.lard.query === b.lard.query;
}

/** backends: access — every access node's own HTTP port (HTTPS where the node has tls: its certificate checked against the cluster CA and the system's roots). */
function accessBackends(table: HostTable): SeriesBackendConfig[] {
  const access = table.nodes.filter((n) => n.role === 'access');
  const trust = access.some((n) => n.tls) ? clusterTrustContext(table.tlsDir) : undefined;
  return access.map((n) => ({ id: n.id, host: n.host, port: n.httpPort, weight: 1, node: n.id, tls: n.tls && trust ? { trust } : undefined }));
}
