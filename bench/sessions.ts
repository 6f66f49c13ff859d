// Benchmark: session read+write round trips per second through express-session, in one run,
// with the same app (examples/session-app.ts: each request reads the session, counts a visit
// and saves it before answering; express-session then touches it) on these stores:
//   embedded, local:  Cohort's store, the session's first copy on the app's own node (C), with its
//                     default touch rule (a touch within touchAfterMs, 60 s, of the last is skipped);
//   embedded, local, touch every request: the same with touchAfterMs 0 (as connect-redis by default);
//   embedded, remote: Cohort's store, a session made on node D whose copies are on D and E,
//                     none on C (every read and write crosses a link);
//   connect-redis:    on a local redis-server (no persistence) the bench starts on a free port,
//                     touching with EXPIRE on every request (its default), and again with
//                     disableTouch (its docs' option when touches are not wanted);
//   connect-redis, durable: on a redis-server with appendonly yes (fsync every second, Redis'
//                     default) and a replica (asynchronous), as Cohort keeps two copies of a
//                     session, the second in the background, in SQLite WAL without an fsync a
//                     write; with disableTouch, as Cohort's default skips touches (compared with it).
// Three access nodes C, D, E (real processes, TLS links). A closed loop of BENCH_SESSIONS_CONNECTIONS
// keep-alive clients, each on its own existing session, for BENCH_SESSIONS_SECONDS per run,
// BENCH_SESSIONS_REPS repetitions with the order rotated; each figure is the median.
// Every answer is checked: 200 and the session's count one more than the last. Beside each
// rate, the CPU time per round trip of the processes behind the store (app, nodes or
// redis-servers; not the load generator): all share this machine's cores, so it is what sets the rate.
// Needs redis-server (apt-get install -y redis-server; REDIS_SERVER=/path picks one).
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { placement } from '../src/sessions/placement.ts';
import { TestCluster } from '../test/harness/cluster.ts';
import { freePorts } from '../test/harness/ports.ts';
import { waitFor } from '../test/harness/wait.ts';
import { redisInfo, redisServerBinary, startRedis, startSessionApp, stopProcess } from '../test/sessions/processes.ts';
import { cpuMs, progress as report, median } from './stats.ts';
import { commandVersion, packageVersion, recordResult } from './results.ts';

const SECONDS = Number(process.env.BENCH_SESSIONS_SECONDS ?? 5);
const REPS = Number(process.env.BENCH_SESSIONS_REPS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_SESSIONS_CONNECTIONS ?? 16);
const progress = (msg: string) => report('bench:sessions', msg);

interface Reply { status: number; body: string; setCookie?: string }

function get(agent: Agent, port: number, cookie: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/visit', agent, headers: cookie ? { cookie } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body, setCookie: res.headers['set-cookie']?.[0]?.split(';')[0] }));
    });
    req.on('error', reject);
    req.end();
  });
}

interface Target { name: string; key: string; port: number; sessions: { cookie: string; visits: number }[]; pids: number[]; names: string[] }

/** Makes one session per connection; `keep` says whether a new session's id is one to use. */
async function makeSessions(agent: Agent, port: number, keep: (id: string) => boolean): Promise<{ cookie: string; visits: number }[]> {
  const out: { cookie: string; visits: number }[] = [];
  for (let tries = 0; out.length < CONNECTIONS; tries++) {
    if (tries > CONNECTIONS * 50) throw new Error('cannot make the sessions');
    const r = await get(agent, port, '');
    if (r.status !== 200 || !r.setCookie) throw new Error(`new session: ${r.status} ${r.body}`);
    const { id, visits } = JSON.parse(r.body) as { id: string; visits: number };
    if (keep(id)) out.push({ cookie: r.setCookie, visits });
  }
  return out;
}

/**
 * Closed loop: each connection sends its session's next visit as soon as the last one is
 * answered. Round trips per second, and the CPU µs per round trip of the target's processes.
 */
async function drive(agent: Agent, t: Target, seconds = SECONDS): Promise<{ rate: number; cpuUs: number; perProcess: number[] }> {
  let count = 0;
  const each = () => t.pids.map((pid) => cpuMs(pid));
  const cpu = () => each().reduce((sum, ms) => sum + ms, 0);
  const eachBefore = each();
  const cpuBefore = cpu();
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(t.sessions.map(async (s) => {
    while (performance.now() < deadline) {
      const r = await get(agent, t.port, s.cookie);
      if (r.status !== 200) throw new Error(`${t.name}: ${r.status} ${r.body}`);
      const { visits } = JSON.parse(r.body) as { visits: number };
      if (visits !== s.visits + 1) throw new Error(`${t.name}: a lost update (count ${visits} after ${s.visits})`);
      s.visits = visits;
      count++;
    }
  }));
  const perProcess = each().map((ms, i) => Math.round(((ms - eachBefore[i]) * 1000) / Math.max(1, count)));
  return { rate: Math.round(count / ((performance.now() - started) / 1000)), cpuUs: Math.round(((cpu() - cpuBefore) * 1000) / count), perProcess };
}


const binary = redisServerBinary();
if (!binary) {
  process.stderr.write('bench:sessions: no redis-server; run: apt-get install -y redis-server (or set REDIS_SERVER)\n');
  process.exit(2);
}
const cluster = await TestCluster.create([{ id: 'C', role: 'access' }, { id: 'D', role: 'access' }, { id: 'E', role: 'access' }]);
const procs: ChildProcess[] = [];
const dirs: string[] = [];
const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS * 2 });
try {
  progress('starting access nodes C, D, E and redis-server');
  const [redisPort, localPort, remotePort, redisAppPort, localTouchPort, redisNoTouchPort, durablePort, replicaPort, durableAppPort] = await freePorts(9);
  await cluster.startAll({ logLevel: 'info' }); // as in production (tests log at debug)
  await waitFor('links up', () => cluster.linksUp(), 20_000);
  const redis = await startRedis(binary, redisPort);
  procs.push(redis);
  const redisDir = mkdtempSync(join(tmpdir(), 'cohort-bench-redis-'));
  dirs.push(redisDir);
  const durable = await startRedis(binary, durablePort, ['--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec', '--dir', redisDir]);
  procs.push(durable);
  const replicaDir = mkdtempSync(join(tmpdir(), 'cohort-bench-redis-replica-'));
  dirs.push(replicaDir);
  const replica = await startRedis(binary, replicaPort, ['--save', '', '--appendonly', 'no', '--dir', replicaDir, '--replicaof', '127.0.0.1', String(durablePort)]);
  procs.push(replica);
  await waitFor('the replica in sync', async () => /master_link_status:up/.test(await redisInfo(replicaPort, 'replication')), 15_000);
  const cohortEnv = { COHORT_NODE: 'C', COHORT_CONFIG: cluster.config };
  const apps = await Promise.all([
    startSessionApp(localPort, cohortEnv),
    startSessionApp(remotePort, { ...cohortEnv, SESSION_NODE: 'D' }),
    startSessionApp(redisAppPort, { SESSION_STORE: 'redis', REDIS_URL: `redis://127.0.0.1:${redisPort}` }),
    startSessionApp(localTouchPort, { ...cohortEnv, SESSION_TOUCH_AFTER_MS: '0' }),
    startSessionApp(redisNoTouchPort, { SESSION_STORE: 'redis', REDIS_URL: `redis://127.0.0.1:${redisPort}`, REDIS_DISABLE_TOUCH: '1' }),
    startSessionApp(durableAppPort, { SESSION_STORE: 'redis', REDIS_URL: `redis://127.0.0.1:${durablePort}`, REDIS_DISABLE_TOUCH: '1' }),
  ]);
  procs.push(...apps.map((a) => a.proc));

  progress(`making ${CONNECTIONS} sessions per store`);
  const nodePids = ['C', 'D', 'E'].map((id) => cluster.pid(id)!);
  const targets: Target[] = [
    { name: 'embedded, session on this node (C)', key: 'embedded_local_per_s', port: localPort, sessions: await makeSessions(agent, localPort, (id) => placement(cluster.table, id)[0] === 'C'), pids: [apps[0].proc.pid!, ...nodePids], names: ['app', 'C', 'D', 'E'] },
    { name: 'embedded, session on other nodes (D, E)', key: 'embedded_remote_per_s', port: remotePort, sessions: await makeSessions(agent, remotePort, (id) => !placement(cluster.table, id).includes('C')), pids: [apps[1].proc.pid!, ...nodePids], names: ['app', 'C', 'D', 'E'] },
    { name: 'embedded, on C, touch every request', key: 'embedded_local_touch_per_s', port: localTouchPort, sessions: await makeSessions(agent, localTouchPort, (id) => placement(cluster.table, id)[0] === 'C'), pids: [apps[3].proc.pid!, ...nodePids], names: ['app', 'C', 'D', 'E'] },
    { name: 'connect-redis, local redis-server', key: 'connect_redis_per_s', port: redisAppPort, sessions: await makeSessions(agent, redisAppPort, () => true), pids: [apps[2].proc.pid!, redis.pid!], names: ['app', 'redis-server'] },
    { name: 'connect-redis, disableTouch', key: 'connect_redis_no_touch_per_s', port: redisNoTouchPort, sessions: await makeSessions(agent, redisNoTouchPort, () => true), pids: [apps[4].proc.pid!, redis.pid!], names: ['app', 'redis-server'] },
    { name: 'connect-redis, AOF + replica, no touch', key: 'redis_durable_per_s', port: durableAppPort, sessions: await makeSessions(agent, durableAppPort, () => true), pids: [apps[5].proc.pid!, durable.pid!, replica.pid!], names: ['app', 'primary', 'replica'] },
  ];
  const runs = new Map<string, number[]>(targets.map((t) => [t.key, []]));
  const cpuRuns = new Map<string, number[]>(targets.map((t) => [t.key, []]));
  for (let rep = 0; rep < REPS; rep++) {
    for (let i = 0; i < targets.length; i++) {
      const t = targets[(rep + i) % targets.length];
      await drive(agent, t, 0.5); // warm-up: connections, JIT
      progress(`rep ${rep + 1}/${REPS}: ${t.name}, ${CONNECTIONS} connections, ${SECONDS} s`);
      const { rate, cpuUs, perProcess } = await drive(agent, t);
      runs.get(t.key)!.push(rate);
      cpuRuns.get(t.key)!.push(cpuUs);
      progress(`  ${rate} round trips/s, ${cpuUs} µs of CPU each (${t.names.map((n, i) => `${n} ${perProcess[i]}`).join(', ')})`);
    }
  }
  const result = Object.fromEntries(targets.map((t) => [t.key, median(runs.get(t.key)!)])) as Record<string, number>;
  const cpuUs = Object.fromEntries(targets.map((t) => [t.key.replace(/_per_s$/, '_cpu_us'), median(cpuRuns.get(t.key)!)])) as Record<string, number>;
  const redisRate = result.connect_redis_per_s;
  // Touch rules matched: Cohort touching every request against connect-redis' default (EXPIRE every
  // request); Cohort's default (touches within 60 s skipped) against connect-redis' disableTouch.
  const matched = {
    embedded_vs_redis_touching: +(result.embedded_local_touch_per_s / result.connect_redis_per_s).toFixed(2),
    embedded_vs_redis_no_touch: +(result.embedded_local_per_s / result.connect_redis_no_touch_per_s).toFixed(2),
    embedded_vs_redis_durable: +(result.embedded_local_per_s / result.redis_durable_per_s).toFixed(2),
  };
  console.log(`session read+write round trips per second through express-session (${CONNECTIONS} keep-alive clients, each on its own session; median of ${REPS})`);
  console.log(`${'store'.padEnd(42)}${'per s'.padStart(10)}${'÷ connect-redis'.padStart(18)}${'CPU µs each'.padStart(14)}`);
  for (const t of targets) console.log(`${t.name.padEnd(42)}${String(result[t.key]).padStart(10)}${(result[t.key] / redisRate).toFixed(2).padStart(18)}${String(cpuUs[t.key.replace(/_per_s$/, '_cpu_us')]).padStart(14)}`);
  console.log('CPU µs each: app + Cohort nodes C, D, E (embedded) or app + redis-server(s), per round trip; the load generator is not counted.');
  console.log(`touches matched: embedded (touch every request) ${matched.embedded_vs_redis_touching}× connect-redis (EXPIRE every request); embedded (default) ${matched.embedded_vs_redis_no_touch}× connect-redis disableTouch (target ≥ 1); embedded ${matched.embedded_vs_redis_durable}× connect-redis on AOF + replica (target ≥ 1.5)`);
  recordResult('sessions', { ...result, ...cpuUs, ...matched, connections: CONNECTIONS, seconds: SECONDS, reps: REPS }, { 'redis-server': commandVersion('redis-server', ['--version']), 'connect-redis': packageVersion('connect-redis') });
} finally {
  agent.destroy();
  for (const p of procs) await stopProcess(p);
  await cluster.destroy();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
