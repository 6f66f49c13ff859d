// `cohort demo` as README runs it, for tests: started on a free block of ports (another block
// when one is busy), its output kept, stopped with SIGTERM; and a browser's cookie jar.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI_PATH } from '../../src/node/spawn.ts';
import { Browser as Jar } from '../../src/scenario/browser.ts';
import { freePorts } from './ports.ts';

export interface RunningDemo {
  c: ChildProcess;
  exited: Promise<number | null>;
  /** Everything it printed so far. */
  readonly out: string;
  readonly err: string;
  /** The front's address, with a trailing slash. */
  front: string;
}

/** Starts `cohort demo --dir dir` and resolves once it watches its links (up to 60 s; five port blocks). */
export async function startDemo(dir: string): Promise<RunningDemo> {
  for (let attempt = 0; ; attempt++) {
    const [base] = await freePorts(1);
    const c = spawn(process.execPath, [CLI_PATH, 'demo', '--dir', dir, '--base-port', String(base)], { env: { ...process.env, NODE_NO_WARNINGS: '1' } });
    const demo = { c, exited: new Promise<number | null>((res) => c.once('exit', (code) => res(code))), out: '', err: '', front: '' };
    c.stdout!.on('data', (d) => (demo.out += d));
    c.stderr!.on('data', (d) => (demo.err += d));
    const until = Date.now() + 60_000;
    while (!/watching links/.test(demo.out) && c.exitCode === null && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    if (/watching links/.test(demo.out)) {
      demo.front = /front ready on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(demo.out)![1];
      return demo;
    }
    c.kill('SIGTERM');
    await demo.exited;
    if (!/are in use/.test(demo.err) || attempt === 4) assert.fail(`the demo did not get ready\n${demo.out}\n${demo.err}`);
  }
}

/** Stops it (SIGTERM) and resolves with its exit code. */
export async function stopDemo(demo: RunningDemo): Promise<number | null> {
  demo.c.kill('SIGTERM');
  return demo.exited;
}

/** The pid of the demo's node `id` (its command line names the demo's host table and the id). */
export function nodePid(dir: string, id: string): number {
  const config = join(dir, 'hosts.yaml');
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let args: string[];
    try {
      args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const at = args.indexOf('--id');
    if (args.includes('node') && args.includes(config) && at > 0 && args[at + 1] === id) return Number(entry);
  }
  assert.fail(`no process of node ${id} of the demo in ${dir}`);
}

/** A browser's cookie jar: the scenario's own Browser. */
export { Jar };

/** One request with the jar's cookies (redirects not followed); the jar takes the answer's. */
export async function browse(jar: Jar, url: string, init: RequestInit = {}): Promise<{ res: Response; text: string }> {
  const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie: jar.cookieHeader() } });
  jar.take(res);
  return { res, text: await res.text() };
}

/**
 * Logs in through the front with the demo's password: 303 to /, or on with a load-aware
 * hand-over to another node's app, which answers 303 to /. The jar keeps the session.
 */
export async function logIn(front: string, user: string, domain: string, jar = new Jar()): Promise<Jar> {
  let login = await browse(jar, `${front}login`, { method: 'POST', body: new URLSearchParams({ user, domain, password: 'demo-password' }) });
  assert.equal(login.res.status, 303, login.text);
  let location = login.res.headers.get('location')!;
  if (/cohort_handover=/.test(location)) {
    login = await browse(jar, new URL(location, front).href);
    assert.equal(login.res.status, 303, login.text);
    location = login.res.headers.get('location')!;
  }
  assert.equal(location, '/');
  return jar;
}
