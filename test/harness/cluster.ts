import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { initClusterCerts } from '../../src/certs/cluster-certs.ts';
import { CohortClient } from '../../src/client/client.ts';
import { loadHostTable, type HostTable } from '../../src/config/host-table.ts';
import type { HostTableInput } from '../../src/config/schema.ts';
import type { JournalEntry } from '../../src/journal/journal.ts';
import type { PeerStatus } from '../../src/net/peer.ts';
import { spawnNodeProcess } from '../../src/node/spawn.ts';
import type { AppSection } from '../../src/config/app-schema.ts';
import type { NodeTlsInput } from '../../src/config/tls-schema.ts';
import { FaultProxy } from './fault-proxy.ts';
import { logEvents, readLog } from './log.ts';
import { freePorts } from './ports.ts';
import { alive, stopProcess } from './stop.ts';
import { WaitAborted, waitFor } from './wait.ts';

export interface ClusterNodeSpec {
  id: string;
  domain?: string;
  role?: 'library' | 'access';
  /** Put a fault proxy in front of this node's link port (peers dial the proxy). */
  proxied?: boolean;
  /** This node's own `app:` section (the supervisor's pool). */
  app?: AppSection;
  /** Where it sends logins when over 100%. */
  spares?: string[];
  publicUrl?: string;
  /** HTTPS on its HTTP port (the host table's node `tls`). */
  tls?: NodeTlsInput;
  /** An access node that votes on its domain's homes' terms (issue 27). */
  voter?: boolean;
  /** Where a library node keeps its users and records (PostgreSQL). */
  records?: HostTableInput['nodes'][number]['records'];
}

/**
 * A cluster of real `cohort node` processes on 127.0.0.1, each with its own ports, data
 * folder and log, under one temporary folder. Faults are real: kill -9, restart.
 */
export class TestCluster {
  readonly dir: string;
  readonly config: string;
  readonly table: HostTable;
  private readonly procs = new Map<string, ChildProcess>();
  private readonly clients = new Map<string, CohortClient>();
  private readonly proxies = new Map<string, FaultProxy>();

  private constructor(dir: string, config: string) {
    this.dir = dir;
    this.config = config;
    this.table = loadHostTable(config);
  }

  static async create(nodes: ClusterNodeSpec[], extra: Partial<HostTableInput> = {}): Promise<TestCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'cohort-'));
    // Nodes' own ports stay out of every app port range (a range is free, not yet taken, when picked).
    const ranges = nodes.flatMap((n) => (n.app?.basePort ? [[n.app.basePort, n.app.basePort + (n.app.portSpan ?? 100)]] : []));
    const ports = await freePorts(nodes.length * 3, (p) => ranges.some(([lo, hi]) => p >= lo && p < hi));
    const domains = [...new Set(nodes.map((n) => n.domain ?? 'msu'))];
    const table: HostTableInput = {
      cluster: 'test',
      dataDir: './data',
      tls: { dir: './tls' },
      domains,
      nodes: nodes.map((n, i) => ({
        id: n.id,
        domain: n.domain ?? 'msu',
        role: n.role ?? (i === 0 ? 'library' : 'access'),
        host: '127.0.0.1',
        linkPort: ports[3 * i],
        httpPort: ports[3 * i + 1],
        ...(n.proxied ? { bindLinkPort: ports[3 * i + 2] } : {}),
        ...(n.app ? { app: n.app } : {}),
        ...(n.spares ? { spares: n.spares } : {}),
        ...(n.publicUrl ? { publicUrl: n.publicUrl } : {}),
        ...(n.tls ? { tls: n.tls } : {}),
        ...(n.records ? { records: n.records } : {}),
        ...(n.voter !== undefined ? { voter: n.voter } : {}),
      })),
      ...extra,
    };
    const config = join(dir, 'hosts.yaml');
    writeFileSync(config, stringify(table));
    const cluster = new TestCluster(dir, config);
    initClusterCerts(cluster.table.tlsDir, cluster.table.cluster, nodes.map((n) => n.id));
    for (const n of cluster.table.nodes) {
      if (n.bindLinkPort) cluster.proxies.set(n.id, await FaultProxy.start(n.linkPort, n.bindLinkPort));
    }
    return cluster;
  }

  get ids(): string[] {
    return this.table.nodes.map((n) => n.id);
  }

  logFile(id: string): string {
    return join(this.dir, `${id}.log`);
  }

  log(id: string): string {
    return readLog(this.logFile(id));
  }

  /** Node `id`'s log lines with this event, parsed. */
  events(id: string, event: string): Record<string, unknown>[] {
    return logEvents(this.log(id), event);
  }

  /** Every entry of a journal stream on node `id`, in the order it applied them (read a page at a time). */
  async journal(id: string, stream: string): Promise<JournalEntry[]> {
    const entries: JournalEntry[] = [];
    for (let after = 0; ; ) {
      const page = ((await (await this.client(id)).call(id, 'journal.read', { stream, after, limit: 10_000 })) as { entries: JournalEntry[] }).entries;
      entries.push(...page);
      if (page.length < 10_000) return entries;
      after = page.at(-1)!.seq;
    }
  }

  /** The fault proxy in front of node `id`'s link port. */
  proxy(id: string): FaultProxy {
    const p = this.proxies.get(id);
    if (!p) throw new Error(`node ${id} has no fault proxy`);
    return p;
  }

  /**
   * Starts node `id` and resolves once its local socket answers. With mayDie (a node told
   * to crash at some point), it also resolves if the process dies first. A node that exits
   * fails the wait at once; the deadline is only for one alive but slow to boot, which took
   * over 15 s here with the machine's load average at 20.
   */
  /** Tests log at debug (what a failure needs); benchmarks pass `logLevel: 'info'`, as in production. */
  async start(id: string, env: Record<string, string> = {}, opts: { mayDie?: boolean; logLevel?: string } = {}): Promise<void> {
    const proc = spawnNodeProcess(this.config, id, this.logFile(id), ['--log-level', opts.logLevel ?? 'debug'], env);
    this.procs.set(id, proc);
    await waitFor(`node ${id} to answer on its local socket`, async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        if (opts.mayDie) return true;
        throw new WaitAborted(`node ${id} exited (${proc.signalCode ?? proc.exitCode}):\n${this.log(id).slice(-2000)}`);
      }
      return (await this.freshClient(id)).ping(id);
    }, 60_000, 25);
  }

  async startAll(opts: { logLevel?: string } = {}): Promise<void> {
    await Promise.all(this.ids.map((id) => this.start(id, {}, opts)));
  }

  /** kill -9 (or another signal) and wait until the process is gone. */
  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL', forceAfterMs?: number): Promise<void> {
    this.dropClient(id);
    await stopProcess(this.procs.get(id), signal, forceAfterMs);
  }

  /** Sends a signal without waiting (SIGSTOP / SIGCONT to freeze and thaw a node). */
  signal(id: string, signal: NodeJS.Signals): void {
    this.procs.get(id)?.kill(signal);
  }

  /** Node `id`'s process id (undefined if it was never started). */
  pid(id: string): number | undefined {
    return this.procs.get(id)?.pid;
  }

  exitCode(id: string): number | null {
    return this.procs.get(id)?.exitCode ?? null;
  }

  /** Is node `id`'s process still running? */
  running(id: string): boolean {
    const proc = this.procs.get(id);
    return !!proc && alive(proc);
  }

  /** Resolves when node `id`'s process has exited by itself (or after timeoutMs, false). */
  exited(id: string, timeoutMs: number): Promise<boolean> {
    const proc = this.procs.get(id);
    if (!proc || !this.running(id)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      proc.once('exit', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** A client on node `id`'s local socket, reused between calls. */
  async client(id: string): Promise<CohortClient> {
    const existing = this.clients.get(id);
    if (existing && !existing.closed) return existing;
    const client = await CohortClient.forNode(this.table, id, { timeoutMs: 5000 });
    this.clients.set(id, client);
    return client;
  }

  async peers(id: string): Promise<PeerStatus[]> {
    const reply = (await (await this.client(id)).call(id, 'peers')) as { peers: PeerStatus[] };
    return reply.peers;
  }

  /** True when every running node in `ids` has its outbound link to every other one up. */
  async linksUp(ids: string[] = this.ids): Promise<boolean> {
    for (const id of ids) {
      const peers = await this.peers(id);
      if (!peers.filter((p) => ids.includes(p.id)).every((p) => p.state === 'up')) return false;
    }
    return true;
  }

  async destroy(): Promise<void> {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
    // Every node started, those a test added to the table as it ran too.
    await Promise.all([...new Set([...this.ids, ...this.procs.keys()])].map((id) => this.kill(id, 'SIGTERM')));
    await Promise.all([...this.proxies.values()].map((p) => p.close()));
    if (!process.env.COHORT_KEEP_TEST_DIRS) rmSync(this.dir, { recursive: true, force: true });
  }

  private async freshClient(id: string): Promise<CohortClient> {
    this.dropClient(id);
    return this.client(id);
  }

  private dropClient(id: string): void {
    this.clients.get(id)?.close();
    this.clients.delete(id);
  }
}
