import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

// A node's load (seed 000, "Load Balancing"): the 1-minute load average as a percentage of the
// value that counts as 100%, the user load (logged-in sessions active lately against a limit), and the
// larger of the two, which every decision uses (the front's least_load, load-aware login).

export interface LoadFigures {
  node: string;
  loadavg: number;
  fullAt: number;
  systemPercent: number;
  /** Logged-in sessions (LOGIN_KEY) this node made that were written within the window. */
  sessions: number;
  userLimit: number;
  userPercent: number;
  /** max(systemPercent, userPercent): the figure decisions use. */
  percent: number;
}

export interface LoadDeps {
  self: string;
  fullAt: number;
  userLimit: number;
  windowMs: number;
  activeSessions: (since: number) => number;
}

/**
 * The load average comes from /proc/loadavg's format in $COHORT_LOADAVG_FILE when that is set:
 * the knob tests use to make a node busy through this same code path.
 */
export function loadFigures(deps: LoadDeps, now = Date.now()): LoadFigures {
  const avg = currentLoadavg();
  const sessions = deps.userLimit > 0 ? deps.activeSessions(now - deps.windowMs) : 0;
  const systemPercent = round1((avg / deps.fullAt) * 100);
  const userPercent = deps.userLimit > 0 ? round1((sessions / deps.userLimit) * 100) : 0;
  return { node: deps.self, loadavg: avg, fullAt: deps.fullAt, systemPercent, sessions, userLimit: deps.userLimit, userPercent, percent: Math.max(systemPercent, userPercent) };
}

function currentLoadavg(): number {
  const file = process.env.COHORT_LOADAVG_FILE;
  if (!file) return loadavg()[0];
  const first = Number(readFileSync(file, 'utf8').trim().split(/\s+/)[0]);
  if (!Number.isFinite(first) || first < 0) throw new Error(`COHORT_LOADAVG_FILE ${file}: no load average at its start`);
  return first;
}

const round1 = (x: number) => Math.round(x * 10) / 10;

/** Node `node`'s `percent`, read through the network and checked (a peer's answer is input). */
export async function readLoadPercent(call: (to: string, cmd: string, args?: unknown) => Promise<unknown>, node: string): Promise<number> {
  const { percent } = ((await call(node, 'load', {})) ?? {}) as { percent?: unknown };
  if (typeof percent !== 'number' || !Number.isFinite(percent)) throw new Error(`node ${node} gave no load figure`);
  return percent;
}
