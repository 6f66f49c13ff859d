import { z } from 'zod';
import { DashboardFeed } from '../admin/dashboard-feed.ts';
import { NodeMetrics, type NodeMetricsSources } from '../admin/node-metrics.ts';
import { clusterStatus, nodeSnapshot, SNAPSHOT_PING_CAP_MS, type NodeSnapshot } from '../admin/node-status.ts';
import { SharedFetch } from '../admin/shared-fetch.ts';
import { LOCAL, type CommandRegistry } from '../commands/registry.ts';
import type { HostTable } from '../config/host-table.ts';
import type { CriticalService } from '../critical/critical-service.ts';
import type { Peer } from '../net/peer.ts';
import type { AppPool } from '../supervisor/pool.ts';

export interface StatusSources {
  self: string;
  table: HostTable;
  registry: CommandRegistry;
  peers: Map<string, Peer>;
  critical: CriticalService;
  apps: AppPool | undefined;
  resources: (limit: number) => NodeSnapshot['resources'];
  transfers: () => Readonly<{ ok: number; failed: number; bytes: number }>;
  memoryCache: () => Readonly<{ bytes: number; entries: number }>;
  homeBackup: NodeMetricsSources['homeBackup'];
  homeCopyAnswers: NodeMetricsSources['homeCopyAnswers'];
  homesTakenOver: NodeMetricsSources['homesTakenOver'];
  sessionCopiesOwed: NodeMetricsSources['sessionCopiesOwed'];
  hostTable: () => { version: number; running: number; pendingRestart: string[] };
  /** Asks another node (its status.snapshot). */
  call: (to: string, cmd: string, args: unknown) => Promise<unknown>;
  /** Whether this node serves a dashboard (on loopback, or with the host table's admin token). */
  dashboard: boolean;
}

/**
 * What a node tells about itself: the status.snapshot command (its own dashboard's, and peers'
 * dashboards'), the dashboard of the whole cluster, and /metrics, all read from live state.
 */
export class StatusPages {
  /** GET /metrics on the HTTP port (Prometheus text), read from live state when scraped. */
  readonly metrics: NodeMetrics;
  readonly dashboard: DashboardFeed | undefined;
  private readonly peers: Map<string, Peer>;
  /**
   * Link round trips for /metrics and dashboards (theirs and peers' status.snapshot): one ping per
   * up link at most once a second, whoever asks (a scrape storm or many dashboards send no more).
   */
  private readonly roundTrips = new SharedFetch(1000, () => this.measureRoundTrips(SNAPSHOT_PING_CAP_MS));

  constructor(src: StatusSources) {
    const { self, table, registry, critical, apps } = src;
    this.peers = src.peers;
    const links = () => [...this.peers.values()].map((p) => p.snapshot());
    const snapshot = () =>
      nodeSnapshot({
        self,
        peers: links,
        roundTrips: () => this.roundTrips.get(),
        outbox: () => critical.status(),
        load: () => registry.execute('load', {}, { from: LOCAL }),
        resources: src.resources,
        apps: () => apps?.snapshot(),
        home: src.homeBackup,
        hostTable: src.hostTable,
      });
    registry.register({ name: 'status.snapshot', summary: "this node's status for a dashboard: links with round trips, outbox, load, resources, app instances", args: z.strictObject({}), scope: 'any', run: snapshot });
    this.dashboard = src.dashboard
      ? new DashboardFeed(`Cohort ${table.cluster}: node ${self}`, async () => ({
          cluster: await clusterStatus(table, self, (node) => (node === self ? snapshot() : (src.call(node, 'status.snapshot', {}) as Promise<NodeSnapshot>))),
          front: null,
        }))
      : undefined;
    this.metrics = new NodeMetrics(self, {
      peers: links,
      roundTrips: () => this.roundTrips.get(),
      outbox: () => critical.status(),
      critical: () => critical.outcomes,
      transfers: src.transfers,
      memoryCache: src.memoryCache,
      appRestarts: () => apps?.restarts ?? 0,
      homeBackup: src.homeBackup,
      homeCopyAnswers: src.homeCopyAnswers,
      homesTakenOver: src.homesTakenOver,
      sessionCopiesOwed: src.sessionCopiesOwed,
      hostTable: src.hostTable,
    });
  }

  /** A ping's round trip on each link that is up, in seconds (a peer left out: no answer within capMs). */
  private async measureRoundTrips(capMs: number): Promise<Map<string, number>> {
    const peers = [...this.peers.values()];
    const rtts = await Promise.all(peers.map((p) => p.roundTrip(capMs)));
    return new Map(peers.flatMap((p, i) => (rtts[i] === undefined ? [] : [[p.id, rtts[i]] as [string, number]])));
  }
}
