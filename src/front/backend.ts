import type { BackendConfig, FrontConfig } from './config.ts';
import { SessionTracker } from './session-tracker.ts';
import type { UpstreamTls } from './upstream/connection.ts';
import { UpstreamPool, type PoolOptions } from './upstream/pool.ts';

export type AdminState = 'ready' | 'draining';

export interface HealthEvent {
  at: number;
  ok: boolean;
  /** Where the check failed: 'L4' (connect), 'L7' (HTTP), 'passive' (live traffic). */
  layer: string;
  detail: string;
}

const HISTORY = 20;

/** A back-end's definition, and the label its metrics go under when that is not its id (an app instance's slot). */
export type SeriesBackendConfig = BackendConfig & { series?: string; tls?: UpstreamTls };

/**
 * One back-end as the front sees it: its connection pool, health (debounced by rise /
 * fall, plus passive ejection), admin state, and live counters. "Ready" is healthy AND
 * not ejected AND not draining; a draining back-end still serves its existing sessions.
 */
export class Backend {
  readonly id: string;
  /** The back-end label of its metrics series. */
  readonly series: string;
  readonly host: string;
  readonly port: number;
  weight: number;
  node: string | undefined;
  readonly pool: UpstreamPool;
  admin: AdminState = 'ready';
  /** The app itself said X-Cohort-Drain on an answer (not an operator's drain): its supervisor hears of it. */
  appDraining = false;
  /** Every object of this back-end's id (one per route that checks it by other health settings), itself included. */
  sameId: Backend[] = [this];
  healthy = true;
  ejectedUntil = 0;
  /** Whether live traffic may eject it now: its route's cap on back-ends ejected at once (set by generation.ts). */
  ejectionAllowed: (now: number) => boolean = () => true;
  /** When it last became usable again: slow start ramps its weight from here. */
  upSince = 0;
  active = 0;
  requests = 0;
  errors = 0;
  readonly history: HealthEvent[] = [];
  /** Its sticky sessions, live or not, for draining (bounded: see SessionTracker). */
  readonly sessions: SessionTracker;
  private streak = 0;
  private recentErrors: number[] = [];
  private cfg: FrontConfig;

  constructor(def: SeriesBackendConfig, cfg: FrontConfig) {
    this.id = def.id;
    this.series = def.series ?? def.id;
    this.host = def.host;
    this.port = def.port;
    this.weight = def.weight;
    this.node = def.node;
    this.cfg = cfg;
    this.pool = new UpstreamPool(def.host, def.port, poolOptions(cfg), def.tls);
    this.sessions = new SessionTracker(cfg.sticky.sessionIdleS * 1000, cfg.limits.maxTrackedSessions);
  }

  /** The settings it runs by: its route's (health, stickiness) over the front's. */
  get config(): FrontConfig {
    return this.cfg;
  }

  /** HTTPS to it (a node's port with tls), else undefined. */
  get tls(): UpstreamTls | undefined {
    return this.pool.tls;
  }

  configure(def: SeriesBackendConfig, cfg: FrontConfig): void {
    this.pool.tls = def.tls;
    this.weight = def.weight;
    this.node = def.node;
    this.cfg = cfg;
    this.pool.configure(poolOptions(cfg));
    this.sessions.configure(cfg.sticky.sessionIdleS * 1000, cfg.limits.maxTrackedSessions);
  }

  /** Usable at all (sticky sessions may still use a draining one). */
  usable(now: number): boolean {
    return this.healthy && now >= this.ejectedUntil;
  }

  ready(now: number): boolean {
    return this.admin === 'ready' && this.usable(now);
  }

  /** Weight scaled down during slow start, so a returning back-end is not flooded. */
  effectiveWeight(now: number): number {
    const ramp = this.cfg.health.slowStartMs;
    const since = now - this.upSince;
    if (ramp === 0 || since >= ramp) return this.weight;
    return Math.max(this.weight * 0.05, (this.weight * since) / ramp);
  }

  /** A back-end a running front takes on (a node the host table added): out until its first check passes. */
  startDown(): void {
    this.healthy = false;
    this.streak = this.cfg.health.rise - 1;
  }

  /** An active check's result; state flips only after `rise` or `fall` results in a row. */
  checked(ok: boolean, layer: string, detail: string, now = Date.now()): void {
    this.note({ at: now, ok, layer, detail });
    if (ok) this.streak = this.streak > 0 ? this.streak + 1 : 1;
    else this.streak = this.streak < 0 ? this.streak - 1 : -1;
    if (!this.healthy && ok && this.streak >= this.cfg.health.rise) {
      this.healthy = true;
      this.upSince = now;
    } else if (this.healthy && !ok && -this.streak >= this.cfg.health.fall) {
      this.healthy = false;
    }
    // A failed check (a certificate that no longer checks out, say): no connection resumes past it.
    if (!ok) this.pool.forgetTlsSession();
  }

  /** Live traffic's verdict: a burst of connection errors or 5xx ejects it for a while. */
  served(ok: boolean, detail: string, now = Date.now()): void {
    if (ok) return;
    this.errors++;
    const { windowMs, errorsToEject, ejectMs } = this.cfg.health;
    this.recentErrors = this.recentErrors.filter((t) => t > now - windowMs);
    this.recentErrors.push(now);
    // Only the last errorsToEject count (ejection may be refused, and the errors keep coming).
    if (this.recentErrors.length > errorsToEject) this.recentErrors.splice(0, this.recentErrors.length - errorsToEject);
    if (this.recentErrors.length >= errorsToEject && now >= this.ejectedUntil) {
      if (!this.ejectionAllowed(now)) return this.notEjected(now, detail);
      this.ejectedUntil = now + ejectMs;
      this.upSince = this.ejectedUntil;
      this.recentErrors = [];
      this.note({ at: now, ok: false, layer: 'passive', detail: `ejected for ${ejectMs} ms after ${errorsToEject} errors: ${detail}` });
    }
  }

  /** A connection failure is certain news: eject at once (within the route's cap), the health check brings it back. */
  unreachable(detail: string, now = Date.now()): void {
    this.errors++;
    if (now >= this.ejectedUntil && !this.ejectionAllowed(now)) return this.notEjected(now, detail);
    this.ejectedUntil = now + this.cfg.health.ejectMs;
    this.upSince = this.ejectedUntil;
    this.note({ at: now, ok: false, layer: 'passive', detail });
  }

  /** Live traffic would eject it, but as many of its route's back-ends as may be are ejected already. */
  private notEjected(now: number, detail: string): void {
    const last = this.history.at(-1);
    // Once a burst, not once a request: the history is what /status shows.
    if (last?.layer === 'passive' && !last.ok && now - last.at < 1000) return;
    this.note({ at: now, ok: false, layer: 'passive', detail: `not ejected (health.maxEjectedPercent: as many back-ends as may be are ejected): ${detail}` });
  }

  /** The active check saw it answer again: lift a passive ejection early. */
  recovered(now = Date.now()): void {
    if (this.ejectedUntil > now) {
      this.ejectedUntil = now;
      this.upSince = now;
    }
  }

  status(now: number) {
    return {
      id: this.id,
      address: `${this.host}:${this.port}`,
      node: this.node ?? null,
      weight: this.weight,
      effectiveWeight: Math.round(this.effectiveWeight(now) * 100) / 100,
      state: this.ready(now) ? 'ready' : this.admin === 'draining' ? 'draining' : !this.healthy ? 'down' : 'ejected',
      admin: this.admin,
      healthy: this.healthy,
      ejectedForMs: Math.max(0, this.ejectedUntil - now),
      active: this.active,
      requests: this.requests,
      errors: this.errors,
      connections: { open: this.pool.open, inUse: this.pool.inUse, queued: this.pool.queued },
      liveSessions: this.sessions.live(now),
      trackedSessions: this.sessions.tracked,
      sessionsEvicted: this.sessions.evicted,
      history: this.history,
    };
  }

  close(): void {
    this.pool.close();
  }

  private note(event: HealthEvent): void {
    this.history.push(event);
    if (this.history.length > HISTORY) this.history.shift();
  }
}

function poolOptions(cfg: FrontConfig): PoolOptions {
  return {
    maxConns: cfg.limits.maxConnsPerBackend,
    queueSize: cfg.limits.queueSize,
    queueTimeoutMs: cfg.limits.queueTimeoutMs,
    connectTimeoutMs: cfg.timeouts.connectMs,
    idleTimeoutMs: cfg.timeouts.idleMs,
    upstreamTimeoutMs: cfg.timeouts.upstreamMs,
    maxHeaderBytes: Math.max(cfg.limits.maxHeaderBytes, 65_536),
  };
}
