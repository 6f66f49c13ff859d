import { appSettingsFor, type HostTable } from '../config/host-table.ts';

type Loads = (nodes: string[]) => Promise<Map<string, number>>;

/**
 * Where a login goes (seed 000, "Load Balancing"): here while this node is under 100%; else
 * the least loaded of its spares that is under 100%; when every access node is over 100%,
 * the least loaded library node that can serve her (an app pool, or a publicUrl). Only nodes
 * `allowed` for her domain are candidates. A node whose load cannot be read counts as over.
 */
export async function placeLogin(table: HostTable, self: string, loads: Loads, allowed: (node: string) => boolean): Promise<{ node: string; why: string }> {
  // A node leaving the cluster (issue 28) takes no new logins: not as itself, nor as a spare.
  const leaving = new Set(table.nodes.filter((n) => n.leaving).map((n) => n.id));
  const mine = (await loads([self])).get(self) ?? 0;
  if (mine < 100 && !leaving.has(self)) return { node: self, why: `${self} is at ${mine}%` };
  const spares = (table.nodes.find((n) => n.id === self)?.spares ?? []).filter((n) => allowed(n) && !leaving.has(n));
  const spare = least(await loads(spares), (p) => p < 100);
  if (spare) return { node: spare[0], why: `${self} is at ${mine}%; spare ${spare[0]} at ${spare[1]}%` };
  // Every access node that could take her (her domain's, or one it trusts).
  const access = table.nodes.filter((n) => n.role === 'access' && (n.id === self || (allowed(n.id) && !leaving.has(n.id)))).map((n) => n.id);
  const accessLoads = await loads(access.filter((n) => n !== self));
  const allOver = access.every((n) => n === self || (accessLoads.get(n) ?? Infinity) >= 100);
  if (allOver) {
    // Only a library node that can serve the user: it runs the app, or clients reach it directly.
    const serving = table.nodes.filter((n) => n.role === 'library' && allowed(n.id) && (appSettingsFor(table, n.id) !== undefined || n.publicUrl !== undefined));
    const library = least(await loads(serving.map((n) => n.id)), () => true);
    if (library) return { node: library[0], why: `every access node is over 100%; library node ${library[0]} at ${library[1]}%` };
  }
  return { node: self, why: `${self} is at ${mine}% and no spare is under 100%` };
}

function least(loads: Map<string, number>, ok: (percent: number) => boolean): [string, number] | undefined {
  let best: [string, number] | undefined;
  for (const [n, p] of loads) if (ok(p) && (!best || p < best[1])) best = [n, p];
  return best;
}
