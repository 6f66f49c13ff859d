import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { CLI_PATH } from '../../src/node/spawn.ts';
import { freePorts } from './ports.ts';
import { stopProcess } from './stop.ts';
import { waitFor } from './wait.ts';

const BACKEND = fileURLToPath(new URL('./backend-server.ts', import.meta.url));
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
  readonly backendPorts = new Map<string, number>();
  private readonly backends = new Map<string, ChildProcess>();
  private front: ChildProcess | undefined;
  private frontCfg: Record<string, unknown>;

  private constructor(dir: string, port: number, adminPort: number, frontCfg: Record<string, unknown>) {
    this.dir = dir;
    this.config = join(dir, 'hosts.yaml');
    this.port = port;
    this.adminPort = adminPort;
    this.frontCfg = frontCfg;
  }

  static async create(names: string[], front: Record<string, unknown> = {}): Promise<FrontCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'cohort-front-'));
    const ports = await freePorts(names.length + 4);
    const cluster = new FrontCluster(dir, ports[0], ports[1], front);
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
    const proc = spawn(process.execPath, [BACKEND, '--name', name, '--port', String(this.backendPorts.get(name)), '--unhealthy', this.unhealthyFlag(name)], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.backends.set(name, proc);
    await new Promise<void>((resolve, reject) => {
      proc.stdout!.once('data', () => resolve());
      proc.once('exit', (code) => reject(new Error(`back-end ${name} exited with ${code}`)));
    });
  }

  async killBackend(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await stopProcess(this.backends.get(name), signal);
  }

  /** `logLevel` debug (the default) logs every request: a test of volume asks for less. */
  async startFront(env: Record<string, string> = {}, logLevel = 'debug'): Promise<ChildProcess> {
    const front = spawn(process.execPath, [CLI_PATH, 'front', '--config', this.config, '--log-level', logLevel], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_NO_WARNINGS: '1', ...env },
    });
    this.front = front;
    front.stdout!.on('data', (d) => (this.frontLog += d));
    front.stderr!.on('data', (d) => (this.frontLog += d));
    await waitFor('the front to answer on its admin port', async () => {
      if (front.exitCode !== null) throw new Error(`front exited: ${this.frontLog}`);
      return (await this.status()).backends.length > 0;
    }, 10_000, 25);
    return front;
  }

  frontLog = '';

  get frontPid(): number {
    return this.front!.pid!;
  }

  signalFront(signal: NodeJS.Signals): void {
    this.front?.kill(signal);
  }

  async status(): Promise<{ backends: { id: string; state: string; requests: number; liveSessions: number; admin: string; active: number }[]; connections: number; tunnels: number; policy: string; reloads: number }> {
    const res = await fetch(`http://127.0.0.1:${this.adminPort}/status`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    return (await res.json()) as never;
  }

  async allReady(): Promise<boolean> {
    return (await this.status()).backends.every((b) => b.state === 'ready');
  }

  async destroy(): Promise<void> {
    await stopProcess(this.front);
    await Promise.all([...this.backends.keys()].map((n) => this.killBackend(n, 'SIGTERM')));
    if (!process.env.COHORT_KEEP_TEST_DIRS) rmSync(this.dir, { recursive: true, force: true });
  }
}
