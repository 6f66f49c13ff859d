import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { OutboxPeerStatus } from '../critical/critical-service.ts';
import type { BackupStatus } from '../homes/home-shipper.ts';
import type { PeerStatus } from '../net/peer.ts';
import type { MetricsPage } from './metrics-page.ts';

/** What a node's metrics read, each when /metrics is scraped (live state, and counters kept by their services). */
export interface NodeMetricsSources {
  /** Our outbound link to each peer of the host table. */
  peers: () => PeerStatus[];
  /** A ping's round trip on each link that is up (seconds; a peer left out: no answer in time). */
  roundTrips: () => Promise<Map<string, number>>;
  /** The critical outbox: per-peer depth and delivered count, and the dead letters. */
  outbox: () => { peers: OutboxPeerStatus[]; dead: number };
  /** How CriticalService.send() ended since start. */
  critical: () => Readonly<{ ok: number; delayed: number; refused: number }>;
  /** Resource transfers from their homes since start. */
  transfers: () => Readonly<{ ok: number; failed: number; bytes: number }>;
  /** Resources' bytes held in memory to serve (replication/blob-cache.ts). */
  memoryCache: () => Readonly<{ bytes: number; entries: number }>;
  /** App instances restarted by this node's supervisor since start (none without an app pool). */
  appRestarts: () => number;
  /** This node's home and its backup (null: no backup, or not a home). */
  homeBackup: () => BackupStatus | null;
  /** Reads and logins this node answered from the copies it keeps, while their homes could not be reached. */
  homeCopyAnswers: () => Readonly<{ read: number; login: number }>;
  /** The homes this node may take over as their backup: the epoch it holds one at (0: none), its promotions since it started. */
  homesTakenOver: () => { home: string; epoch: number; promotions: number }[];
  /** Session copies on other nodes owed writes they missed (or copies a host table moved to them). */
  sessionCopiesOwed: () => number;
  /** The host table version this node holds, and the one it runs on (issue 28). */
  hostTable: () => { version: number; running: number };
}

/**
 * One node's Prometheus metrics (its own Registry, never prom-client's global one, so that
 * several nodes in one process do not mix). Everything is read at scrape time from the state
 * the node keeps anyway: nothing on the command path touches prom-client. Labels take only
 * peer ids of the host table or fixed sets, so the number of series is bounded.
 * Link RTT: the link's heartbeats go one way (each end sends when it has been quiet), so
 * there is no round trip to time between scrapes; a scrape pings each peer whose link is up
 * (one small request each, answered in well under a millisecond on a LAN) and reports that.
 */
export class NodeMetrics {
  readonly registry = new Registry();
  /** The links and the outbox, read once per scrape (render) so that every series of a scrape agrees. */
  private scrape: { peers: PeerStatus[]; outbox: { peers: OutboxPeerStatus[]; dead: number } } = { peers: [], outbox: { peers: [], dead: 0 } };
  private readonly src: NodeMetricsSources;

  constructor(node: string, src: NodeMetricsSources) {
    this.src = src;
    const registers = [this.registry];
    const now = () => this.scrape;
    this.registry.setDefaultLabels({ node });
    collectDefaultMetrics({ register: this.registry });
    perPeer(registers, 'cohort_link_up', 'Whether our outbound link to the peer is up (1) or not (0: down or connecting).', () => now().peers.map((p) => [p.id, p.state === 'up' ? 1 : 0]));
    new Gauge({
      name: 'cohort_link_rtt_seconds',
      help: 'Round trip of a ping on the link to the peer, measured at most once a second, whoever asks (absent: link not up, or no answer within 0.5 s).',
      labelNames: ['peer'],
      registers,
      async collect() {
        const rtts = await src.roundTrips();
        // Only links up in this scrape's reading (a round trip is shared for a second).
        const up = new Set(now().peers.filter((p) => p.state === 'up').map((p) => p.id));
        this.reset();
        for (const [peer, seconds] of rtts) if (up.has(peer)) this.set({ peer }, seconds);
      },
    });
    perPeer(registers, 'cohort_link_state_seconds', 'How long the link to the peer has been in its current state.', () => {
      const at = Date.now();
      return now().peers.map((p) => [p.id, (at - p.since) / 1000]);
    });
    perPeer(registers, 'cohort_link_in_flight_requests', 'Requests sent on the link to the peer and not answered yet.', () => now().peers.map((p) => [p.id, p.inFlight]));
    perPeer(registers, 'cohort_outbox_messages', 'Critical messages for the peer in the outbox (not yet acknowledged).', () => now().outbox.peers.map((p) => [p.peer, p.depth]));
    new Counter({
      name: 'cohort_critical_delivered_total',
      help: 'Critical messages the peer acknowledged, since this node started.',
      labelNames: ['peer'],
      registers,
      collect() {
        this.reset();
        for (const p of now().outbox.peers) this.inc({ peer: p.peer }, p.delivered);
      },
    });
    new Gauge({
      name: 'cohort_outbox_dead_letters',
      help: 'Critical messages set aside as dead letters (kept until retried).',
      registers,
      collect() {
        this.set(now().outbox.dead);
      },
    });
    countsBy(registers, 'cohort_critical_messages_total', 'Critical messages sent from this node, by outcome: ok (applied), delayed (stored, peer out of reach), refused (an error).', 'outcome', ['ok', 'delayed', 'refused'], () => src.critical());
    countsBy(registers, 'cohort_resource_transfers_total', "Transfers of a resource's bytes from its home to this node, by result.", 'result', ['ok', 'failed'], () => src.transfers());
    new Counter({
      name: 'cohort_resource_transfer_bytes_total',
      help: 'Bytes of resources received from their homes (successful transfers).',
      registers,
      collect() {
        this.reset();
        this.inc(src.transfers().bytes);
      },
    });
    new Gauge({
      name: 'cohort_resource_memory_cache_bytes',
      help: "Bytes of resources held in memory to serve without reading their files (resources.memoryCacheBytes bounds it).",
      registers,
      collect() {
        this.set(src.memoryCache().bytes);
      },
    });
    new Gauge({
      name: 'cohort_resource_memory_cache_entries',
      help: 'Resources (distinct contents) held in memory to serve.',
      registers,
      collect() {
        this.set(src.memoryCache().entries);
      },
    });
    new Gauge({
      name: 'cohort_home_backup_in_sync',
      help: "Whether this home's backup holds every change, so writes are answered only once it has them (1), or not (0: it is unreachable or catching up, and writes are on this node alone).",
      labelNames: ['backup'],
      registers,
      collect() {
        this.reset();
        const b = src.homeBackup();
        if (b) this.set({ backup: b.backup }, b.inSync ? 1 : 0);
      },
    });
    new Gauge({
      name: 'cohort_home_backup_lag_entries',
      help: "Changes to this home's users and records its backup does not hold yet (as last heard from it).",
      labelNames: ['backup'],
      registers,
      collect() {
        this.reset();
        const b = src.homeBackup();
        if (b) this.set({ backup: b.backup }, b.lag);
      },
    });
    new Counter({
      name: 'cohort_home_backup_alone_seconds_total',
      help: "Seconds this home's backup was out of step since the node started (unreachable, catching up, or its copy refused): writes in that time were answered on this node alone, and were on it alone until the backup caught up.",
      labelNames: ['backup'],
      registers,
      collect() {
        this.reset();
        const b = src.homeBackup();
        if (b) this.inc({ backup: b.backup }, b.aloneSeconds);
      },
    });
    new Gauge({
      name: 'cohort_home_epoch',
      help: "The epoch at which this home takes its users' writes, granted by a majority of its domain's voters (0: none now).",
      registers,
      collect() {
        this.reset();
        const t = src.homeBackup()?.term;
        if (t) this.set(t.epoch);
      },
    });
    new Gauge({
      name: 'cohort_home_lease_held',
      help: "Whether this home holds its lease with a majority of its domain's voters (1), so it takes its users' reads and writes, or not (0).",
      registers,
      collect() {
        this.reset();
        const t = src.homeBackup()?.term;
        if (t) this.set(t.leaseHeld ? 1 : 0);
      },
    });
    new Gauge({
      name: 'cohort_home_writes_taken_over',
      help: "Whether this node holds a home's writes as its promoted backup (1: the home was silent for a lease; they go back once it answers again), or not (0).",
      labelNames: ['home'],
      registers,
      collect() {
        this.reset();
        for (const h of src.homesTakenOver()) this.set({ home: h.home }, h.epoch > 0 ? 1 : 0);
      },
    });
    new Counter({
      name: 'cohort_home_failovers_total',
      help: "Times this node took a home's writes over as its backup (promoted) since it started.",
      labelNames: ['home'],
      registers,
      collect() {
        this.reset();
        for (const h of src.homesTakenOver()) this.inc({ home: h.home }, h.promotions);
      },
    });
    new Gauge({
      name: 'cohort_session_copies_owed',
      help: "Session copies on other nodes that this node still owes writes (their node was down, or a host table moved the copy there); catch-up sends them each second.",
      registers,
      collect() {
        this.set(src.sessionCopiesOwed());
      },
    });
    new Gauge({
      name: 'cohort_host_table_version',
      help: 'The host table version this node holds (held) and the one it runs on (running: lower while what the newer one changes waits for a restart); 0: an unversioned table.',
      labelNames: ['of'],
      registers,
      collect() {
        const t = src.hostTable();
        this.set({ of: 'held' }, t.version);
        this.set({ of: 'running' }, t.running);
      },
    });
    new Counter({
      name: 'cohort_home_copy_answers_total',
      help: "Reads and logins this node answered from the copies it keeps of other homes, asked while those homes could not be reached.",
      labelNames: ['use'],
      registers,
      collect() {
        this.reset();
        const n = src.homeCopyAnswers();
        this.inc({ use: 'read' }, n.read);
        this.inc({ use: 'login' }, n.login);
      },
    });
    new Counter({
      name: 'cohort_app_restarts_total',
      help: "App instances that exited on their own and were restarted by this node's supervisor.",
      registers,
      collect() {
        this.reset();
        this.inc(src.appRestarts());
      },
    });
  }

  async render(): Promise<MetricsPage> {
    this.scrape = { peers: this.src.peers(), outbox: this.src.outbox() };
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** A gauge with one series per peer, set afresh at each scrape (a peer gone from the table leaves none). */
function perPeer(registers: Registry[], name: string, help: string, read: () => [string, number][]): void {
  new Gauge({
    name,
    help,
    labelNames: ['peer'],
    registers,
    collect() {
      this.reset();
      for (const [peer, value] of read()) this.set({ peer }, value);
    },
  });
}

/** A counter the node keeps whole, read at each scrape: one series per key of a fixed set. */
function countsBy<K extends string>(registers: Registry[], name: string, help: string, label: string, keys: readonly K[], read: () => Readonly<Record<K, number>>): void {
  new Counter({
    name,
    help,
    labelNames: [label],
    registers,
    collect() {
      this.reset();
      const counts = read();
      for (const key of keys) this.inc({ [label]: key }, counts[key]);
    },
  });
}
