import type { Logger } from 'pino';
import { doubling } from '../net/backoff.ts';
import type { NodeEntry } from '../config/schema.ts';
import type { AppSettings } from '../config/app-schema.ts';
import type { Instance } from './instance.ts';
import { InstanceStarter } from './instance-starter.ts';
import { HealthWatch, START_PROBE_MS } from './health-watch.ts';
import { reapOrphans } from './orphans.ts';
import { Versioned, type RegistrySnapshot } from './registry.ts';
import { newSlot, slotRecords, type Slot } from './slot.ts';

/**
 * The node's pool of app servers (seed 001's monitor): starts them on successive ports,
 * probes them, replaces what crashes or hangs (with back-off when it keeps crashing),
 * recycles past the limits by starting the replacement first, and drains DYING instances
 * before stopping them. It is the only writer of the registry.
 */
export class AppPool {
  /** What new instances start with; each instance keeps the settings it started with. */
  settings: AppSettings;
  readonly registry: Versioned<RegistrySnapshot>;
  private readonly node: NodeEntry;
  private readonly tableFile: string;
  readonly log: Logger;
  private slots: Slot[] = [];
  private readonly watch = new HealthWatch(this);
  /** DYING instances (and replaced ones being stopped), no longer in any slot. */
  private readonly retiring = new Set<Instance>();
  private readonly byId = new Map<string, Instance>();
  private readonly starter: InstanceStarter;
  private closed = false;
  problem: string | null = null;
  /** Instances that exited on their own and were counted as a restart, since this process started (/metrics). */
  restarts = 0;
  reloadState: RegistrySnapshot['reload'] = { state: 'idle', replaced: 0, total: 0, error: null };

  /** appSocket: the node's socket for its apps, given to each instance as $COHORT_SOCKET. */
  constructor(node: NodeEntry, settings: AppSettings, tableFile: string, appSocket: string, log: Logger) {
    this.node = node;
    this.settings = settings;
    this.tableFile = tableFile;
    this.log = log.child({ component: 'supervisor' });
    this.registry = new Versioned(() => this.snapshot());
    this.starter = new InstanceStarter(node, tableFile, appSocket, this.log);
  }

  start(): void {
    reapOrphans(this.node.id, this.tableFile, this.log);
    this.resize(this.settings.instances);
    this.log.info({ event: 'app_pool_started', command: this.settings.command, instances: this.settings.instances, basePort: this.settings.basePort }, `app pool of ${this.settings.instances}`);
  }

  /** Grows or shrinks the pool to n slots (a reload may change the count). */
  resize(n: number): void {
    while (this.slots.length < n) {
      const slot = newSlot(this.slots.length + 1);
      this.slots.push(slot);
      void this.launch(slot);
    }
    for (const slot of this.slots.splice(n)) {
      clearTimeout(slot.retryTimer);
      for (const inst of [slot.next, slot.current]) if (inst) this.retire(inst, 'pool shrunk');
    }
    this.registry.bump();
  }

  /** What the fronts tell: requests sent each instance since their last report, and instances whose answers said X-Cohort-Drain. */
  served(counts: Record<string, number>, draining: string[] = []): void {
    for (const [id, n] of Object.entries(counts)) {
      const inst = this.byId.get(id);
      if (!inst) continue;
      inst.requests += n;
      const { maxRequests } = inst.settings.recycle;
      if (maxRequests > 0 && inst.requests >= maxRequests && inst.state === 'ready') void this.replace(inst, `served ${inst.requests} requests (limit ${maxRequests})`);
    }
    for (const id of draining) {
      const inst = this.byId.get(id);
      if (inst?.state === 'ready') this.retire(inst, 'the app answered a request with X-Cohort-Drain');
    }
  }

  get slotList(): readonly Slot[] {
    return this.slots;
  }

  slotOf(inst: Instance): Slot | undefined {
    return this.slots.find((s) => s.current === inst || s.next === inst);
  }

  /**
   * Starts an instance in the slot: its current one, or with `asNext` the one to take its
   * place. The slot is taken from the call on, so a second start cannot slip in meanwhile.
   */
  launch(slot: Slot, asNext = false): Promise<Instance | undefined> {
    if (this.closed || slot.launching || slot.next || (!asNext && slot.current)) return Promise.resolve(undefined);
    clearTimeout(slot.retryTimer);
    const launching = this.spawnInto(slot, asNext).finally(() => {
      if (slot.launching === launching) slot.launching = undefined;
    });
    slot.launching = launching;
    return launching;
  }

  private async spawnInto(slot: Slot, asNext: boolean): Promise<Instance | undefined> {
    slot.retryAt = null;
    const started = await this.starter.start(slot.n, this.settings, slot.lastPort, () => !this.closed && this.slots.includes(slot));
    if (!started) return undefined;
    // The one it was to replace went away meanwhile: it starts as the slot's current one.
    if (asNext && !slot.current) asNext = false;
    if ('error' in started) {
      this.failed(slot, started.error, { restart: !asNext, replacement: asNext });
      return undefined;
    }
    const inst = started;
    const { id, port, proc } = inst;
    this.byId.set(id, inst);
    slot.lastPort = port;
    if (asNext) slot.next = inst;
    else slot.current = inst;
    this.log.info({ event: 'app_started', instance: id, pid: proc.pid, port, replaces: asNext ? slot.current?.id : undefined }, `${id} started on port ${port}`);
    void proc.ended.then((reason) => this.ended(inst, reason));
    this.watch.schedule(inst, START_PROBE_MS);
    this.registry.bump();
    return inst;
  }

  /** Recycle or reload: start the replacement; `inst` is retired only once that one is ready. Resolves with whether it became ready. */
  replace(inst: Instance, why: string): Promise<boolean> {
    const slot = this.slotOf(inst);
    if (!slot || slot.current !== inst || inst.state !== 'ready') return Promise.resolve(false);
    if (slot.next) return slot.next.outcome;
    if (slot.launching) return slot.launching.then((next) => next?.outcome ?? false);
    // Replacements that keep failing back off like any crash loop.
    if (slot.replaceFailures > 0 && slot.retryAt !== null && Date.now() < slot.retryAt) return Promise.resolve(false);
    this.log.info({ event: 'app_recycle', instance: inst.id, why }, `${inst.id}: replacing it (${why})`);
    return this.launch(slot, true).then((next) => next?.outcome ?? false);
  }

  /** DYING: no new sessions; stopped when its sessions end or its drainTimeoutMs passes. */
  retire(inst: Instance, why: string): void {
    if (inst.state === 'dying' || inst.state === 'stopped') return;
    const slot = this.slotOf(inst);
    const wasCurrent = slot?.current === inst;
    if (slot && wasCurrent) slot.current = undefined;
    if (slot?.next === inst) slot.next = undefined;
    inst.state = 'dying';
    inst.dyingSince = Date.now();
    this.retiring.add(inst);
    this.log.info({ event: 'app_dying', instance: inst.id, why, sessions: inst.sessions }, `${inst.id} is DYING (${why})`);
    this.registry.bump();
    // The app declared itself DYING: its slot gets a fresh instance now, unless one is starting.
    if (slot && wasCurrent) void this.launch(slot);
    this.checkDrained(inst);
  }

  checkDrained(inst: Instance): void {
    if (inst.state !== 'dying') return;
    if (!inst.sessions) return void this.stop(inst, inst.sessions === 0 ? 'its sessions ended' : 'it reports no sessions');
    if (Date.now() - inst.dyingSince >= inst.settings.drainTimeoutMs) return void this.stop(inst, `drain timeout (${inst.sessions} sessions left)`);
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
    const how = await inst.proc.stop(inst.settings.killTimeoutMs);
    this.log.info({ event: 'app_stopped', instance: inst.id, how }, `${inst.id} stopped (${how})`);
  }

  private ended(inst: Instance, reason: string): void {
    this.watch.cancel(inst);
    inst.settle(false);
    this.byId.delete(inst.id);
    this.retiring.delete(inst);
    inst.state = 'stopped';
    const slot = this.slotOf(inst);
    const wasCurrent = slot?.current === inst;
    if (slot && wasCurrent) slot.current = undefined;
    if (slot?.next === inst) slot.next = undefined;
    if (slot && !inst.stopping && !this.closed) {
      const lived = Date.now() - inst.proc.startedAt;
      this.log.warn({ event: 'app_exited', instance: inst.id, reason, livedMs: lived, ready: inst.readyAt > 0 }, `${inst.id} ${reason}`);
      slot.restarts++;
      this.restarts++;
      if (inst.readyAt > 0 && lived >= inst.settings.stableMs) slot.failures = 0;
      // Another instance of the slot still serves or is starting: count the failure, start none.
      this.failed(slot, reason, { restart: !slot.current && !slot.next && !slot.launching, replacement: !wasCurrent });
    } else if (!inst.stopping && !this.closed) {
      this.log.info({ event: 'app_exited', instance: inst.id, reason, state: 'dying' }, `${inst.id} ${reason} while DYING`);
    }
    this.registry.bump();
  }

  /**
   * A start failed or an instance crashed: start again (if `restart`), at once the first time,
   * then backing off. A failed replacement counts on its own: its slot's current one serves on.
   */
  private failed(slot: Slot, reason: string, how: { restart: boolean; replacement: boolean }): void {
    const failures = how.replacement ? ++slot.replaceFailures : ++slot.failures;
    slot.lastError = reason;
    const { minMs, maxMs } = this.settings.backoff;
    const delay = failures <= 1 ? 0 : doubling(minMs, maxMs, failures - 2);
    if (failures >= 3) {
      this.problem = `slot ${slot.n}: ${reason} (${failures} failed ${how.replacement ? 'replacements' : 'starts'} in a row; next try in ${delay} ms)`;
      this.log.error({ event: 'app_crash_loop', slot: slot.n, failures, replacement: how.replacement, reason, retryInMs: delay, command: this.settings.command }, `app keeps failing: ${reason}; retrying in ${delay} ms`);
    }
    slot.retryAt = Date.now() + delay;
    this.registry.bump();
    if (!how.restart) return;
    clearTimeout(slot.retryTimer);
    slot.retryTimer = setTimeout(() => void this.launch(slot), delay);
  }

  becameReady(inst: Instance): void {
    inst.state = 'ready';
    inst.readyAt = Date.now();
    this.log.info({ event: 'app_ready', instance: inst.id, port: inst.port, startMs: inst.readyAt - inst.proc.startedAt }, `${inst.id} ready`);
    const slot = this.slotOf(inst);
    if (slot && slot.next === inst) {
      // The replacement takes the slot; its predecessor (if still there) drains.
      const old = slot.current;
      slot.current = inst;
      slot.next = undefined;
      slot.replaceFailures = 0;
      if (old) this.retire(old, 'replaced');
    }
    inst.settle(true);
    this.registry.bump();
  }

  /** Up and answering for stableMs: its slot's crash loop, if any, is over. */
  stable(inst: Instance): void {
    const slot = this.slotOf(inst);
    if (!slot || slot.current !== inst || slot.failures === 0 || Date.now() - inst.readyAt < inst.settings.stableMs) return;
    slot.failures = 0;
    if (!this.slots.some((s) => s.failures >= 3 || s.replaceFailures >= 3)) this.problem = null;
    this.registry.bump();
  }

  snapshot(): RegistrySnapshot {
    const instances = this.slots.flatMap((slot) => slotRecords(slot, this.node.id, this.node.host));
    for (const inst of this.retiring) instances.push(inst.record(0, null));
    return { node: this.node.id, boot: this.registry.boot, version: this.registry.version, command: this.settings.command, problem: this.problem, reload: { ...this.reloadState }, instances };
  }

  /** The node stops: every instance gets SIGTERM, and SIGKILL after its killTimeoutMs. */
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
    await Promise.all(all.map((i) => i.proc.stop(i.settings.killTimeoutMs)));
  }
}
