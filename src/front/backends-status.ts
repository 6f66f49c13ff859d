import type { Backend } from './backend.ts';
import type { FrontState } from './front-state.ts';

/**
 * Each back-end once, as the admin's /status and the dashboard show it. A back-end that routes
 * check by their own health settings is an object per such route (generation.ts): its entry
 * sums what they hold and served (active, requests, errors), takes its state from the first
 * route that has it, and lists each route's view under `routes`.
 */
export function backendsStatus(state: FrontState, now: number, load: (node: string) => unknown) {
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
