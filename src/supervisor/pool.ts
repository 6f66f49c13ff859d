import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import type { NodeEntry } from '../config/schema.ts';
import type { AppSettings } from './app-config.ts';
import { AppProcess } from './app-process.ts';
import { Instance } from './instance.ts';
import { HealthWatch, START_PROBE_MS } from './health-watch.ts';
import { choosePort } from './probe.ts';
import { Versioned, type InstanceRecord, type RegistrySnapshot } from './registry.ts';

/** A place in the pool: at most one current instance, plus its replacement while that starts. */
export interface Slot {
  n: number;
  current: Instance | undefined;
  restarts: number;
  /** Starts in a row that ended before the instance was stable (crash loop). */
  failures: number;
  lastError: string | null;
  lastPort: number | undefined;
  retryAt: number | null;
  retryTimer: NodeJS.Timeout | undefined;
}

/**
 * The node's pool of app servers (seed 001's monitor): starts them on successive ports,
 * probes them, replaces what crashes or hangs (with back-off when it keeps crashing),
 * recycles past the limits by starting the replacement first, and drains DYING instances
 * before stopping them. It is the only writer of the registry.
 */
export class AppPool {
  settings: AppSettings;
  readonly registry: Versioned<RegistrySnapshot>;
  private readonly node: NodeEntry;
  private readonly tableFile: string;
  readonly log: Logger;
  private slots: Slot[] = [];
  private readonly watch = new HealthWatch(this);
  /** DYING instances (and replaced ones being stopped), no longer any slot's current. */
  private readonly retiring = new Set<Instance>();
  private readonly byId = new Map<string, Instance>();
  private generation = 0;
  private closed = false;
  problem: string | null = null;
  reloadState: RegistrySnapshot['reload'] = { state: 'idle', replaced: 0, total: 0, error: null };

  constructor(node: NodeEntry, settings: AppSettings, tableFile: string, log: Logger) {
    this.node = node;
    this.settings = settings;
    this.tableFile = tableFile;
    this.log = log.child({ component: 'supervisor' });
    this.registry = new Versioned(() => this.snapshot());
  }

  start(): void {
    this.resize(this.settings.instances);
    this.log.info({ event: 'app_pool_started', command: this.settings.command, instances: this.settings.instances, basePort: this.settings.basePort }, `app pool of ${this.settings.instances}`);
  }

  /** Grows or shrinks the pool to n slots (a reload may change the count). */
  resize(n: number): void {
    while (this.slots.length < n) {
      const slot: Slot = { n: this.slots.length + 1, current: undefined, restarts: 0, failures: 0, lastError: null, lastPort: undefined, retryAt: null, retryTimer: undefined };
      this.slots.push(slot);
      void this.launch(slot);
    }
    for (const slot of this.slots.splice(n)) {
      clearTimeout(slot.retryTimer);
      if (slot.current) this.retire(slot.current, 'pool shrunk');
    }
    this.registry.bump();
  }

  /** Requests the fronts sent each instance since their last report. */
  served(counts: Record<string, number>): void {
    const { maxRequests } = this.settings.recycle;
    for (const [id, n] of Object.entries(counts)) {
      const inst = this.byId.get(id);
      if (!inst) continue;
      inst.requests += n;
      if (maxRequests > 0 && inst.requests >= maxRequests && inst.state === 'ready') this.replace(inst, `served ${inst.requests} requests (limit ${maxRequests})`);
    }
  }

  /** Starts a new instance in the slot; a replacement when `replaces` is given. */
  async launch(slot: Slot, replaces?: Instance): Promise<Instance | undefined> {
    if (this.closed) return undefined;
    slot.retryAt = null;
    const port = await choosePort(this.node.host, this.settings, slot.lastPort, new Set([...this.byId.values()].map((i) => i.port)));
    if (this.closed || !this.slots.includes(slot)) return undefined;
    if (port === undefined) {
      const end = this.settings.basePort + this.settings.portSpan - 1;
      this.failed(slot, `every port of ${this.node.host}:${this.settings.basePort}-${end} is taken`);
      return undefined;
    }
    // spawn() would blame the program for a missing working directory: say what is missing.
    if (!existsSync(this.settings.cwd)) {
      this.failed(slot, `working directory ${this.settings.cwd} does not exist`);
      return undefined;
    }
    const id = `${this.node.id}.${slot.n}.${++this.generation}`;
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      ...this.settings.env,
      PORT: String(port),
      HOST: this.node.host,
      COHORT_NODE: this.node.id,
      COHORT_CONFIG: this.tableFile,
      COHORT_INSTANCE: id,
    };
    const proc = new AppProcess({ id, command: this.settings.command, cwd: this.settings.cwd, env }, this.log);
    const inst = new Instance(id, slot.n, this.node.host, port, proc);
    this.byId.set(id, inst);
    slot.lastPort = port;
    if (replaces) {
      inst.replaces = replaces;
      replaces.replacedBy = inst;
    } else {
      slot.current = inst;
    }
    this.log.info({ event: 'app_started', instance: id, pid: proc.pid, port, replaces: replaces?.id }, `${id} started on port ${port}`);
    void proc.ended.then((reason) => this.ended(slot, inst, reason));
    this.watch.schedule(inst, START_PROBE_MS);
    this.registry.bump();
    return inst;
  }

  /** Recycle or reload: start the replacement, and retire `inst` only once that one is ready. */
  replace(inst: Instance, why: string): Promise<boolean> {
    if (inst.replacedBy) return inst.replacedBy.outcome;
    const slot = this.slots.find((s) => s.current === inst);
    if (!slot || inst.state !== 'ready') return Promise.resolve(false);
    // Replacements that keep failing back off like any crash loop.
    if (slot.retryAt !== null && Date.now() < slot.retryAt) return Promise.resolve(false);
    this.log.info({ event: 'app_recycle', instance: inst.id, why }, `${inst.id}: replacing it (${why})`);
    return this.launch(slot, inst).then((next) => next?.outcome ?? false);
  }

  /** DYING: no new sessions; stopped when its sessions end or drainTimeoutMs passes. */
  retire(inst: Instance, why: string): void {
    if (inst.state === 'dying' || inst.state === 'stopped') return;
    const slot = this.slots.find((s) => s.current === inst);
    if (slot) slot.current = undefined;
    inst.state = 'dying';
    inst.dyingSince = Date.now();
    this.retiring.add(inst);
    this.log.info({ event: 'app_dying', instance: inst.id, why, sessions: inst.sessions }, `${inst.id} is DYING (${why})`);
    this.registry.bump();
    // The app declared itself DYING: its slot gets a fresh instance now.
    if (slot && !inst.replacedBy) void this.launch(slot);
    this.checkDrained(inst);
  }

  checkDrained(inst: Instance): void {
    if (inst.state !== 'dying') return;
    const waited = Date.now() - inst.dyingSince;
    if (!inst.sessions) return void this.stop(inst, inst.sessions === 0 ? 'its sessions ended' : 'it reports no sessions');
    if (waited >= this.settings.drainTimeoutMs) return void this.stop(inst, `drain timeout (${inst.sessions} sessions left)`);
  }

  /** Out of the registry first (the fronts stop sending), then SIGTERM, SIGKILL after killTimeoutMs. */
  private async stop(inst: Instance, why: string): Promise<void> {
    if (inst.stopping) return;
    inst.stopping = true;
    inst.state = 'stopped';
    this.watch.cancel(inst);
    const watchers = this.registry.waiting;
    this.registry.bump();
    // Give the fronts that follow the registry a moment to hear it before the port closes.
    await this.registry.rejoined(watchers, 1000);
    this.log.info({ event: 'app_stopping', instance: inst.id, why }, `${inst.id} stopping (${why})`);
    const how = await inst.proc.stop(this.settings.killTimeoutMs);
    this.log.info({ event: 'app_stopped', instance: inst.id, how }, `${inst.id} stopped (${how})`);
  }

  private ended(slot: Slot, inst: Instance, reason: string): void {
    this.watch.cancel(inst);
    inst.settle(false);
    this.byId.delete(inst.id);
    this.retiring.delete(inst);
    const wasCurrent = slot.current === inst;
    if (wasCurrent) slot.current = undefined;
    if (inst.replaces?.replacedBy === inst) inst.replaces.replacedBy = undefined;
    inst.state = 'stopped';
    if (!inst.stopping && !this.closed && this.slots.includes(slot) && (wasCurrent || inst.replaces)) {
      const lived = Date.now() - inst.proc.startedAt;
      const stable = inst.readyAt > 0 && lived >= this.settings.stableMs;
      this.log.warn({ event: 'app_exited', instance: inst.id, reason, livedMs: lived, ready: inst.readyAt > 0 }, `${inst.id} ${reason}`);
      slot.restarts++;
      if (stable) slot.failures = 0;
      // A replacement that failed leaves its predecessor serving; the slot still backs off.
      this.failed(slot, reason, !wasCurrent);
    } else if (!inst.stopping && !this.closed) {
      this.log.info({ event: 'app_exited', instance: inst.id, reason, state: 'dying' }, `${inst.id} ${reason} while DYING`);
    }
    this.registry.bump();
  }

  /** A start failed or an instance crashed: start again, at once the first time, then backing off. */
  private failed(slot: Slot, reason: string, keepCurrent = false): void {
    slot.failures++;
    slot.lastError = reason;
    const { minMs, maxMs } = this.settings.backoff;
    const delay = slot.failures <= 1 ? 0 : Math.min(maxMs, minMs * 2 ** (slot.failures - 2));
    if (slot.failures >= 3) {
      this.problem = `slot ${slot.n}: ${reason} (${slot.failures} failed starts in a row; next try in ${delay} ms)`;
      this.log.error({ event: 'app_crash_loop', slot: slot.n, failures: slot.failures, reason, retryInMs: delay, command: this.settings.command }, `app keeps failing: ${reason}; retrying in ${delay} ms`);
    }
    slot.retryAt = Date.now() + delay;
    if (keepCurrent) return;
    clearTimeout(slot.retryTimer);
    slot.retryTimer = setTimeout(() => void this.launch(slot), delay);
    this.registry.bump();
  }

  becameReady(inst: Instance): void {
    inst.state = 'ready';
    inst.readyAt = Date.now();
    this.log.info({ event: 'app_ready', instance: inst.id, port: inst.port, startMs: inst.readyAt - inst.proc.startedAt }, `${inst.id} ready`);
    const old = inst.replaces;
    if (old && old.replacedBy === inst) {
      const slot = this.slots.find((s) => s.current === old);
      this.retire(old, 'replaced');
      if (slot) slot.current = inst;
    }
    inst.settle(true);
    this.registry.bump();
  }

  /** Up and answering for stableMs: its slot's crash loop, if any, is over. */
  stable(inst: Instance): void {
    const slot = this.slots.find((s) => s.current === inst);
    if (!slot || slot.failures === 0 || Date.now() - inst.readyAt < this.settings.stableMs) return;
    slot.failures = 0;
    if (!this.slots.some((s) => s.failures >= 3)) this.problem = null;
    this.registry.bump();
  }

  get slotList(): readonly Slot[] {
    return this.slots;
  }

  snapshot(): RegistrySnapshot {
    const instances: InstanceRecord[] = [];
    for (const slot of this.slots) {
      const live = [slot.current, slot.current?.replacedBy].filter((i): i is Instance => i !== undefined);
      for (const inst of live) instances.push(inst.record(slot.restarts, slot.lastError));
      if (live.length === 0) {
        instances.push({ id: `${this.node.id}.${slot.n}`, slot: slot.n, state: 'stopped', host: this.node.host, port: null, pid: null, startedAt: null, requests: 0, restarts: slot.restarts, sessions: null, rssBytes: null, lastError: slot.lastError, retryAt: slot.retryAt });
      }
    }
    for (const inst of this.retiring) instances.push(inst.record(0, null));
    return { node: this.node.id, boot: this.registry.boot, version: this.registry.version, command: this.settings.command, problem: this.problem, reload: { ...this.reloadState }, instances };
  }

  /** The node stops: every instance gets SIGTERM, and SIGKILL after killTimeoutMs. */
  async close(): Promise<void> {
    this.closed = true;
    for (const slot of this.slots) clearTimeout(slot.retryTimer);
    const all = [...this.byId.values()];
    for (const inst of all) {
      this.watch.cancel(inst);
      inst.stopping = true;
      inst.state = 'stopped';
    }
    this.registry.close();
    await Promise.all(all.map((i) => i.proc.stop(this.settings.killTimeoutMs)));
  }
}
