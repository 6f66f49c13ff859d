import type { Backend } from '../backend.ts';
import { HANDOVER_PATH, HANDOVER_TOKEN_PATTERN } from '../../sessions/handovers.ts';

/** A login handed over to another node (load-aware login), on its landing path only: a hint to route to that node's app. */
const HANDOVER_LANDING = `${HANDOVER_PATH}?`;
const HANDOVER = new RegExp(`[?&]cohort_handover=${HANDOVER_TOKEN_PATTERN}(?:&|#|$)`);

/**
 * intake: the node a login was handed over to, from its landing path
 * (`/login/handover?cohort_handover=<node>.<token>`); undefined elsewhere.
 */
export function handoverNodeOf(target: string): string | undefined {
  // Only the landing path's token is a hint (elsewhere anyone could pin routing): a plain test first, the pattern only then.
  return target.startsWith(HANDOVER_LANDING) ? HANDOVER.exec(target)?.[1] : undefined;
}

/**
 * route: a login handed over to a node lands on its app (a new session there, with its cookie),
 * among the ready candidates and within the admission bound like any request: the one with
 * fewest requests in flight (the route's policy keeps its memory for its own picks).
 * Undefined when that node has no candidate: the route's policy picks.
 */
export function handoverPick(candidates: Backend[], node: string): Backend | undefined {
  let best: Backend | undefined;
  for (const b of candidates) if (b.node === node && (best === undefined || b.active < best.active)) best = b;
  return best;
}
