import type { HostTable } from '../config/host-table.ts';
import type { NodeEntry } from '../config/schema.ts';
import { rendezvousTop as top } from '../rendezvous.ts';

// Where a session lives: two copies. The first on the node that made it (its id starts with
// `<node>~`, see newSessionId), so an app's own sessions are read from its own node; else on
// the node the id hashes to. The second on the node the id hashes to among the others
// (rendezvous hashing: adding or losing a node moves only the sessions that were on it).
// A session is personal data of the maker's domain: both copies stay on nodes of that domain
// or of a domain it trusts (the host table's `trust`, as for records: seed 000's domains).

/** The nodes that keep sessions: the access nodes not leaving (or every node, in a cluster without one). */
function sessionNodes(table: HostTable): NodeEntry[] {
  const access = table.nodes.filter((n) => n.role === 'access' && !n.leaving);
  return access.length ? access : table.nodes;
}

/** May a node of `domain` hold a session made in `maker`'s domain? */
function trusted(table: HostTable, maker: string, domain: string): boolean {
  return domain === maker || (table.trust[maker] ?? []).includes(domain);
}

/** The session's copies, first one first: one only when the maker's trusted domains have no other session node. */
export function placement(table: HostTable, id: string): string[] {
  const all = sessionNodes(table);
  const tilde = id.indexOf('~');
  const maker = tilde > 0 ? table.nodes.find((n) => n.id === id.slice(0, tilde)) : undefined;
  // A maker that keeps no sessions itself (a library node) still names the domain; an id
  // without a known maker is placed by its hash, and its second copy follows the first's domain.
  const domain = maker?.domain ?? top(id, all)!.domain;
  let nodes = all.filter((n) => trusted(table, domain, n.domain));
  if (!nodes.length) nodes = table.nodes.filter((n) => trusted(table, domain, n.domain));
  const ids = nodes.map((n) => n.id);
  const first = maker !== undefined && ids.includes(maker.id) ? maker.id : top(id, nodes)!.id;
  const second = top(id, nodes.filter((n) => n.id !== first));
  return second === undefined ? [first] : [first, second.id];
}
