import { CohortClient } from '../client/client.ts';
import type { HostTable } from '../config/host-table.ts';
import type { PeerStatus } from '../net/peer.ts';
import { formatTable } from './common.ts';

// Every node's links as a matrix (row dials column): what `cohort demo` prints while it runs.

export type States = Map<string, PeerStatus[] | null>;

export async function linkStates(table: HostTable): Promise<States> {
  const states: States = new Map();
  await Promise.all(
    table.nodes.map(async (n) => {
      try {
        const client = await CohortClient.forNode(table, n.id, { timeoutMs: 2000 });
        try {
          const reply = (await client.call(n.id, 'peers')) as { peers: PeerStatus[] };
          states.set(n.id, reply.peers);
        } finally {
          client.close();
        }
      } catch {
        states.set(n.id, null);
      }
    }),
  );
  return states;
}

export function allUp(states: States): boolean {
  return [...states.values()].every((peers) => peers !== null && peers.every((p) => p.state === 'up'));
}

/** How many links are up, over every node that answered. */
export function linksUp(states: States): number {
  return [...states.values()].reduce((n, peers) => n + (peers?.filter((p) => p.state === 'up').length ?? 0), 0);
}

export function summary(states: States): Record<string, string> {
  const out: Record<string, string> = {};
  // Sorted: the map fills in whatever order the nodes answer.
  for (const [id, peers] of [...states].sort(([a], [b]) => a.localeCompare(b))) out[id] = peers ? peers.map((p) => `${p.id}:${p.state}`).join(',') : 'unreachable';
  return out;
}

export function formatMatrix(table: HostTable, states: States): string {
  const ids = table.nodes.map((n) => n.id);
  const rows = ids.map((from) => {
    const peers = states.get(from);
    return [from, ...ids.map((to) => (to === from ? '·' : peers ? (peers.find((p) => p.id === to)?.state ?? '?') : 'no node'))];
  });
  return `links (row dials column), ${new Date().toISOString()}:\n` + formatTable(['FROM', ...ids], rows);
}

