// Benchmark: the supervisor (app pools) against PM2's cluster mode, in one run, with the same
// app: 4 instances of a small Node HTTP server (bench-written, `app.cjs` below) that answers
// `/` after APP_DELAY_MS (5 ms, so requests are in flight during reloads), has /healthz, and on
// SIGTERM or SIGINT (PM2 sends SIGINT) stops listening, answers what is in flight with
// `Connection: close` and exits (server.close); it calls process.send('ready') once listening
// (PM2's wait_ready). Cohort gives each instance its own $PORT; PM2's cluster module shares one.
//   1. Failed requests during rolling reloads under wrk load (-t1 -c32), each through the same
//      front with the same settings (`policy: least_conn`, health on /healthz, retries at their
//      default), whose retries are read from its /metrics and printed: Cohort's front following
//      the node's app registry (`backends: apps`, `node: A`) while `cohort app reload --all`
//      runs, back to back; and the front before PM2's 4 instances each on its own port (fork
//      mode with `increment_var: 'PORT'`, PM2's way to give instances their own ports: a front
//      cannot try a second instance behind cluster mode's one shared port) while they are
//      reloaded one after the other (`pm2 reload <id>` each: `pm2 reload app-fork` stops and
//      starts two at a time, fork mode having no zero-downtime reload). Also PM2 bare, as its docs recommend for a web app (cluster
//      mode, its shared port, `pm2 reload app`), for reference.
//      failed = non-2xx + socket errors (connect, read, write, timeout) from wrk's output.
//   2. Restart: kill -9 of one instance, time until the supervisor lists a replacement
//      (Cohort: the registry shows it `ready`; PM2: its list, `pm2 jlist`'s data read through
//      PM2's API, shows a new pid `online`) AND
//      the replacement itself answers HTTP (PM2: a fresh connection to the shared port gets an
//      answer from the new pid). p50 of BENCH_SUPERVISOR_KILLS.
//   3. The supervisor's own memory (VmRSS of the `cohort node` process; of PM2's God daemon,
//      which is also the cluster master) before and after BENCH_SUPERVISOR_RESTARTS restarts,
//      forced by kill -9 of every ready instance at once, waiting for all 4 replacements,
//      over and over (real restarts: each replacement must be listed ready before the next
//      round; polled every 50 ms). To keep the run short, the two restart loops run at once
//      (they share the CPU, which slows both and does not change what each one holds);
//      phases 1 and 2 are timed one supervisor at a time.
// Crash-loop guards: both supervisors back off or give up when instances keep dying young
// (Cohort: back-off until an instance lived `stableMs`; PM2: `min_uptime` 1000 ms and
// `max_restarts` 16, then the app is `errored`). Killing instances that had become ready is not
// a crash loop, so both are told that an instance that lived 100 ms was stable (Cohort
// stableMs: 100; PM2 min_uptime: 100, its least) and the restart loop kills no instance younger
// than that: it measures restarts, not back-off.
// PM2 is configured as its docs recommend for cluster mode and graceful reload (ecosystem file,
// exec_mode 'cluster', instances 4; "Graceful start": wait_ready: true, listen_timeout: 10000
// and process.send('ready'); "Graceful stop": kill_timeout: 3000), and Cohort gets the same
// kill timeout (killTimeoutMs: 3000).
// Sizes: BENCH_SUPERVISOR_SECONDS (wrk run per supervisor, default 15), BENCH_SUPERVISOR_KILLS
// (kill -9 timings, default 7), BENCH_SUPERVISOR_RESTARTS (default 1000),
// BENCH_SUPERVISOR_CONNECTIONS (default 32).
// Needs: wrk (apt-get install -y wrk, installed here when missing, as root) and pm2 (npm, into
// ~/.cache/cohort-bench/pm2: bench/peers/pm2.ts).
import { ensureDebianTools } from './peers/debian.ts';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { frontSchema } from '../src/front/config.ts';
import { CLI_PATH, spawnNodeProcess } from '../src/node/spawn.ts';
import type { RegistrySnapshot } from '../src/supervisor/registry.ts';
import { TestCluster } from '../test/harness/cluster.ts';
import { freePortRange, freePorts } from '../test/harness/ports.ts';
import { waitFor } from '../test/harness/wait.ts';
import { PM2_VERSION, Pm2, pm2Package } from './peers/pm2.ts';
import { percentile, progress as report } from './stats.ts';
import { recordResult } from './results.ts';

const SECONDS = Number(process.env.BENCH_SUPERVISOR_SECONDS ?? 15);
const KILLS = Number(process.env.BENCH_SUPERVISOR_KILLS ?? 7);
const RESTARTS = Number(process.env.BENCH_SUPERVISOR_RESTARTS ?? 1000);
const CONNECTIONS = Number(process.env.BENCH_SUPERVISOR_CONNECTIONS ?? 32);
const INSTANCES = 4;
const APP_DELAY_MS = 5;
const KILL_TIMEOUT_MS = 3000;
const STABLE_MS = 100; // PM2's least min_uptime
const progress = (msg: string) => report('bench:supervisor', msg);
const ADMIN_TOKEN = 'bench-supervisor-admin-token';

/** What a front counted, from its /metrics: retries (every route and back-end), and its own error answers by reason. */
async function frontCounts(adminPort: number): Promise<{ retries: number; errors: Record<string, number> }> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
  const retries = [...text.matchAll(/^cohort_front_retries_total\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
  const errors: Record<string, number> = {};
  for (const m of text.matchAll(/^cohort_front_errors_total\{[^}]*reason="([a-z_]+)"[^}]*\} (\d+)$/gm)) errors[m[1]] = (errors[m[1]] ?? 0) + Number(m[2]);
  return { retries, errors };
}
const showErrors = (e: Record<string, number>) => Object.entries(e).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


const APP = `// The app of bench:supervisor (written by bench/supervisor.ts), the same under Cohort and PM2.
const http = require('node:http');
const DELAY = ${APP_DELAY_MS};
let closing = false;
const server = http.createServer((req, res) => {
  if (closing) res.setHeader('connection', 'close');
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    return res.end('ok\\n');
  }
  setTimeout(() => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(process.pid + '\\n');
  }, DELAY);
});
// Graceful stop: no new connections, what is in flight is answered (Connection: close), then exit.
function stop() {
  if (closing) return;
  closing = true;
  server.close(() => process.exit(0));
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
server.listen(Number(process.env.PORT), process.env.HOST || '127.0.0.1', () => {
  if (process.send) process.send('ready'); // PM2's wait_ready
});
`;

/** VmRSS of a process, in MiB. */
function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))!;
  return Number(m[1]) / 1024;
}

function parentPid(pid: number): number {
  return Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

/** GET / on a new connection (so PM2's master hands it to some worker); the answering pid, or undefined. */
function answeringPid(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, headers: { connection: 'close' }, timeout: 1000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(res.statusCode === 200 ? Number(body.trim()) : undefined));
      res.on('error', () => resolve(undefined));
    });
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

interface WrkResult { requests: number; failed: number; non2xx: number; socket: string }

function parseWrk(out: string): WrkResult {
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const s = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = s ? s.slice(1).map(Number) : [0, 0, 0, 0];
  return { requests, non2xx, failed: non2xx + socketErrors.reduce((a, b) => a + b, 0), socket: `connect ${socketErrors[0]}, read ${socketErrors[1]}, write ${socketErrors[2]}, timeout ${socketErrors[3]}` };
}

type Reload = (WrkResult & { reloads: number }) | string;

/** Runs wrk against port for SECONDS and, meanwhile, reloads back to back; returns wrk's counts and the reloads done. */
async function reloadsUnderLoad(name: string, port: number, reload: () => Promise<void>): Promise<WrkResult & { reloads: number }> {
  const wrk = spawn('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${SECONDS}s`, `http://127.0.0.1:${port}/`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  wrk.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const done = new Promise<void>((resolve, reject) => wrk.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`wrk exited with ${code}:\n${out}`)))));
  const started = performance.now();
  await sleep(1000); // load first
  let reloads = 0;
  let longest = 0;
  // Only start a reload that should end (at the pace of the longest so far) a second before wrk does.
  while (performance.now() - started + Math.max(longest, 1000) + 1000 < SECONDS * 1000) {
    const t = performance.now();
    await reload();
    longest = Math.max(longest, performance.now() - t);
    reloads++;
    progress(`${name}: reload ${reloads} took ${((performance.now() - t) / 1000).toFixed(1)} s`);
    await sleep(250);
  }
  await done;
  if (reloads === 0) throw new Error(`${name}: no reload fitted in ${SECONDS} s (BENCH_SUPERVISOR_SECONDS)`);
  return { ...parseWrk(out), reloads };
}

function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stdout}\n${stderr}`)) : resolve(stdout)));
  });
}

/** A ready instance as its supervisor lists it: pid, and when its process started (ms since the epoch). */
interface Ready { pid: number; since: number }

/** One supervisor running the app, as the phases see it. */
interface Supervised {
  name: string;
  /** Where wrk goes during reloads (Cohort's front, PM2's shared port). */
  port: number;
  /** The admin port of the front wrk goes through, if any (its retries are read there). */
  frontAdmin?: number;
  /** PM2's side: its CLI and API under the bench's PM2_HOME. */
  pm2?: Pm2;
  /** The supervisor's JavaScript heap after a collection, where it can be read (Cohort's `memory` command). */
  heapMb?(): Promise<number>;
  /** One rolling reload of every instance, to its end. */
  reload(): Promise<void>;
  /** The ready instances by slot key (Cohort's slot, PM2's pm_id). */
  ready(): Promise<Map<string, Ready>>;
  /** Does the instance `pid` (in slot `key`) answer HTTP? */
  answers(key: string, pid: number): Promise<boolean>;
  /** The supervisor process whose memory is measured. */
  supervisorPid(): number;
  /** Restarts the supervisor has counted so far. */
  restartCount(): Promise<number>;
  close(): Promise<void>;
}

const allReady = (s: Supervised, everyMs = 10) => waitFor(`${s.name}: ${INSTANCES} ready instances`, async () => {
  const r = await s.ready();
  return r.size === INSTANCES ? r : undefined;
}, 30_000, everyMs);

const replaced = (s: Supervised, victims: Map<string, number>, everyMs: number) => waitFor(`${s.name}: replacements of ${[...victims.values()].join(', ')}`, async () => {
  const r = await s.ready();
  return [...victims].every(([key, pid]) => r.has(key) && r.get(key)!.pid !== pid) ? r : undefined;
}, 30_000, everyMs);

/** No instance younger than STABLE_MS is killed: that would be a crash loop to either supervisor. */
async function oldEnough(instances: Map<string, Ready>): Promise<void> {
  const youngest = Math.max(...[...instances.values()].map((i) => i.since));
  await sleep(Math.max(0, youngest + STABLE_MS + 20 - Date.now()));
}

/** KILLS times: kill -9 of one instance, ms until a replacement is listed ready and answers (sorted). */
async function killTimings(s: Supervised): Promise<number[]> {
  progress(`${s.name}: ${KILLS} times kill -9 of one instance, timing until a replacement is listed ready and answers`);
  const restartMs: number[] = [];
  for (let k = 0; k < KILLS; k++) {
    const before = await allReady(s);
    await oldEnough(before);
    await sleep(200);
    const [key, { pid }] = [...before][k % before.size];
    const t = performance.now();
    process.kill(pid, 'SIGKILL');
    const after = await replaced(s, new Map([[key, pid]]), 5);
    await waitFor(`${s.name}: the replacement of ${pid} to answer`, () => s.answers(key, after.get(key)!.pid), 10_000, 5);
    restartMs.push(performance.now() - t);
  }
  return restartMs.sort((a, b) => a - b);
}

interface Memory { rssBefore: number; rssAfter: number; heapBefore?: number; heapAfter?: number; restartsCounted: number; trend: number[] }

/** RESTARTS restarts: kill -9 of every ready instance, waiting for all replacements, over and over; the supervisor's RSS around it. */
async function restartLoop(s: Supervised): Promise<Memory> {
  await allReady(s);
  const rssBefore = rssMb(s.supervisorPid());
  const heapBefore = await s.heapMb?.();
  const countedBefore = await s.restartCount();
  const trend = [rssBefore];
  let done = 0;
  const t = performance.now();
  while (done < RESTARTS) {
    const instances = await allReady(s, 50);
    await oldEnough(instances);
    const victims = new Map([...instances].slice(0, Math.min(INSTANCES, RESTARTS - done)).map(([key, i]) => [key, i.pid]));
    for (const pid of victims.values()) process.kill(pid, 'SIGKILL');
    await replaced(s, victims, 50);
    done += victims.size;
    if (done % 200 < victims.size) {
      trend.push(rssMb(s.supervisorPid()));
      progress(`${s.name}: ${done} restarts (${((performance.now() - t) / 1000).toFixed(0)} s), supervisor RSS ${trend.at(-1)!.toFixed(1)} MiB`);
    }
  }
  await allReady(s);
  const restartsCounted = (await s.restartCount()) - countedBefore;
  await sleep(2000); // let what was freed be freed
  const rssAfter = rssMb(s.supervisorPid());
  const heapAfter = await s.heapMb?.();
  progress(`${s.name}: supervisor RSS ${rssBefore.toFixed(1)} MiB before ${RESTARTS} restarts, ${rssAfter.toFixed(1)} MiB after${heapAfter === undefined ? '' : `; heap after a collection ${heapBefore!.toFixed(1)} → ${heapAfter.toFixed(1)} MiB`}`);
  return { rssBefore, rssAfter, heapBefore, heapAfter, restartsCounted, trend };
}

async function startCohort(dir: string, appFile: string): Promise<Supervised> {
  const basePort = await freePortRange(20);
  const [frontPort, adminPort] = await freePorts(2);
  // The front that follows every node's app registry through the node network.
  const front = { listen: { port: frontPort }, backends: 'apps' as const, node: 'A', policy: 'least_conn' as const, health: { path: '/healthz' }, admin: { port: adminPort, token: ADMIN_TOKEN } };
  const cluster = await TestCluster.create(
    [{ id: 'A', role: 'access', app: { command: [process.execPath, appFile], cwd: dir, instances: INSTANCES, basePort, portSpan: 20, health: { path: '/healthz' }, killTimeoutMs: KILL_TIMEOUT_MS, stableMs: STABLE_MS } }],
    { front },
  );
  const procs: ChildProcess[] = [];
  const close = async () => {
    for (const p of procs.reverse()) {
      if (p.exitCode !== null || p.signalCode !== null) continue;
      p.kill('SIGTERM');
      await new Promise((r) => p.once('exit', r));
    }
    await cluster.destroy();
  };
  try {
    progress(`Cohort: starting a node with ${INSTANCES} app instances and a front (backends: apps)`);
    // As in production: info-level log (the test harness's start() logs at debug); with
    // --expose-gc so its heap can be measured after a collection (the `memory` command).
    const node = spawnNodeProcess(cluster.config, 'A', cluster.logFile('A'), ['--log-level', 'info'], { NODE_OPTIONS: '--expose-gc' });
    procs.push(node);
    await waitFor('the node to answer on its local socket', async () => {
      if (node.exitCode !== null) throw new Error(`the node exited:\n${cluster.log('A').slice(-2000)}`);
      return (await cluster.client('A')).ping('A');
    }, 15_000, 50);
    const client = await cluster.client('A');
    const registry = async () => (await client.call('A', 'app.registry')) as RegistrySnapshot;
    const ready = async () => new Map((await registry()).instances.filter((i) => i.state === 'ready').map((i) => [String(i.slot), { pid: i.pid!, since: i.startedAt! }]));
    const first = await waitFor('Cohort: 4 ready instances', async () => ((await ready()).size === INSTANCES ? ready() : undefined), 30_000);
    const nodePid = parentPid([...first.values()][0].pid);
    {
      procs.push(spawn(process.execPath, [CLI_PATH, 'front', '--config', cluster.config, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] }));
      await waitFor("Cohort's front to serve the app", async () => (await fetch(`http://127.0.0.1:${frontPort}/`)).status === 200, 15_000, 100);
    }
    return {
      name: 'Cohort',
      port: frontPort,
      frontAdmin: adminPort,
      heapMb: async () => ((await client.call('A', 'memory', { gc: true })) as { heapUsed: number }).heapUsed / 1048576,
      reload: async () => void (await run(process.execPath, [CLI_PATH, 'app', 'reload', '--config', cluster.config, '--from', 'A', '--all', '--json'])),
      ready,
      answers: async (key, pid) => {
        const inst = (await registry()).instances.find((i) => String(i.slot) === key && i.pid === pid);
        return !!inst && inst.port !== null && (await answeringPid(inst.port)) === pid;
      },
      supervisorPid: () => nodePid,
      // Each slot's replacements (the live instance of each slot carries its slot's count).
      restartCount: async () => (await registry()).instances.filter((i) => i.state === 'ready').reduce((n, i) => n + i.restarts, 0),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

async function startPm2(dir: string, appFile: string): Promise<Supervised> {
  const pm2 = new Pm2(pm2Package(progress), mkdtempSync(join(tmpdir(), 'cohort-bench-pm2-home-')));
  const [port] = await freePorts(1);
  const ecosystem = join(dir, 'ecosystem.config.cjs');
  // PM2's docs: cluster mode (exec_mode 'cluster', instances), "Graceful start" (wait_ready,
  // listen_timeout, process.send('ready')) and "Graceful stop" (kill_timeout) for `pm2 reload`.
  writeFileSync(ecosystem, `module.exports = { apps: [${JSON.stringify({
    name: 'app', script: appFile, cwd: dir, instances: INSTANCES, exec_mode: 'cluster',
    wait_ready: true, listen_timeout: 10_000, kill_timeout: KILL_TIMEOUT_MS,
    min_uptime: STABLE_MS, autorestart: true, env: { PORT: String(port) },
  })}] };\n`);
  const close = async () => {
    pm2.kill();
    rmSync(pm2.home, { recursive: true, force: true });
  };
  try {
    progress(`PM2 ${PM2_VERSION}: pm2 start (cluster mode, ${INSTANCES} instances, own PM2_HOME)`);
    pm2.cli(['start', ecosystem]);
    const workers = async () => (await pm2.list()).filter((p) => p.name === 'app');
    const ready = async () => new Map((await workers()).filter((p) => p.pm2_env.status === 'online' && p.pid > 0).map((p) => [String(p.pm_id), { pid: p.pid, since: p.pm2_env.pm_uptime }]));
    await waitFor('PM2: 4 online workers', async () => (await ready()).size === INSTANCES, 30_000);
    await waitFor('PM2: the app to answer', async () => (await answeringPid(port)) !== undefined, 15_000, 50);
    const bin = join(pm2.dir, 'bin', 'pm2');
    return {
      name: 'PM2',
      port,
      pm2,
      reload: async () => void (await run(process.execPath, [bin, 'reload', 'app'], { PM2_HOME: pm2.home })),
      ready,
      answers: async (_key, pid) => {
        // A new connection is handed to any worker: try a few until the new pid answers.
        for (let i = 0; i < 2 * INSTANCES; i++) if ((await answeringPid(port)) === pid) return true;
        return false;
      },
      supervisorPid: () => pm2.daemonPid(),
      restartCount: async () => {
        const list = await workers();
        const errored = list.filter((p) => p.pm2_env.status === 'errored').length;
        if (errored) throw new Error(`PM2: ${errored} workers errored (too many unstable restarts)`);
        return list.reduce((n, p) => n + p.pm2_env.restart_time, 0);
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * PM2's fork mode, each instance on its own port (increment_var), behind a front configured as
 * Cohort's is: the row that compares reloads through the same retrying front.
 */
async function pm2BehindFront(dir: string, appFile: string, pm2: Pm2): Promise<{ port: number; adminPort: number; reload: () => Promise<void>; close: () => Promise<void> }> {
  const base = await freePortRange(INSTANCES);
  const [frontPort, adminPort] = await freePorts(2);
  const ecosystem = join(dir, 'ecosystem-fork.config.cjs');
  writeFileSync(ecosystem, `module.exports = { apps: [${JSON.stringify({
    name: 'app-fork', script: appFile, cwd: dir, instances: INSTANCES, exec_mode: 'fork', increment_var: 'PORT',
    wait_ready: true, listen_timeout: 10_000, kill_timeout: KILL_TIMEOUT_MS,
    min_uptime: STABLE_MS, autorestart: true, env: { PORT: base },
  })}] };\n`);
  pm2.cli(['start', ecosystem]);
  const ports = Array.from({ length: INSTANCES }, (_, i) => base + i);
  const hosts = join(dir, 'front-pm2.yaml');
  writeFileSync(hosts, stringify({
    cluster: 'bench', dataDir: join(dir, 'front-pm2-data'), tls: { dir: join(dir, 'front-pm2-tls') }, domains: ['d'],
    nodes: [{ id: 'A', domain: 'd', role: 'access', host: '127.0.0.1', linkPort: 1, httpPort: 2 }],
    front: { listen: { port: frontPort }, backends: ports.map((port, i) => ({ id: `pm2-${i}`, host: '127.0.0.1', port })), policy: 'least_conn', health: { path: '/healthz' }, admin: { port: adminPort, token: ADMIN_TOKEN } },
  }));
  const front = spawn(process.execPath, [CLI_PATH, 'front', '--config', hosts, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const close = async () => {
    if (front.exitCode === null && front.signalCode === null) {
      front.kill('SIGTERM');
      await new Promise((r) => front.once('exit', r));
    }
    pm2.cli(['delete', 'app-fork']);
  };
  try {
    await waitFor('the front before PM2 fork mode to serve', async () => (await fetch(`http://127.0.0.1:${frontPort}/`)).status === 200, 20_000, 100);
    const bin = join(pm2.dir, 'bin', 'pm2');
    // A rolling reload, one instance after the other as Cohort's is: `pm2 reload app-fork` stops and
    // starts fork-mode instances two at a time (PM2's zero-downtime reload is cluster mode's alone).
    const reload = async () => {
      const ids = (await pm2.list()).filter((p) => p.name === 'app-fork').map((p) => p.pm_id).sort((a, b) => a - b);
      for (const id of ids) await run(process.execPath, [bin, 'reload', String(id)], { PM2_HOME: pm2.home });
    };
    return { port: frontPort, adminPort, reload, close };
  } catch (err) {
    await close();
    throw err;
  }
}

ensureDebianTools('bench:supervisor', { wrk: 'wrk' });
const dir = mkdtempSync(join(tmpdir(), 'cohort-bench-supervisor-'));
const appFile = join(dir, 'app.cjs');
writeFileSync(appFile, APP);
const started = performance.now();
const sides: Supervised[] = [];
try {
  // Both run side by side from here; the timed phases take one supervisor at a time (the
  // other's 4 instances sit idle), and only the two restart loops run at once.
  const cohortS = await startCohort(dir, appFile);
  sides.push(cohortS);
  const pm2S = await startPm2(dir, appFile);
  sides.push(pm2S);
  const reloadPhase = async (s: Supervised): Promise<Reload> => {
    progress(`${s.name}: wrk -t1 -c${CONNECTIONS} for ${SECONDS} s on ${s.name === 'Cohort' ? 'the front' : 'the shared port'}, with rolling reloads of all ${INSTANCES} back to back`);
    return reloadsUnderLoad(s.name, s.port, () => s.reload());
  };
  const cohortBefore = await frontCounts(cohortS.frontAdmin!);
  const cohortReload = await reloadPhase(cohortS);
  const cohortAfter = await frontCounts(cohortS.frontAdmin!);
  const cohortRetries = cohortAfter.retries - cohortBefore.retries;
  const cohortErrors = Object.fromEntries(Object.entries(cohortAfter.errors).map(([k, n]) => [k, n - (cohortBefore.errors[k] ?? 0)]).filter(([, n]) => (n as number) > 0));
  progress(`PM2 fork mode (own ports) behind the same front: wrk -t1 -c${CONNECTIONS} for ${SECONDS} s, with pm2 reload back to back`);
  const fork = await pm2BehindFront(dir, appFile, pm2S.pm2!);
  let pm2FrontReload: Reload;
  let pm2FrontRetries: number;
  let pm2FrontErrors: Record<string, number>;
  try {
    pm2FrontReload = await reloadsUnderLoad('PM2 behind the front', fork.port, fork.reload);
    ({ retries: pm2FrontRetries, errors: pm2FrontErrors } = await frontCounts(fork.adminPort));
  } finally {
    await fork.close();
  }
  const pm2Reload = await reloadPhase(pm2S);
  const cohortKills = await killTimings(cohortS);
  const pm2Kills = await killTimings(pm2S);
  progress(`${RESTARTS} restarts under each supervisor, both loops at once (kill -9 of every ready instance, waiting for each replacement)`);
  const [cohortMem, pm2Mem] = await Promise.all([restartLoop(cohortS), restartLoop(pm2S)]);
  const cohort = { reload: cohortReload, restartMs: cohortKills, ...cohortMem };
  const pm2 = { reload: pm2Reload, restartMs: pm2Kills, ...pm2Mem };

  const p50 = (xs: number[]) => percentile(xs, 50);
  const fmt = (x: number, d = 1) => x.toFixed(d);
  const failed = (r: Reload) => (typeof r === 'string' ? 'skipped' : `${r.failed} of ${r.requests} (${r.reloads} reloads)`);
  console.log(`supervisor: ${INSTANCES} instances of the same Node app (${APP_DELAY_MS} ms per request) under Cohort and PM2 ${PM2_VERSION}, one machine; wrk -c${CONNECTIONS} for ${SECONDS} s a reload row`);
  console.log('reloads through the front: PM2 in fork mode, each instance on its own port; every other row: PM2 cluster mode');
  console.log(`${'what'.padEnd(46)}${'Cohort'.padStart(40)}${'PM2'.padStart(40)}${'Cohort/PM2'.padStart(12)}`);
  const row = (what: string, c: string, p: string, ratio: string) => console.log(`${what.padEnd(46)}${c.padStart(40)}${p.padStart(40)}${ratio.padStart(12)}`);
  row(`failed requests in reloads, through the front`, failed(cohort.reload), failed(pm2FrontReload), '-');
  row('  wrk socket errors', typeof cohort.reload === 'string' ? '-' : cohort.reload.socket, typeof pm2FrontReload === 'string' ? '-' : pm2FrontReload.socket, '-');
  row('  the front\'s retries', String(cohortRetries), String(pm2FrontRetries), '-');
  row('  the front\'s own error answers', showErrors(cohortErrors), showErrors(pm2FrontErrors), '-');
  row(`failed requests in reloads, PM2 bare (cluster)`, '-', failed(pm2.reload), '-');
  row('  wrk socket errors', '-', typeof pm2.reload === 'string' ? '-' : pm2.reload.socket, '-');
  row(`restart after kill -9, p50 of ${KILLS} (ms)`, fmt(p50(cohort.restartMs)), fmt(p50(pm2.restartMs)), (p50(cohort.restartMs) / p50(pm2.restartMs)).toFixed(2));
  row(`restart after kill -9, max (ms)`, fmt(cohort.restartMs.at(-1)!), fmt(pm2.restartMs.at(-1)!), (cohort.restartMs.at(-1)! / pm2.restartMs.at(-1)!).toFixed(2));
  row('supervisor RSS before (MiB)', fmt(cohort.rssBefore), fmt(pm2.rssBefore), (cohort.rssBefore / pm2.rssBefore).toFixed(2));
  row(`supervisor RSS after ${RESTARTS} restarts (MiB)`, fmt(cohort.rssAfter), fmt(pm2.rssAfter), (cohort.rssAfter / pm2.rssAfter).toFixed(2));
  row(`  every 200 restarts (MiB)`, cohort.trend.map((x) => x.toFixed(0)).join(' '), pm2.trend.map((x) => x.toFixed(0)).join(' '), '-');
  row('  heap after a collection, before → after (MiB)', `${fmt(cohort.heapBefore!)} → ${fmt(cohort.heapAfter!)}`, '-', '-');
  row('  restarts the supervisor counted', String(cohort.restartsCounted), String(pm2.restartsCounted), '-');
  console.log('Cohort: the `cohort node` process; PM2: its God daemon (also the cluster master)');
  console.log(`run time ${((performance.now() - started) / 1000).toFixed(0)} s`);
  const r2 = (x: number) => +x.toFixed(2);
  recordResult('supervisor', {
    ...(typeof cohort.reload === 'string'
      ? { reload_failed: null, reload_requests: null, reloads: 0, reload_skipped: cohort.reload }
      : { reload_failed: cohort.reload.failed, reload_requests: cohort.reload.requests, reloads: cohort.reload.reloads }),
    front_retries: cohortRetries,
    ...(typeof pm2FrontReload === 'string' ? { pm2_reload_failed: null } : { pm2_reload_failed: pm2FrontReload.failed, pm2_reload_requests: pm2FrontReload.requests, pm2_reloads: pm2FrontReload.reloads }),
    pm2_front_retries: pm2FrontRetries, front_errors: cohortErrors, pm2_front_errors: pm2FrontErrors,
    ...(typeof pm2.reload === 'string' ? { pm2_bare_reload_failed: null } : { pm2_bare_reload_failed: pm2.reload.failed, pm2_bare_reload_requests: pm2.reload.requests, pm2_bare_reloads: pm2.reload.reloads }),
    restart_ms: r2(p50(cohort.restartMs)), pm2_restart_ms: r2(p50(pm2.restartMs)),
    supervisor_rss_mb_before: r2(cohort.rssBefore), supervisor_rss_mb_after: r2(cohort.rssAfter),
    pm2_rss_mb_before: r2(pm2.rssBefore), pm2_rss_mb_after: r2(pm2.rssAfter),
    supervisor_heap_mb_before: r2(cohort.heapBefore!), supervisor_heap_mb_after: r2(cohort.heapAfter!),
    supervisor_rss_mb_trend: cohort.trend.map(r2), pm2_rss_mb_trend: pm2.trend.map(r2),
    restarts: RESTARTS, kills: KILLS, seconds: SECONDS, connections: CONNECTIONS, pm2_version: PM2_VERSION,
  }, { pm2: PM2_VERSION });
} finally {
  for (const s of sides.reverse()) await s.close();
  rmSync(dir, { recursive: true, force: true });
}
