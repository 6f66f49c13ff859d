import type { CohortClient } from '../client/client.ts';
import type { HostTable } from '../config/host-table.ts';
import type { PeerStatus } from '../net/peer.ts';
import type { Row } from './doctor.ts';

// `cohort doctor`'s membership checks (issue 28): the host table version each node holds and
// runs on, session copies owed, and whether a node leaving may be removed.

type PeersReply = { node: string; peers: (PeerStatus & { inbound: boolean })[] };

/**
 * The host table version (issue 28): the node runs on the one it holds, and every peer said the
 * same one (a peer behind is passed the newer one at its next link; one that stays behind is
 * refusing it: its log says why). An unversioned table has nothing to compare.
 */
export async function checkHostTable(client: CohortClient, node: string): Promise<Row[]> {
  let held: { version: number; running: number; pendingRestart: string[]; signed: boolean };
  try {
    held = (await client.call(node, 'hosts.current')) as typeof held;
  } catch (err) {
    if ((err as { code?: string }).code === 'unknown_cmd') return [{ check: 'host table', node, status: 'ok', detail: 'not told (a node of an earlier version)' }];
    throw err;
  }
  if (!held.signed) return [{ check: 'host table', node, status: 'ok', detail: 'unversioned (no operator key pinned): it changes only by a restart of every node' }];
  const peers = ((await client.call(node, 'peers')) as PeersReply).peers;
  const behind = peers.filter((p) => p.tableVersion !== undefined && p.tableVersion < held.version).map((p) => `${p.id} on version ${p.tableVersion}`);
  const ahead = peers.filter((p) => p.tableVersion !== undefined && p.tableVersion > held.version).map((p) => `${p.id} on version ${p.tableVersion}`);
  const rows: Row[] = [];
  if (held.pendingRestart.length) rows.push({ check: 'host table', node, status: 'warn', detail: `holds version ${held.version}, runs on ${held.running}: restart it for ${held.pendingRestart.join('; ')}` });
  if (behind.length || ahead.length) rows.push({ check: 'host table', node, status: 'warn', detail: `version ${held.version}; peers on another: ${[...behind, ...ahead].join(', ')}` });
  if (!rows.length) rows.push({ check: 'host table', node, status: 'ok', detail: `version ${held.version}; every peer heard from holds it` });
  return rows;
}

/**
 * Sessions' copies in step (issue 28): what this node still owes other copies, and, for a node
 * leaving the cluster, whether it may be removed now (its outbox empty, no copy owed by it).
 * Copies owed elsewhere are each node's own row: the operator runs doctor on every machine.
 */
export async function checkMembership(client: CohortClient, table: HostTable, node: string): Promise<Row[]> {
  let owed: number;
  try {
    owed = ((await client.call(node, 'sessions.owed')) as { owed: number }).owed;
  } catch (err) {
    if ((err as { code?: string }).code === 'unknown_cmd') return [];
    throw err;
  }
  const rows: Row[] = [];
  if (owed > 0) rows.push({ check: 'session copies', node, status: 'warn', detail: `${owed} session copies on other nodes still owed writes (catch-up sends them each second while their nodes answer)` });
  if (table.nodes.find((n) => n.id === node)?.leaving) {
    const outbox = (await client.call(node, 'outbox.status')) as { peers: { peer: string; depth: number }[] };
    const queued = outbox.peers.reduce((n, p) => n + p.depth, 0);
    rows.push(queued === 0 && owed === 0
      ? { check: 'leaving', node, status: 'ok', detail: `its outbox is empty and it owes no session copies: once no other node owes any (cohort doctor there), cohort hosts remove ${node}` }
      : { check: 'leaving', node, status: 'warn', detail: `not ready to remove: ${queued} messages in its outbox, ${owed} session copies owed` });
  }
  return rows;
}
