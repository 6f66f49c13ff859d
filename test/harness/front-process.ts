// `cohort front` as a process: the one way tests start a front, on FrontCluster's host table or
// on a node cluster's (`backends: apps`, a shared dispatcher). Its output is kept in memory, or
// appended to a file when a test reads that file; its admin listener answers status; it stops
// with the harness's stop helper.
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI_PATH, spawnLogged } from '../../src/node/spawn.ts';
import { readLog } from './log.ts';
import { alive, stopProcess } from './stop.ts';
import { WaitAborted, waitFor } from './wait.ts';

export interface FrontBackendStatus {
  id: string;
  address: string;
  node: string | null;
  state: string;
  requests: number;
  liveSessions: number;
  admin: string;
  active: number;
  load: number | null;
}

export interface FrontStatus {
  backends: FrontBackendStatus[];
  connections: number;
  protocols: { http1: number; h2: number; h2Streams: number };
  tunnels: number;
  policy: string;
  reloads: number;
  maintenance: { on: boolean; message: string; pagesServed: number };
}

export interface FrontOptions {
  /** Extra arguments after `front --config FILE` (e.g. --log-level). */
  args?: string[];
  env?: Record<string, string>;
  /** Append its output to this file instead of keeping it in memory. */
  logFile?: string;
}

export class FrontProcess {
  readonly proc: ChildProcess;
  private readonly adminUrl: string;
  private readonly token: string | undefined;
  private readonly logFile: string | undefined;
  private output = '';

  private constructor(proc: ChildProcess, admin: { port: number; token?: string }, logFile: string | undefined) {
    this.proc = proc;
    this.adminUrl = `http://127.0.0.1:${admin.port}`;
    this.token = admin.token;
    this.logFile = logFile;
  }

  /** Spawns `cohort front --config config`; `admin` is the admin listener its table names. */
  static start(config: string, admin: { port: number; token?: string }, opts: FrontOptions = {}): FrontProcess {
    const args = [CLI_PATH, 'front', '--config', config, ...(opts.args ?? [])];
    if (opts.logFile) return new FrontProcess(spawnLogged(args, opts.logFile, opts.env), admin, opts.logFile);
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_NO_WARNINGS: '1', ...opts.env } });
    const front = new FrontProcess(proc, admin, undefined);
    proc.stdout!.on('data', (d) => (front.output += d));
    proc.stderr!.on('data', (d) => (front.output += d));
    return front;
  }

  /** Everything it printed so far. */
  get log(): string {
    return this.logFile ? readLog(this.logFile) : this.output;
  }

  get pid(): number {
    return this.proc.pid!;
  }

  async status(): Promise<FrontStatus> {
    const res = await fetch(`${this.adminUrl}/status`, { headers: this.token ? { authorization: `Bearer ${this.token}` } : {} });
    return (await res.json()) as FrontStatus;
  }

  /** The back-ends it routes to now (state ready). */
  async ready(): Promise<FrontBackendStatus[]> {
    return (await this.status()).backends.filter((b) => b.state === 'ready');
  }

  /** Waits until its status satisfies `check`; fails at once, with its output, if it exits. */
  async waitFor(what: string, check: (s: FrontStatus) => boolean, timeoutMs = 10_000, everyMs = 25): Promise<FrontStatus> {
    return waitFor(what, async () => {
      if (!alive(this.proc)) throw new WaitAborted(`front exited (${this.proc.exitCode ?? this.proc.signalCode}): ${this.log}`);
      const s = await this.status();
      return check(s) ? s : undefined;
    }, timeoutMs, everyMs);
  }

  signal(signal: NodeJS.Signals): void {
    this.proc.kill(signal);
  }

  stop(): Promise<void> {
    return stopProcess(this.proc);
  }
}
