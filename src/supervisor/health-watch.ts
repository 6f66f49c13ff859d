import type { Logger } from 'pino';
import type { Instance } from './instance.ts';
import { probe } from './probe.ts';

/** What the watch asks of its pool (pool.ts's AppPool): the transitions a probe's answer leads to. */
export interface WatchedPool {
  readonly log: Logger;
  readonly registry: { bump(): void };
  becameReady(inst: Instance): void;
  stable(inst: Instance): void;
  retire(inst: Instance, why: string): void;
  replace(inst: Instance, why: string): Promise<boolean>;
  checkDrained(inst: Instance): void;
}

/** How a starting instance is probed: often, so a replacement is in service soon. */
export const START_PROBE_MS = 100;

/**
 * The pool's eyes: probes each instance on its own timer and turns what it learns into the
 * pool's transitions (ready, DYING, recycle, kill when hung or too slow to start).
 */
export class HealthWatch {
  private readonly pool: WatchedPool;

  constructor(pool: WatchedPool) {
    this.pool = pool;
  }

  schedule(inst: Instance, delay: number): void {
    clearTimeout(inst.probeTimer);
    inst.probeTimer = setTimeout(() => void this.probe(inst), delay);
  }

  cancel(inst: Instance): void {
    clearTimeout(inst.probeTimer);
  }

  private async probe(inst: Instance): Promise<void> {
    if (inst.stopping || inst.proc.exited) return;
    const { pool } = this;
    const { settings } = inst;
    const { path, timeoutMs, intervalMs, fails } = settings.health;
    const r = await probe(inst.host, inst.port, path, timeoutMs);
    if (inst.stopping || inst.proc.exited) return;
    inst.rss = inst.proc.rssBytes();
    // An answer that says X-Cohort-Drain is alive whatever its status (a DYING app may say 503).
    const alive = r.ok || r.dying;
    const sessionsChanged = alive && r.sessions !== inst.sessions;
    if (alive) inst.sessions = r.sessions;
    if (inst.state === 'starting') {
      if (r.ok) pool.becameReady(inst);
      else if (Date.now() - inst.proc.startedAt >= settings.startTimeoutMs) {
        pool.log.warn({ event: 'app_start_timeout', instance: inst.id, detail: r.detail }, `${inst.id} did not answer ${path} within ${settings.startTimeoutMs} ms: killing it`);
        void inst.proc.kill();
        return;
      }
    } else if (alive) {
      inst.failedProbes = 0;
      pool.stable(inst);
      if (r.dying && inst.state === 'ready') pool.retire(inst, 'the app declared itself DYING');
      else this.limitCheck(inst);
      if (sessionsChanged) pool.registry.bump();
    } else if (++inst.failedProbes >= fails && (inst.state === 'ready' || inst.state === 'dying')) {
      pool.log.warn({ event: 'app_unresponsive', instance: inst.id, detail: r.detail, failedProbes: inst.failedProbes }, `${inst.id} failed ${inst.failedProbes} probes (${r.detail}): killing it`);
      void inst.proc.kill();
      return;
    }
    pool.checkDrained(inst);
    if (!inst.stopping) this.schedule(inst, inst.state === 'starting' ? START_PROBE_MS : intervalMs);
  }

  /** Past its memory limit: recycled, replacement first. */
  private limitCheck(inst: Instance): void {
    const { maxMemoryMb } = inst.settings.recycle;
    if (maxMemoryMb > 0 && inst.rss !== null && inst.rss > maxMemoryMb * 1024 * 1024 && inst.state === 'ready') {
      void this.pool.replace(inst, `resident set ${Math.round(inst.rss / 1048576)} MiB over ${maxMemoryMb} MiB`);
    }
  }
}
