import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { CallNode } from '../../client/node-connection.ts';
import type { Backend } from '../backend.ts';
import type { LardPolicy } from '../policies/lard.ts';
import { RecentMap } from '../../recent-map.ts';
import { tableKey } from '../../lard/lard-table.ts';
import { withTimeout } from '../../timeout.ts';
import type { DecideArgs, DecideReply } from '../../dispatcher/shared-lard.ts';
import { MAX_ITEMS } from '../../dispatcher/shared-lard.ts';

/** After the dispatcher failed to answer, the front decides alone this long before asking again. */
const RETRY_MS = 1000;
/** Completion notices wait at most this long for a batch of decisions to ride with. */
const NOTICE_MS = 5;
/** Targets whose size this front remembers having told the dispatcher: not told again while unchanged and recent. */
const REPORTED_SIZES = 10_000;
/** A size told is told again after this long (the dispatcher may have forgotten the target, or restarted). */
const REPORTED_TTL_MS = 60_000;
/** The dispatcher takes targets of at most 1 KiB: a longer one is placed, and sized, by its first KiB. */
const dispatcherTarget = (target: string) => target.slice(0, 1024);

interface Pending {
  target: string;
  candidates: Backend[];
  resolve: (d: Decision) => void;
}

/** A pick, and (shared: placed by the dispatcher) the front id its completion must be reported under. */
export interface Decision {
  backend: Backend | undefined;
  why: string;
  shared: boolean;
  front: string;
}

/**
 * A route's LARD decisions made by a dispatcher several fronts share (route.dispatcher), through
 * front.node. Decisions wait for the next batch: one request per round trip carries every target
 * asked for meanwhile, and the completions of earlier picks, so the dispatcher's load figures
 * are exact. When the dispatcher does not answer within timeoutMs, the front decides alone (its
 * own LARD table, its own view of the load) and asks again a second later.
 */
export class RemoteDispatcher {
  private readonly call: CallNode;
  readonly node: string;
  private readonly route: string;
  private readonly local: LardPolicy;
  private readonly timeoutMs: number;
  private readonly log: Logger;
  /**
   * This front's id at the dispatcher, which keeps each front's in-flight counts apart. A new one
   * after a failed batch: the dispatcher may have counted picks whose completions are now lost,
   * and the old id's counts expire once nothing is heard under it.
   */
  private front = newFrontId();
  private pending: Pending[] = [];
  private done = new Map<string, number>();
  /** Sizes learned from whole answers, for the next batch (target -> bytes). */
  private sizes = new Map<string, number>();
  /** Keys are table keys (at most 128 characters, never a slice holding a long target alive). */
  private readonly reported = new RecentMap<string, { bytes: number; at: number }>(REPORTED_SIZES);
  private inFlight = false;
  private scheduled: { handle: NodeJS.Immediate | NodeJS.Timeout; soon: boolean } | undefined;
  private aloneUntil = 0;
  private stopped = false;
  shared = 0;
  alone = 0;
  batches = 0;

  constructor(opts: { call: CallNode; node: string; route: string; local: LardPolicy; timeoutMs: number; log: Logger }) {
    this.call = opts.call;
    this.node = opts.node;
    this.route = opts.route;
    this.local = opts.local;
    this.timeoutMs = opts.timeoutMs;
    this.log = opts.log;
  }

  get state(): 'shared' | 'alone' {
    return Date.now() < this.aloneUntil ? 'alone' : 'shared';
  }

  decide(target: string, candidates: Backend[]): Promise<Decision> {
    if (this.stopped || Date.now() < this.aloneUntil) return Promise.resolve(this.decideAlone(target, candidates));
    return new Promise((resolve) => {
      this.pending.push({ target, candidates, resolve });
      this.schedule(0);
    });
  }

  /** A request the dispatcher placed (under front id `front`) has finished: its server's load goes down there. */
  completed(backendId: string, front: string): void {
    // Placed under an id given up since: those counts expire at the dispatcher by themselves.
    if (this.stopped || front !== this.front) return;
    this.done.set(backendId, (this.done.get(backendId) ?? 0) + 1);
    this.schedule(NOTICE_MS);
  }

  /** A target the dispatcher placed was answered whole with `bytes`: it places by bytes too (lard-table.ts). */
  sized(target: string, bytes: number): void {
    if (this.stopped) return;
    // The dispatcher's table key of what it placed (lard-table.ts keys a digest as itself).
    const key = tableKey(dispatcherTarget(this.local.key(target)));
    const told = this.reported.get(key);
    // Advisory: past a batch's worth, a later answer tells it.
    if ((told && told.bytes === bytes && Date.now() - told.at < REPORTED_TTL_MS) || this.sizes.size >= MAX_ITEMS) return;
    this.sizes.set(key, bytes);
    this.schedule(NOTICE_MS);
  }

  stop(): void {
    this.stopped = true;
    this.unschedule();
    for (const p of this.pending.splice(0)) p.resolve(this.decideAlone(p.target, p.candidates));
  }

  private decideAlone(target: string, candidates: Backend[]): Decision {
    this.alone++;
    const ctx = { target, clientIp: '', now: Date.now(), why: '' };
    const backend = this.local.pick(candidates, ctx);
    return { backend, why: `alone (dispatcher ${this.node} unreachable): ${ctx.why}`, shared: false, front: '' };
  }

  /** A decision goes with the next turn of the event loop; completions alone may wait NOTICE_MS for company. */
  private schedule(delayMs: number): void {
    if (this.inFlight) return;
    if (this.scheduled && (this.scheduled.soon || delayMs > 0)) return;
    this.unschedule();
    const run = () => {
      this.scheduled = undefined;
      void this.flush();
    };
    this.scheduled = delayMs === 0 ? { handle: setImmediate(run), soon: true } : { handle: setTimeout(run, delayMs), soon: false };
  }

  private unschedule(): void {
    if (!this.scheduled) return;
    if (this.scheduled.soon) clearImmediate(this.scheduled.handle as NodeJS.Immediate);
    else clearTimeout(this.scheduled.handle as NodeJS.Timeout);
    this.scheduled = undefined;
  }

  private async flush(): Promise<void> {
    if (this.stopped || this.inFlight) return;
    if (Date.now() < this.aloneUntil) {
      // Asked meanwhile: not sent to a dispatcher that just failed to answer (decided alone at once).
      for (const p of this.pending.splice(0)) p.resolve(this.decideAlone(p.target, p.candidates));
      this.done.clear();
      this.sizes.clear();
      return;
    }
    const batch = this.pending.splice(0, MAX_ITEMS);
    const done = this.done;
    const sizes = this.sizes;
    if (!batch.length && !done.size && !sizes.size) return;
    this.done = new Map();
    this.sizes = new Map();
    this.inFlight = true;
    const servers = new Map<string, Backend>();
    for (const p of batch) for (const b of p.candidates) servers.set(b.id, b);
    const front = this.front;
    const args: DecideArgs = {
      front,
      route: this.route,
      mode: this.local.name,
      settings: this.local.lard.settings,
      servers: [...servers.values()].map((b) => ({ id: b.id, capacity: b.weight })),
      items: batch.map((p) => {
        const exclude = p.candidates.length === servers.size ? undefined : [...servers.keys()].filter((id) => !p.candidates.some((b) => b.id === id));
        const target = dispatcherTarget(this.local.key(p.target));
        return exclude ? { target, exclude } : { target };
      }),
      done: Object.fromEntries(done),
    };
    if (sizes.size) args.sizes = [...sizes].map(([target, bytes]) => ({ target, bytes }));
    try {
      const reply = (await withTimeout(this.call(this.node, 'lard.decide', args), this.timeoutMs)) as DecideReply;
      this.batches++;
      const now = Date.now();
      for (const [target, bytes] of sizes) this.reported.set(target, { bytes, at: now });
      batch.forEach((p, i) => {
        const pick = reply.picks?.[i];
        const backend = pick ? p.candidates.find((b) => b.id === pick.id) : undefined;
        if (!backend) return p.resolve(this.decideAlone(p.target, p.candidates));
        this.shared++;
        p.resolve({ backend, why: `dispatcher ${this.node}: ${pick!.why}`, shared: true, front });
      });
      if (this.aloneUntil) {
        this.aloneUntil = 0;
        this.log.info({ event: 'dispatcher_back', route: this.route, node: this.node }, `route ${this.route}: the shared dispatcher on ${this.node} answers again`);
      }
    } catch (err) {
      if (Date.now() >= this.aloneUntil) this.log.warn({ event: 'dispatcher_unreachable', route: this.route, node: this.node, err: (err as Error).message }, `route ${this.route}: the shared dispatcher on ${this.node} did not answer; deciding alone`);
      this.aloneUntil = Date.now() + RETRY_MS;
      for (const p of batch) p.resolve(this.decideAlone(p.target, p.candidates));
      // The dispatcher may have counted this batch, and our earlier picks' completions are lost
      // with it: under a new id our counts there start afresh, the old ones expire.
      this.front = newFrontId();
      this.reported.clear(); // the dispatcher may come back without them
    } finally {
      this.inFlight = false;
      if (this.pending.length || this.done.size || this.sizes.size) this.schedule(this.pending.length ? 0 : NOTICE_MS);
    }
  }
}

function newFrontId(): string {
  return `${process.pid}.${randomBytes(4).toString('hex')}`;
}
