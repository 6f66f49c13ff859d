import type { BackupStatus } from '../homes/home-shipper.ts';
import { withTimeout } from '../timeout.ts';
import type { HostTable } from '../config/host-table.ts';
import type { OutboxPeerStatus } from '../critical/critical-service.ts';
import type { PeerStatus } from '../net/peer.ts';
import type { ResourcesSummary } from '../replication/service.ts';
import type { RegistrySnapshot } from '../supervisor/registry.ts';

/** At most this many resources (published, copies) are listed in a snapshot; the counts are whole. */
const MAX_LISTED = 20;

/** What one node reports about itself (the `status.snapshot` command, and its own dashboard). */

/** When this process started (ms since 1970). */
const STARTED_AT = Math.round(Date.now() - process.uptime() * 1000);
export interface NodeSnapshot {
  node: string;
  /** The node's process, and when it started: what an operator signals, and whether it restarted. */
  pid: number;
  startedAt: number;
  at: number;
  links: { peer: string; state: string; since: number; rttMs: number | null; inFlight: number; lastError: string | null }[];
  outbox: { peers: { peer: string; depth: number; delivered: number; oldestAgeMs: number | null }[]; dead: number };
  load: unknown;
  resources: ResourcesSummary;
  apps: { problem: string | null; reload: string; instances: { id: string; state: string; port: number | null; requests: number; restarts: number }[] } | null;
  /** A home library node's backup (issue 27): in step, or not and why; null on a node that is no home or has none. */
  home: { backup: string; inSync: boolean; lag: number; why: string | null; aloneSeconds: number; lease: { epoch: number; held: boolean; answered: number; voters: number } | null } | null;
  /** The host table version it holds and runs on (issue 28; 0: unversioned). */
  hostTable?: { version: number; running: number; pendingRestart: string[] };
}

/** The live state a snapshot reads (all of it kept by the node's services anyway). */
export interface NodeStatusSources {
  self: string;
  peers: () => PeerStatus[];
  /** A ping's round trip on each link that is up, in seconds (a peer left out: no answer in time). */
  roundTrips: () => Promise<Map<string, number>>;
  outbox: () => { peers: OutboxPeerStatus[]; dead: number };
  load: () => unknown;
  /** Counts and the most recent resources (at most MAX_LISTED of each). */
  resources: (limit: number) => NodeSnapshot['resources'];
  apps: () => RegistrySnapshot | undefined;
  home: () => BackupStatus | null;
  hostTable: () => { version: number; running: number; pendingRestart: string[] };
}

/** One node's view: its links with round trips, outbox per peer and dead letters, load, resources, app instances. */
export async function nodeSnapshot(src: NodeStatusSources): Promise<NodeSnapshot> {
  const rtts = await src.roundTrips();
  const apps = src.apps();
  const outbox = src.outbox();
  const home = src.home();
  return {
    node: src.self,
    pid: process.pid,
    startedAt: STARTED_AT,
    at: Date.now(),
    links: src.peers().map((p) => {
      const rtt = rtts.get(p.id);
      return { peer: p.id, state: p.state, since: p.since, rttMs: rtt === undefined ? null : Math.round(rtt * 100_000) / 100, inFlight: p.inFlight, lastError: p.lastError ?? null };
    }),
    outbox: { peers: outbox.peers.map((p) => ({ peer: p.peer, depth: p.depth, delivered: p.delivered, oldestAgeMs: p.oldestAgeMs })), dead: outbox.dead },
    load: src.load(),
    resources: src.resources(MAX_LISTED),
    apps: apps
      ? {
          problem: apps.problem,
          reload: apps.reload.state,
          instances: apps.instances.map((i) => ({ id: i.id, state: i.state, port: i.port, requests: i.requests, restarts: i.restarts })),
        }
      : null,
    hostTable: (({ version, running, pendingRestart }) => ({ version, running, pendingRestart }))(src.hostTable()),
    home: home ? { backup: home.backup, inSync: home.inSync, lag: home.lag, why: home.why, aloneSeconds: home.aloneSeconds, lease: home.term ? { epoch: home.term.epoch, held: home.term.leaseHeld, answered: home.term.votersAnswered.length, voters: home.term.voters.length } : null } : null,
  };
}

/** One node of the host table as a dashboard shows it: answered with its snapshot, or not. */
export interface ClusterNode {
  id: string;
  role: string;
  domain: string;
  host: string;
  httpPort: number;
  answered: boolean;
  error: string | null;
  snapshot: NodeSnapshot | null;
}

export interface ClusterStatus {
  /** The node (or front) that asked. */
  from: string;
  at: number;
  nodes: ClusterNode[];
}

/** How long a dashboard waits for a node's snapshot: a node that does not answer by then is shown unreachable. */
export const SNAPSHOT_TIMEOUT_MS = 1000;
/** Round trips inside a snapshot are capped shorter, so a snapshot asked for by a peer still arrives within SNAPSHOT_TIMEOUT_MS. */
export const SNAPSHOT_PING_CAP_MS = 500;

/**
 * Every node of the host table, each asked for its own snapshot (`ask`, capped at
 * SNAPSHOT_TIMEOUT_MS); `self` (when this is a node) answers without the network.
 */
export async function clusterStatus(table: HostTable, from: string, ask: (node: string) => Promise<NodeSnapshot>): Promise<ClusterStatus> {
  const nodes = await Promise.all(
    table.nodes.map(async (n): Promise<ClusterNode> => {
      const base = { id: n.id, role: n.role, domain: n.domain, host: n.host, httpPort: n.httpPort };
      try {
        const snapshot = await withTimeout(ask(n.id), SNAPSHOT_TIMEOUT_MS);
        return { ...base, answered: true, error: null, snapshot };
      } catch (err) {
        return { ...base, answered: false, error: err instanceof Error ? err.message : String(err), snapshot: null };
      }
    }),
  );
  return { from, at: Date.now(), nodes };
}
