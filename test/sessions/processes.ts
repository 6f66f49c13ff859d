// Real processes for session tests and benchmarks: redis-server on a port of its own, and the
// example session app (examples/session-app.ts) on either store.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { alive } from '../harness/stop.ts';
import { waitFor } from '../harness/wait.ts';

export const SESSION_APP = fileURLToPath(new URL('../../examples/session-app.ts', import.meta.url));

/** The redis-server binary ($REDIS_SERVER, /usr/bin/redis-server or on PATH), or null. */
export function redisServerBinary(): string | null {
  if (process.env.REDIS_SERVER) return process.env.REDIS_SERVER;
  if (existsSync('/usr/bin/redis-server')) return '/usr/bin/redis-server';
  const r = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

function pong(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.write('PING\r\n'));
    s.setTimeout(1000, () => s.destroy());
    s.once('data', (d) => {
      s.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    s.once('error', () => resolve(false));
    s.once('close', () => resolve(false));
  });
}

/**
 * A redis-server on 127.0.0.1:port, once it answers PING: without persistence, or with `extra`
 * arguments (bench:sessions' durable row: `--appendonly yes --dir D`, a replica's `--replicaof`).
 */
export async function startRedis(binary: string, port: number, extra: string[] = ['--save', '', '--appendonly', 'no']): Promise<ChildProcess> {
  const proc = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', ...extra], { stdio: 'ignore' });
  await waitFor(`redis-server on port ${port}`, async () => {
    if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}`);
    return pong(port);
  });
  return proc;
}

/** A section of redis-server's INFO, over RESP (no redis-cli needed). */
export function redisInfo(port: number, section: string): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const s = connect(port, '127.0.0.1', () => s.write(`INFO ${section}\r\n`));
    s.setTimeout(1000, () => s.destroy());
    s.on('data', (d) => {
      got += d.toString('latin1');
      // A bulk string: $<length>\r\n<text>\r\n
      const m = /^\$(\d+)\r\n/.exec(got);
      if (m && got.length >= m[0].length + Number(m[1])) s.destroy();
    });
    s.once('error', () => s.destroy());
    s.once('close', () => resolve(got));
  });
}

// Stopping them is the harness's one way (bench/sessions.ts imports it from here too).
export { alive, stopProcess } from '../harness/stop.ts';

/** examples/session-app.ts on `port`, once /healthz answers; its stderr is kept in `output()`. */
export async function startSessionApp(port: number, env: Record<string, string>): Promise<{ proc: ChildProcess; url: string; output: () => string }> {
  const proc = spawn(process.execPath, [SESSION_APP], { env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let out = '';
  proc.stderr!.on('data', (d) => (out += d));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`session app on port ${port}`, async () => {
    if (!alive(proc)) throw new Error(`session app exited (${proc.exitCode ?? proc.signalCode}):\n${out}`);
    return (await fetch(`${url}/healthz`)).ok;
  }, 15_000);
  return { proc, url, output: () => out };
}
