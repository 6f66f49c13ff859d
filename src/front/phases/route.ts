import type { Backend } from '../backend.ts';
import { handoverPick } from '../balance/handover.ts';
import { pinned } from '../balance/sticky.ts';
import type { RequestContext } from '../context.ts';
import { admissionRoom } from '../policies/lard-admission.ts';
import type { PickContext } from '../policies/policy.ts';
import type { RouteState } from '../routes.ts';
import type { Pipeline } from './pipeline.ts';
import type { Respond } from './respond.ts';
import type { Upstream } from './upstream.ts';

/**
 * The route phase: one back-end for the request. Its route's stickiness pins a session to its
 * back-end; otherwise the ready back-ends not yet tried are the candidates, LARD's admission
 * bound may make the request wait, a handed-over login lands on its node, and the route's
 * policy picks (or its shared dispatcher, for LARD across fronts).
 */
export class Router {
  private readonly p: Pipeline;
  private readonly upstream: Upstream;
  private readonly respond: Respond;

  constructor(p: Pipeline, upstream: Upstream, respond: Respond) {
    this.p = p;
    this.upstream = upstream;
    this.respond = respond;
  }

  route(ctx: RequestContext): void {
    if (ctx.aborted) return;
    const route = ctx.route;
    const now = Date.now();
    ctx.sharedPick = undefined;
    const sticky = pinned(ctx, now);
    if (sticky) {
      ctx.reason = 'sticky cookie';
      return this.upstream.send(ctx, sticky);
    }
    const candidates: Backend[] = [];
    for (const b of route.list) if (b.ready(now) && !ctx.tried.includes(b)) candidates.push(b);
    const explain = ctx.explain || this.p.debug;
    if (explain) ctx.candidates = candidates.map((b) => b.id);
    // LARD's admission bound: past it, a request waits in the front for one to finish.
    if (!ctx.admitted && admissionRoom(route, candidates) <= 0) return this.p.admission.wait(ctx);
    const handover = ctx.handoverNode;
    const handed = handover === undefined ? undefined : handoverPick(candidates, handover);
    if (handed) {
      ctx.reason = `login handed over to ${handover}`;
      if (route.sticky) ctx.setSticky = true;
      return this.upstream.send(ctx, handed);
    }
    if (route.remote && candidates.length) return this.decideShared(ctx, route, candidates);
    const pick: PickContext = { target: ctx.target, clientIp: ctx.clientIp, now, explain };
    const backend = route.policy.pick(candidates, pick);
    if (explain) ctx.reason = pick.why ? `policy ${route.policy.name}: ${pick.why}` : `policy ${route.policy.name}`;
    if (backend && route.sticky) ctx.setSticky = true; // a new session, or its server went away
    this.upstream.send(ctx, backend);
  }

  /** LARD decided by the dispatcher several fronts share (route.dispatcher); the answer comes later. */
  private decideShared(ctx: RequestContext, route: RouteState, candidates: Backend[]): void {
    const remote = route.remote!;
    route.deciding++;
    remote.decide(ctx.target, candidates).then((d) => {
      route.deciding--;
      if (ctx.explain || this.p.debug) ctx.reason = `policy ${route.policy.name}: ${d.why}`;
      ctx.sharedPick = d.shared ? d.front : undefined;
      if (d.backend && route.sticky) ctx.setSticky = true;
      if (ctx.aborted) {
        if (d.shared && d.backend) remote.completed(d.backend.id, d.front);
        this.p.admission.next(route);
        return;
      }
      this.respond.guarded(ctx, () => this.upstream.send(ctx, d.backend));
    }, (err: unknown) => {
      route.deciding--;
      this.respond.guarded(ctx, () => this.respond.fail(ctx, 500, 'dispatcher', `dispatcher: ${(err as Error).message}`));
    });
  }
}
