// `cohort demo` as README runs it, for tests: started on a free block of ports (another block
// when one is busy), its output kept, stopped with SIGTERM. It is the scenario's own
// (src/scenario/): one way to run a demo; the jar that browses it is test/harness/cookie-jar.ts.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DemoRun } from '../../src/scenario/demo-run.ts';
import { browse, Jar } from './cookie-jar.ts';
import { freeDemoBase } from './ports.ts';

export interface RunningDemo {
  run: DemoRun;
  /** Everything it printed so far. */
  readonly out: string;
  readonly err: string;
  /** The front's address, with a trailing slash. */
  front: string;
}

/** Starts `cohort demo --dir dir` (the scenario's DemoRun) and resolves once it watches its links; another port block when one is busy. */
export async function startDemo(dir: string): Promise<RunningDemo> {
  for (let attempt = 0; ; attempt++) {
    const run = new DemoRun(dir);
    try {
      await run.start(await freeDemoBase());
      return { run, get out() { return run.output; }, get err() { return run.errors; }, front: run.frontUrl };
    } catch (err) {
      await run.stop();
      if (!/are in use/.test(run.errors) || attempt === 4) assert.fail(`the demo did not get ready: ${(err as Error).message}\n${run.output}\n${run.errors}`);
    }
  }
}

/** Stops it (SIGTERM; killed if it does not stop) and resolves with its exit code. */
export async function stopDemo(demo: RunningDemo): Promise<number | null> {
  return demo.run.stop();
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
