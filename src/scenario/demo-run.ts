import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { join } from 'node:path';
import { loadHostTable, nodeHttpUrl, type HostTable } from '../config/host-table.ts';
import { CLI_PATH, spawnNodeProcess } from '../node/spawn.ts';
import { runCli, type CliResult } from '../cli/run-cli.ts';
import type { NodeSnapshot } from '../admin/node-status.ts';
import type { RegistrySnapshot } from '../supervisor/registry.ts';
import { processRunning } from '../process-state.ts';
import { trustClusterCa } from '../net/cluster-trust.ts';

/** How long the demo may take to be ready before the scenario gives up. */
const READY_TIMEOUT_MS = 90_000;
/** How long the demo and the nodes started here get to stop on SIGTERM before they are killed. */
const STOP_TIMEOUT_MS = 30_000;

/**
 * A `cohort demo` run as an operator drives it: started with its public command, then reached
 * only through the `cohort` CLI (its host table) and HTTP. A server "dies" as a machine does:
 * its node and its app instances are killed with SIGKILL, their pids read from the node's own
 * status and app registry; it comes back as `cohort node --id X`, started here.
 */
export class DemoRun {
  readonly dir: string;
  readonly config: string;
  table!: HostTable;
  /** Seconds from starting `cohort demo` to its being ready, as it reports them. */
  readySeconds = NaN;
  /** What the demo printed so far: stdout, stderr. */
  output = '';
  errors = '';
  /** The front's address, with a trailing slash. */
  frontUrl = '';
  /** The demo's first link port (its other ports follow from it: demoPorts). */
  basePort = 0;
  private demo: ChildProcess | undefined;
  private demoExit: Promise<number | null> = Promise.resolve(null);
  private readonly restarted = new Map<string, ChildProcess>();
  /** Set by the first stop(): later calls wait for the same one, and no node is started after it. */
  private stopping: Promise<number | null> | undefined;

  constructor(dir: string) {
    this.dir = dir;
    this.config = join(dir, 'hosts.yaml');
  }

  /**
   * Starts `cohort demo` and resolves once it watches its links (every node, the apps and the
   * front ready). It runs in a process group of its own, with the nodes and the front it starts,
   * so stop() can end them all even if the demo itself does not.
   */
  async start(basePort: number): Promise<void> {
    this.basePort = basePort;
    const demo = spawn(process.execPath, [CLI_PATH, 'demo', '--dir', this.dir, '--base-port', String(basePort)], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, NODE_NO_WARNINGS: '1' } });
    this.demo = demo;
    this.demoExit = new Promise((res) => {
      demo.once('exit', (code) => res(code));
      demo.once('error', () => res(null));
    });
    demo.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    demo.stderr!.on('data', (d: Buffer) => (this.errors += d.toString()));
    const until = Date.now() + READY_TIMEOUT_MS;
    while (!/watching links/.test(this.output)) {
      if (demo.exitCode !== null || demo.signalCode !== null) throw new Error(`cohort demo exited (${demo.signalCode ?? `code ${demo.exitCode}`}): ${this.errors.trim() || this.output.trim().split('\n').pop()}`);
      if (Date.now() > until) throw new Error(`cohort demo was not ready within ${READY_TIMEOUT_MS / 1000} s; its logs are in ${join(this.dir, 'logs')}`);
      await delay(100);
    }
    this.readySeconds = Number(/ready in ([\d.]+) s/.exec(this.output)?.[1] ?? NaN);
    this.frontUrl = /front ready on (https:\/\/\S+\/):/.exec(this.output)?.[1] ?? '';
    this.table = loadHostTable(this.config);
    // The front's certificate is the cluster CA's: this process's fetch trusts it.
    await trustClusterCa(this.table.tlsDir);
  }

  /**
   * Stops the demo (SIGTERM: it stops what it started) and every node started here, and waits
   * for them; what is still there after STOP_TIMEOUT_MS is killed (the demo's whole process
   * group). Resolves with the demo's exit code.
   */
  stop(): Promise<number | null> {
    this.stopping ??= this.stopAll();
    return this.stopping;
  }

  private async stopAll(): Promise<number | null> {
    const running = [this.demo, ...this.restarted.values()].filter((c): c is ChildProcess => c !== undefined && c.exitCode === null && c.signalCode === null);
    const exits = running.map((child) => new Promise((res) => (child.exitCode !== null || child.signalCode !== null ? res(null) : child.once('exit', res))));
    for (const child of running) child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (this.demo?.pid) signal(-this.demo.pid, 'SIGKILL');
      for (const child of running) child.kill('SIGKILL');
    }, STOP_TIMEOUT_MS);
    await Promise.all(exits);
    clearTimeout(timer);
    // The demo's group once it is gone: nodes it started and did not stop (it was killed, or failed).
    if (this.demo?.pid) signal(-this.demo.pid, 'SIGKILL');
    this.restarted.clear();
    return this.demoExit;
  }

  /** `cohort ARGS --config <the demo's host table>`. */
  cli(args: string[], input?: string): Promise<CliResult> {
    return runCli([...args, '--config', this.config], { input });
  }

  /** A CLI command with --json; its output parsed, or an error that quotes what it said. */
  async cliJson<T>(args: string[]): Promise<T> {
    const r = await this.cli([...args, '--json']);
    if (r.code !== 0) throw new Error(`cohort ${args.join(' ')} exited with ${r.code}: ${r.stderr.trim()}`);
    return JSON.parse(r.stdout) as T;
  }

  /** `cohort call ID COMMAND --from ID`: the reply (printed as JSON). */
  async call<T>(id: string, command: string): Promise<T> {
    const r = await this.cli(['call', id, command, '--from', id]);
    if (r.code !== 0) throw new Error(`cohort call ${id} ${command} exited with ${r.code}: ${r.stderr.trim()}`);
    return JSON.parse(r.stdout) as T;
  }

  /** The host table file changed (a node added): read it again. */
  tableChanged(): void {
    this.table = loadHostTable(this.config);
  }

  /** Node `id`'s own HTTP address (resources, /healthz, its dashboard). */
  nodeUrl(id: string): string {
    return nodeHttpUrl(this.table.nodes.find((x) => x.id === id)!);
  }

  /** Node `id`'s app instances, from its registry (`cohort app status`). */
  async appPool(id: string): Promise<RegistrySnapshot> {
    const [pool] = await this.cliJson<RegistrySnapshot[]>(['app', 'status', '--on', id, '--from', id]);
    return pool;
  }

  /** The addresses of node `id`'s ready app instances. */
  async appUrls(id: string): Promise<string[]> {
    return (await this.appPool(id)).instances.filter((i) => i.state === 'ready' && i.port !== null).map((i) => `http://${i.host}:${i.port}`);
  }

  /** The server goes down as a machine does: node `id` and its app instances, SIGKILL. Resolves when they are gone. */
  async kill(id: string): Promise<number[]> {
    const pids = [(await this.call<NodeSnapshot>(id, 'status.snapshot')).pid];
    if (this.table.nodes.find((n) => n.id === id)?.role === 'access') {
      for (const i of (await this.appPool(id)).instances) if (i.pid !== null) pids.push(i.pid);
    }
    for (const pid of pids) signal(pid, 'SIGKILL');
    const until = Date.now() + 10_000;
    while (pids.some(processRunning)) {
      if (Date.now() > until) throw new Error(`processes ${pids.filter(processRunning).join(', ')} of node ${id} are still there 10 s after SIGKILL`);
      await delay(20);
    }
    return pids;
  }

  /** Starts node `id` again (`cohort node`), its log appended to the demo's; resolves once it answers. */
  async restart(id: string): Promise<void> {
    if (this.stopping) throw new Error(`node ${id} not started: the cluster is stopping`);
    const child = spawnNodeProcess(this.config, id, join(this.dir, 'logs', `${id}.log`));
    this.restarted.set(id, child);
    const until = Date.now() + 20_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`node ${id} exited with code ${child.exitCode} as it started; see ${join(this.dir, 'logs', `${id}.log`)}`);
      if ((await this.cli(['ping', id, '--from', id])).code === 0) return;
      if (Date.now() > until) throw new Error(`node ${id} did not answer within 20 s of its start`);
      await delay(200);
    }
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
}
