import type { Backend } from '../backend.ts';
import type { RequestContext } from '../context.ts';
import type { FrontState } from '../front-state.ts';
import type { RouteState } from '../routes.ts';
import type { Policy } from './policy.ts';

/** A policy that bounds the requests in flight over its back-ends (LARD's admission control). */
export interface AdmittingPolicy extends Policy {
  admissionLimit(backends: Backend[]): number;
}

export interface AdmissionHooks {
  /** The front's state now (a reload swaps it). */
  state: () => FrontState;
  /** Lets a waiter in: it is routed again, past the bound. */
  admit: (ctx: RequestContext) => void;
  /** Answers a request that cannot wait (503). */
  refuse: (ctx: RequestContext, reason: 'admission_full' | 'admission_timeout', why: string) => void;
  /** How many more requests the route's bound lets in now (Infinity: no bound). */
  room: (route: RouteState) => number;
}

/**
 * LARD's admission bound (Pai et al.'s S): past it, a request waits in the front, oldest first,
 * until a request of its route ends; at most limits.queueSize wait, each for at most
 * limits.queueTimeoutMs. Waiters live on their route's state, and a reload carries them to the
 * new route of the same name, so completions in either generation wake them.
 */
export class Admission {
  private readonly hooks: AdmissionHooks;

  constructor(hooks: AdmissionHooks) {
    this.hooks = hooks;
  }

  /** The request waits for a turn (or is refused when too many wait already). */
  wait(ctx: RequestContext): void {
    const route = ctx.route;
    const limits = this.hooks.state().cfg.limits;
    if (route.waiting.length >= limits.queueSize) return this.hooks.refuse(ctx, 'admission_full', `route ${route.cfg.name}: ${route.waiting.length} requests are waiting for admission`);
    let timedOut = false;
    const entry = {
      ctx,
      resume: () => {
        clearTimeout(entry.timer);
        // A client that left, or one already answered 503, passes its turn on.
        if (ctx.aborted || timedOut) return this.next(ctx.route);
        this.hooks.admit(ctx);
      },
      timer: setTimeout(() => {
        timedOut = true;
        // ctx.route, not route: a reload may have carried the waiter to the new generation's route.
        const waiting = ctx.route.waiting;
        const i = waiting.indexOf(entry);
        if (i >= 0) waiting.splice(i, 1);
        if (!ctx.aborted) this.hooks.refuse(ctx, 'admission_timeout', `route ${route.cfg.name}: not admitted within ${limits.queueTimeoutMs} ms (LARD's bound on requests in flight)`);
      }, limits.queueTimeoutMs),
    };
    route.waiting.push(entry);
  }

  /** A request of the route ended: wakes its oldest waiter, in the route's current generation (reached through the successors a reload set). */
  next(route: RouteState): void {
    let current: RouteState | null | undefined = route;
    while (current?.successor !== undefined) current = current.successor;
    const waiter = current?.waiting.shift();
    if (waiter) queueMicrotask(waiter.resume);
  }

  /**
   * A reload or an app-registry change swapped the routes: requests waiting on the old ones move
   * to the new route of the same name (or are let go if it is gone). Where the new bound has
   * room (more back-ends, higher thresholds), that many are let in at once, oldest first: they
   * must not wait for completions while new requests go straight in.
   */
  carry(old: FrontState, next: FrontState): void {
    /** Shared decisions still on their way for the old route: they will be in flight on the new one's back-ends. */
    const deciding = new Map<RouteState, number>();
    for (const r of old.routes) {
      const to = next.routes.find((n) => n.cfg.name === r.cfg.name);
      r.successor = to ?? null;
      if (to) deciding.set(to, r.deciding);
      for (const w of r.waiting.splice(0)) {
        w.ctx.route = to ?? w.ctx.route;
        if (to) to.waiting.push(w);
        else queueMicrotask(w.resume);
      }
    }
    for (const route of next.routes) {
      if (!route.waiting.length) continue;
      for (let room = this.hooks.room(route) - (deciding.get(route) ?? 0); room > 0 && route.waiting.length; room--) this.next(route);
    }
  }
}

export function admits(policy: Policy): policy is AdmittingPolicy {
  return typeof (policy as Partial<AdmittingPolicy>).admissionLimit === 'function';
}

/**
 * How many more requests LARD's admission bound lets in on the route now, to these candidates
 * (Infinity: no bound: a policy without one, or one candidate or none, as the paper's S is for n ≥ 2).
 */
export function admissionRoom(route: RouteState, candidates: Backend[]): number {
  if (candidates.length <= 1 || !admits(route.policy)) return Infinity;
  // Requests in flight on its back-ends, and those whose shared decision is on its way.
  let inFlight = route.deciding;
  for (const b of route.list) inFlight += b.active;
  return route.policy.admissionLimit(candidates) - inFlight;
}
