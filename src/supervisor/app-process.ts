import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';

// One app-server process. It is started through `setpriv --pdeathsig KILL` where that exists
// (util-linux): the kernel kills it when the node dies, even by kill -9, so no instance
// outlives its node. It leads its own process group, so a stop reaches what it forked too.

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
/** A line of app output longer than this is cut: a runaway app must not become a runaway log. */
export const MAX_LINE = 8192;

export interface SpawnSpec {
  id: string;
  command: string[];
  cwd: string;
  env: Record<string, string>;
}

export class AppProcess {
  readonly id: string;
  readonly child: ChildProcess;
  readonly startedAt = Date.now();
  /** Resolves with how it ended; set once, whichever comes first: spawn failure or exit. */
  readonly ended: Promise<string>;
  exited = false;
  /** Its last line on stderr: why a failed start failed, in its own words. */
  private lastError = '';

  constructor(spec: SpawnSpec, log: Logger) {
    this.id = spec.id;
    const [program, ...args] = spec.command;
    const argv = SETPRIV ? [SETPRIV, ['--pdeathsig', 'KILL', '--', program, ...args]] as const : [program, args] as const;
    this.child = spawn(argv[0], [...argv[1]], { cwd: spec.cwd, env: spec.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.ended = new Promise((resolve) => {
      this.child.once('error', (err) => {
        this.exited = true;
        resolve(`cannot start ${program}: ${err.message}`);
      });
      this.child.once('exit', async (code, signal) => {
        this.exited = true;
        // What it forked and left behind (its process group) goes with it.
        this.signal('SIGKILL', true);
        // Its last words may still be in the pipe: wait for them, but not for a grandchild holding it.
        await new Promise((r) => {
          const t = setTimeout(r, 200);
          this.child.once('close', () => r(clearTimeout(t)));
        });
        const said = code !== 0 && this.lastError ? `: ${this.lastError.slice(0, 300)}` : '';
        resolve(signal ? `killed by ${signal}` : `exited with code ${code}${said}`);
      });
    });
    for (const stream of ['stdout', 'stderr'] as const) {
      eachLine(this.child[stream]!, (line) => {
        if (stream === 'stderr' && line.trim()) this.lastError = printable(line.trim());
        log.info({ event: 'app_output', instance: spec.id, stream, line }, 'app output');
      });
    }
  }

  get pid(): number | null {
    return this.child.pid ?? null;
  }

  /** Its resident set (Linux /proc), or null when it cannot be read. */
  rssBytes(): number | null {
    if (this.pid === null || this.exited) return null;
    try {
      const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
      return m ? Number(m[1]) * 1024 : null;
    } catch {
      return null;
    }
  }

  /** SIGTERM to its group, SIGKILL after killTimeoutMs; resolves once it has exited. */
  async stop(killTimeoutMs: number): Promise<string> {
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), killTimeoutMs);
    try {
      return await this.ended;
    } finally {
      clearTimeout(timer);
    }
  }

  /** kill -9 at once (a hung instance). */
  kill(): Promise<string> {
    this.signal('SIGKILL');
    return this.ended;
  }

  /** To its whole process group; `evenIfExited` reaches what the leader left behind. */
  private signal(sig: NodeJS.Signals, evenIfExited = false): void {
    if ((this.exited && !evenIfExited) || this.pid === null) return;
    try {
      process.kill(-this.pid, sig);
    } catch {
      if (this.exited) return;
      try {
        this.child.kill(sig);
      } catch {
        // already gone
      }
    }
  }
}

/**
 * Calls back with each line of the stream, a line longer than MAX_LINE cut into pieces of
 * that size: an app that writes without newlines costs the node MAX_LINE, not its output.
 */
export function eachLine(stream: Readable, line: (text: string) => void): void {
  let pending = '';
  /** The last piece was cut at MAX_LINE: a newline right after it ends that line, not an empty one. */
  let cut = false;
  stream.setEncoding('utf8'); // decodes characters split across chunks
  stream.on('data', (chunk: string) => {
    pending += chunk;
    if (cut && pending.startsWith('\n')) pending = pending.slice(1);
    cut = false;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0 || pending.length >= MAX_LINE) {
      if (nl >= 0 && nl <= MAX_LINE) {
        line(pending.slice(0, nl).replace(/\r$/, ''));
        pending = pending.slice(nl + 1);
        continue;
      }
      // Not inside a surrogate pair: a character is not cut in two.
      const end = /[\ud800-\udbff]/.test(pending[MAX_LINE - 1]) ? MAX_LINE - 1 : MAX_LINE;
      line(pending.slice(0, end));
      pending = pending.slice(end);
      cut = pending.length === 0;
      if (pending.startsWith('\n')) pending = pending.slice(1);
    }
  });
  stream.on('end', () => {
    if (pending) line(pending.replace(/\r$/, ''));
  });
}

/** Control characters out: an app's words end up in an operator's terminal (cohort app status). */
export function printable(text: string): string {
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, '?');
}

export const pdeathsigAvailable = SETPRIV !== undefined;
