import { createHash } from 'node:crypto';
import type { HostTable } from '../config/host-table.ts';

// Where a session lives: two copies. The first on the node that made it (its id starts with
// `<node>~`, see newSessionId), so an app's own sessions are read from its own node; else on
// the node the id hashes to. The second on the node the id hashes to among the others
// (rendezvous hashing: adding or losing a node moves only the sessions that were on it).

/** The nodes that keep sessions: the access nodes (or every node, in a cluster without one). */
function sessionNodes(table: HostTable): string[] {
  const access = table.nodes.filter((n) => n.role === 'access').map((n) => n.id);
  return access.length ? access : table.nodes.map((n) => n.id);
}

/** The session's copies, first one first. */
export function placement(table: HostTable, id: string): string[] {
  const nodes = sessionNodes(table);
  const tilde = id.indexOf('~');
  const maker = tilde > 0 ? id.slice(0, tilde) : undefined;
  const first = maker !== undefined && nodes.includes(maker) ? maker : top(id, nodes);
  const second = top(id, nodes.filter((n) => n !== first));
  return second === undefined ? [first!] : [first!, second];
}

function top(id: string, nodes: string[]): string | undefined {
  let best: string | undefined;
  let bestScore = '';
  for (const n of nodes) {
    const score = createHash('sha256').update(`${n}\0${id}`).digest('hex');
    if (score > bestScore) [best, bestScore] = [n, score];
  }
  return best;
}
