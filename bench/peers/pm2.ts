// PM2, the peer of bench:supervisor, from the npm registry into a cache folder (never into the
// project's dependencies): `npm install --prefix ~/.cache/cohort-bench/pm2 pm2@<PM2_VERSION>`
// when missing. It runs with this process's Node (24), its own PM2_HOME, and is killed at the
// end. PM2_DIR=path picks an installed pm2 package folder by hand.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const PM2_VERSION = '7.0.4';
const PREFIX = join(homedir(), '.cache', 'cohort-bench', 'pm2');

/** The pm2 package folder (installed into the cache when missing). Exits the bench when it cannot be had. */
export function pm2Package(progress: (msg: string) => void): string {
  if (process.env.PM2_DIR) return process.env.PM2_DIR;
  const dir = join(PREFIX, 'node_modules', 'pm2');
  const installed = existsSync(join(dir, 'package.json')) ? (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version : undefined;
  if (installed === PM2_VERSION) return dir;
  progress(`installing pm2@${PM2_VERSION} from the npm registry into ${PREFIX}`);
  const r = spawnSync('npm', ['install', '--prefix', PREFIX, '--no-audit', '--no-fund', '--loglevel=error', `pm2@${PM2_VERSION}`], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0 || !existsSync(join(dir, 'package.json'))) {
    process.stderr.write(`cannot install pm2; run: npm install --prefix ${PREFIX} pm2@${PM2_VERSION}\n`);
    process.exit(2);
  }
  return dir;
}

/** What `pm2 jlist` shows of one process (the fields the bench reads). */
export interface Pm2Proc {
  name: string;
  pid: number;
  pm_id: number;
  pm2_env: { status: string; restart_time: number; unstable_restarts: number; pm_uptime: number };
}

/**
 * PM2 with its own PM2_HOME: the CLI (run with this Node, so the daemon and its cluster
 * workers are Node 24 too) and the programmatic API's list (the data of `pm2 jlist`, over the
 * daemon's RPC socket, without starting a CLI process per poll).
 */
export class Pm2 {
  readonly dir: string;
  readonly home: string;
  private api: { connect(cb: (err?: Error) => void): void; list(cb: (err: Error | null, list: Pm2Proc[]) => void): void; disconnect(): void } | undefined;

  constructor(dir: string, home: string) {
    this.dir = dir;
    this.home = home;
  }

  /** Runs `pm2 <args>`; throws with its output when it fails. */
  cli(args: string[]): string {
    const r = spawnSync(process.execPath, [join(this.dir, 'bin', 'pm2'), ...args], { encoding: 'utf8', env: { ...process.env, PM2_HOME: this.home, PM2_DISCRETE_MODE: 'true' }, timeout: 120_000 });
    if (r.status !== 0) throw new Error(`pm2 ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  }

  /** `pm2 jlist`, through the API. */
  async list(): Promise<Pm2Proc[]> {
    if (!this.api) {
      // PM2 reads PM2_HOME when its modules load: set it first (the bench runs one PM2 only).
      process.env.PM2_HOME = this.home;
      const api = createRequire(join(this.dir, 'package.json'))('./index.js');
      await new Promise<void>((resolve, reject) => api.connect((err?: Error) => (err ? reject(err) : resolve())));
      this.api = api;
    }
    return new Promise((resolve, reject) => this.api!.list((err, list) => (err ? reject(err) : resolve(list))));
  }

  /** The God daemon's pid (PM2_HOME/pm2.pid). */
  daemonPid(): number {
    return Number(readFileSync(join(this.home, 'pm2.pid'), 'utf8').trim());
  }

  /** Kills the daemon and its workers (`pm2 kill`; SIGKILL to the daemon if that fails). */
  kill(): void {
    this.api?.disconnect();
    let pid: number | undefined;
    try {
      pid = this.daemonPid();
    } catch {
      return; // never started
    }
    try {
      this.cli(['kill']);
    } catch {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}
