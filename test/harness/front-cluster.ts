import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startBackendProcess } from './backend-process.ts';
import { FrontProcess, type FrontStatus } from './front-process.ts';
import { freePorts } from './ports.ts';
import { stopProcess } from './stop.ts';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';
export const STICKY_KEY = 'sticky-key-0123456789abcdef';

/**
 * A front process in front of back-end processes, all real, on 127.0.0.1: the front is
 * `cohort front`, each back-end test/harness/backend-server.ts stamping its name.
 */
export class FrontCluster {
  readonly dir: string;
  readonly config: string;
  readonly port: number;
  readonly adminPort: number;
  /** A free port for a test's own extra listener (the front's redirect to HTTPS, say). */
  readonly sparePort: number;
  readonly backendPorts = new Map<string, number>();
  private readonly backends = new Map<string, ChildProcess>();
  private front: FrontProcess | undefined;
  private frontCfg: Record<string, unknown>;

  private constructor(dir: string, port: number, adminPort: number, sparePort: number, frontCfg: Record<string, unknown>) {
    this.dir = dir;
    this.sparePort = sparePort;
    this.config = join(dir, 'hosts.yaml');
    this.port = port;
    this.adminPort = adminPort;
    this.frontCfg = frontCfg;
  }

  static async create(names: string[], front: Record<string, unknown> = {}): Promise<FrontCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'cohort-front-'));
    const ports = await freePorts(names.length + 4);
    const cluster = new FrontCluster(dir, ports[0], ports[1], ports[2], front);
    names.forEach((n, i) => cluster.backendPorts.set(n, ports[i + 4]));
    cluster.writeConfig(front);
    await Promise.all(names.map((n) => cluster.startBackend(n)));
    return cluster;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  unhealthyFlag(name: string): string {
    return join(this.dir, `${name}.unhealthy`);
  }

  /** The front section given at create (a test that adds to it spreads this). */
  get frontConfig(): Record<string, unknown> {
    return this.frontCfg;
  }

  /** Rewrites the host table; `front` overrides the defaults given at create. */
  writeConfig(front: Record<string, unknown> = this.frontCfg, raw?: string): void {
    if (raw !== undefined) return void writeFileSync(this.config, raw);
    const table = {
      cluster: 'fronttest',
      dataDir: './data',
      tls: { dir: './tls' },
      domains: ['msu'],
      nodes: [{ id: 'A', domain: 'msu', role: 'library', host: '127.0.0.1', linkPort: 1, httpPort: 2 }],
      front: {
        listen: { host: '127.0.0.1', port: this.port },
        admin: { host: '127.0.0.1', port: this.adminPort, token: ADMIN_TOKEN },
        backends: [...this.backendPorts].map(([id, port]) => ({ id, host: '127.0.0.1', port })),
        health: { path: '/healthz', intervalMs: 200, timeoutMs: 500, rise: 1, fall: 1, slowStartMs: 0, ejectMs: 2000 },
        ...front,
      },
    };
    writeFileSync(this.config, stringify(table));
  }

  async startBackend(name: string): Promise<void> {
    this.backends.set(name, await startBackendProcess(name, this.backendPorts.get(name)!, ['--unhealthy', this.unhealthyFlag(name)]));
  }

  async killBackend(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await stopProcess(this.backends.get(name), signal);
  }

  /**
   * `logLevel` debug (the default) logs every request: a test of volume asks for less. A front
   * started before is stopped first (a test that needs a fresh front with its own config).
   */
  async startFront(env: Record<string, string> = {}, logLevel = 'debug'): Promise<ChildProcess> {
    await this.front?.stop();
    this.front = FrontProcess.start(this.config, { port: this.adminPort, token: ADMIN_TOKEN }, { env, args: ['--log-level', logLevel] });
    // A front that exits fails the wait at once: the deadline is for one alive but slow to boot.
    await this.front.waitFor('the front to answer on its admin port', (s) => s.backends.length > 0, 30_000);
    return this.front.proc;
  }

  /** Everything the front printed so far. */
  get frontLog(): string {
    return this.front?.log ?? '';
  }

  get frontPid(): number {
    return this.front!.pid;
  }

  signalFront(signal: NodeJS.Signals): void {
    this.front?.signal(signal);
  }

  async status(): Promise<FrontStatus> {
    const res = await fetch(`http://127.0.0.1:${this.adminPort}/status`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    return (await res.json()) as FrontStatus;
  }

  async allReady(): Promise<boolean> {
    return (await this.status()).backends.every((b) => b.state === 'ready');
  }

  async destroy(): Promise<void> {
    await this.front?.stop();
    await Promise.all([...this.backends.keys()].map((n) => this.killBackend(n, 'SIGTERM')));
    if (!process.env.COHORT_KEEP_TEST_DIRS) rmSync(this.dir, { recursive: true, force: true });
  }
}
