import type { Logger } from 'pino';
import { z } from 'zod';
import type { SeriesBackendConfig } from './backend.ts';
import { bounded, followLongPoll, POLL_BACKOFF, POLL_WAIT_MS } from './long-poll.ts';
import type { CallNode } from '../client/node-connection.ts';

// `backends: apps`: the front follows the app registry of every node that runs a pool,
// through the node network (a long poll per node on `app.registry`), so instances that
// start, move to another port or go away are picked up without a restart.

/** What the front reads of a registry; a peer's answer is checked like any input. */
const snapshotSchema = z.object({
  node: z.string().max(64),
  boot: z.string().max(64),
  version: z.number().int().min(0),
  problem: z.string().max(4096).nullable(),
  instances: z
    .array(
      z.object({
        id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/),
        slot: z.number().int().min(0).max(4096),
        state: z.enum(['starting', 'ready', 'dying', 'stopped']),
        host: z.string().min(1).max(253),
        port: z.number().int().min(1).max(65535).nullable(),
        requests: z.number(),
      }),
    )
    .max(4096),
});
type Snapshot = z.output<typeof snapshotSchema>;

export interface AppBackendOptions {
  /** How long one long poll may wait at the node (its cap is 8 s). */
  waitMs?: number;
  /** Retry after a failed poll: doubling from min to max. */
  backoff?: { minMs: number; maxMs: number };
}

export class AppRegistries {
  private readonly snapshots = new Map<string, Snapshot>();
  private readonly errors = new Map<string, string>();
  private readonly loops = new Map<string, { stop: () => void }>();
  private readonly call: CallNode;
  /** The host table's address of a node: its instances must be there. */
  private readonly hostOf: (node: string) => string | undefined;
  private readonly log: Logger;
  private readonly changed: () => void;
  private readonly waitMs: number;
  private readonly backoff: { minMs: number; maxMs: number };

  constructor(call: CallNode, hostOf: (node: string) => string | undefined, log: Logger, changed: () => void, opts: AppBackendOptions = {}) {
    this.call = call;
    this.hostOf = hostOf;
    this.log = log;
    this.changed = changed;
    this.waitMs = opts.waitMs ?? POLL_WAIT_MS;
    this.backoff = opts.backoff ?? POLL_BACKOFF;
  }

  /**
   * Follows exactly these nodes: new ones start, dropped ones stop and their instances go.
   * Resolves once every new node has answered (or failed) once, or after firstWaitMs.
   */
  async follow(nodes: string[], firstWaitMs = 0): Promise<void> {
    for (const [node, loop] of this.loops) {
      if (nodes.includes(node)) continue;
      loop.stop();
      this.loops.delete(node);
      this.errors.delete(node);
      if (this.snapshots.delete(node)) this.changed();
    }
    const firsts: Promise<void>[] = [];
    for (const node of nodes) {
      if (this.loops.has(node)) continue;
      const loop = this.run(node);
      this.loops.set(node, loop);
      firsts.push(loop.first);
    }
    await bounded(Promise.all(firsts), firstWaitMs);
  }

  /**
   * Every instance that takes requests: ready ones, and dying ones (their sessions only).
   * A node that cannot be reached keeps its last known instances: they are health-checked
   * like any back-end, and an unreachable node's apps are gone with it anyway.
   */
  backends(): { def: SeriesBackendConfig; dying: boolean }[] {
    const out: { def: SeriesBackendConfig; dying: boolean }[] = [];
    for (const [node, snap] of this.snapshots) {
      for (const inst of snap.instances) {
        if (inst.port === null || (inst.state !== 'ready' && inst.state !== 'dying')) continue;
        // Metrics follow the slot: a restart or a rolling reload makes a new instance id, not new series.
        out.push({ def: { id: inst.id, host: inst.host, port: inst.port, weight: 1, node, series: `${node}.${inst.slot}` }, dying: inst.state === 'dying' });
      }
    }
    return out;
  }

  status(): Record<string, { version: number | null; instances: number; problem: string | null; error: string | null }> {
    const out: Record<string, { version: number | null; instances: number; problem: string | null; error: string | null }> = {};
    for (const node of this.loops.keys()) {
      const snap = this.snapshots.get(node);
      out[node] = { version: snap?.version ?? null, instances: snap?.instances.length ?? 0, problem: snap?.problem ?? null, error: this.errors.get(node) ?? null };
    }
    return out;
  }

  stop(): void {
    for (const loop of this.loops.values()) loop.stop();
    this.loops.clear();
  }

  private run(node: string): { stop: () => void; first: Promise<void> } {
    return followLongPoll({
      call: this.call,
      node,
      command: 'app.registry',
      schema: snapshotSchema,
      waitMs: this.waitMs,
      backoff: this.backoff,
      answer: (snap) => {
        if (snap.node !== node) throw new Error(`node ${node} answered with the registry of '${snap.node}'`);
        // A node names only its own instances, on its own host: the front connects to nothing else.
        const host = this.hostOf(node);
        const stray = snap.instances.find((i) => !i.id.startsWith(`${node}.`) || i.host !== host);
        if (stray) throw new Error(`node ${node}'s registry names ${stray.id} at ${stray.host}, not one of its own on ${host}`);
        this.errors.delete(node);
        const known = this.snapshots.get(node);
        if (known && known.boot === snap.boot && known.version === snap.version) return;
        this.snapshots.set(node, snap);
        this.changed();
      },
      failed: (message, first) => {
        this.errors.set(node, message);
        if (first) this.log.warn({ event: 'app_registry_unavailable', node, err: message }, `cannot read ${node}'s app registry; keeping its last known instances`);
      },
      recovered: () => this.log.info({ event: 'app_registry_back', node }, `following ${node}'s app registry again`),
    });
  }
}
