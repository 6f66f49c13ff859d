// Benchmark: LARD decisions through one shared dispatcher serving two fronts, against each front
// deciding alone. Two access nodes C and D (real processes, TLS link); the dispatcher is node D's
// `lard.decide` (SharedLard). Each front is its own process (this file, re-run with `front`): a
// NodeConnection to node C and a RemoteDispatcher (route 'bench', lard_r with the defaults, eight
// real Backend objects of weight 1). Closed loop: BENCH_DISPATCHER_CONCURRENCY (256) decisions
// outstanding per front over 10,000 paths drawn Zipf-like (s = 1), each pick reported done
// (`completed`) as soon as it is answered, as a front does when the request ends. Alone: the same
// fronts call LardPolicy.pick themselves, keeping 256 picks in flight (the oldest one finishes as
// a new one starts). Both fronts run at once, BENCH_DISPATCHER_SECONDS (5) after a 0.5 s warm-up.
// Latency per decision: from asking to having the pick (waiting for a batch included). Beside
// the rates, the CPU time per decision of nodes C and D (/proc; the fronts not counted).
// A shared run in which a front decided alone even once fails.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { NodeConnection } from '../src/client/node-connection.ts';
import { loadHostTable } from '../src/config/host-table.ts';
import { Backend } from '../src/front/backend.ts';
import { frontSchema } from '../src/front/config.ts';
import { RemoteDispatcher } from '../src/front/dispatcher/remote-dispatcher.ts';
import { LardPolicy } from '../src/front/policies/lard.ts';
import { TestCluster } from '../test/harness/cluster.ts';
import { waitFor } from '../test/harness/wait.ts';
import { cpuMs, percentile, progress as report } from './stats.ts';
import { recordResult } from './results.ts';

const SECONDS = Number(process.env.BENCH_DISPATCHER_SECONDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_DISPATCHER_CONCURRENCY ?? 256);
const TARGETS = 10_000;
const BACKENDS = 8;
const FRONTS = 2;
const QUANTILES = 10_000;
const progress = (msg: string) => report('bench:dispatcher', msg);

interface FrontResult { count: number; seconds: number; shared: number; alone: number; batches: number; q: number[] }

/** One front: decides in a closed loop, says `ready` after its warm-up, starts on `go`, prints its result. */
async function front(config: string, mode: 'shared' | 'alone'): Promise<void> {
  const cfg = frontSchema.parse({ listen: { port: 1 }, backends: [{ id: 'x', host: '127.0.0.1', port: 1 }], health: { slowStartMs: 0 } });
  const backends = Array.from({ length: BACKENDS }, (_, i) => new Backend({ id: `b${i}`, host: '127.0.0.1', port: 1 + i, weight: 1, node: 'C' }, cfg));
  // Zipf-like: path k with weight 1/k; a fixed sequence drawn once, walked from a random start.
  const cdf: number[] = [];
  for (let k = 1, sum = 0; k <= TARGETS; k++) cdf.push((sum += 1 / k));
  const draw = () => {
    const u = Math.random() * cdf[cdf.length - 1];
    let lo = 0;
    for (let hi = cdf.length - 1; lo < hi;) { const mid = (lo + hi) >> 1; if (cdf[mid] < u) lo = mid + 1; else hi = mid; }
    return `/page/${lo + 1}?v=1`;
  };
  const paths = Array.from({ length: 1 << 16 }, draw);
  let next = Math.floor(Math.random() * paths.length);
  const target = () => paths[next++ & (paths.length - 1)];
  const conn = new NodeConnection(loadHostTable(config), 'C');
  const log = pino({ level: 'warn' }, pino.destination(2));
  const remote = new RemoteDispatcher({ call: conn.call, node: 'D', route: 'bench', local: new LardPolicy('lard_r'), timeoutMs: 250, log });
  const policy = new LardPolicy('lard_r');
  let lat: number[] = [];

  const run = async (seconds: number): Promise<number> => {
    lat = [];
    const deadline = performance.now() + seconds * 1000;
    if (mode === 'shared') {
      await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < deadline) {
          const t0 = performance.now();
          const d = await remote.decide(target(), backends);
          lat.push(performance.now() - t0);
          if (d.shared && d.backend) remote.completed(d.backend.id, d.front);
        }
      }));
    } else {
      const held: (Backend | undefined)[] = new Array(CONCURRENCY);
      for (let i = 0; performance.now() < deadline;) {
        for (const end = i + 1000; i < end; i++) {
          const slot = i % CONCURRENCY;
          if (held[slot]) held[slot]!.active--;
          const t0 = performance.now();
          const b = policy.pick(backends, { target: target(), clientIp: '', now: Date.now(), why: '' })!;
          lat.push(performance.now() - t0);
          b.active++;
          held[slot] = b;
        }
        await new Promise(setImmediate);
      }
    }
    return lat.length;
  };

  await run(0.5);
  const before = { shared: remote.shared, alone: remote.alone, batches: remote.batches };
  process.stdout.write('ready\n');
  await new Promise((resolve) => createInterface({ input: process.stdin }).once('line', resolve));
  const started = performance.now();
  const count = await run(SECONDS);
  const seconds = (performance.now() - started) / 1000;
  lat.sort((a, b) => a - b);
  const q = Array.from({ length: QUANTILES }, (_, i) => lat[Math.floor((i * lat.length) / QUANTILES)]);
  const result: FrontResult = { count, seconds, shared: remote.shared - before.shared, alone: remote.alone - before.alone, batches: remote.batches - before.batches, q };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  remote.stop();
  conn.close();
  for (const b of backends) b.close();
}

/** Runs FRONTS front processes at once; their results, and what `cpu` grew by from go to the last result. */
async function runFronts(config: string, mode: 'shared' | 'alone', children: ChildProcess[], cpu: () => number[]): Promise<{ results: FrontResult[]; cpuMs: number[] }> {
  const fronts = Array.from({ length: FRONTS }, () => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'front', config, mode], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, NODE_NO_WARNINGS: '1' } });
    children.push(child);
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const exited = new Promise<void>((resolve, reject) => child.once('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`a ${mode} front exited (${signal ?? code})`)))));
    exited.catch(() => undefined);
    const line = async () => {
      const r = await Promise.race([lines.next(), exited.then(() => ({ done: true, value: undefined }))]);
      if (r.done) throw new Error(`a ${mode} front ended without answering`);
      return r.value as string;
    };
    return { child, line, exited };
  });
  for (const f of fronts) if ((await f.line()) !== 'ready') throw new Error(`a ${mode} front did not get ready`);
  const before = cpu();
  for (const f of fronts) f.child.stdin!.end('go\n');
  const results = await Promise.all(fronts.map(async (f) => JSON.parse(await f.line()) as FrontResult));
  const used = cpu().map((ms, i) => ms - before[i]);
  await Promise.all(fronts.map((f) => f.exited));
  return { results, cpuMs: used };
}

function summary(results: FrontResult[]) {
  const q = results.flatMap((r) => r.q).sort((a, b) => a - b);
  const count = results.reduce((s, r) => s + r.count, 0);
  const rate = Math.round(results.reduce((s, r) => s + r.count / r.seconds, 0));
  return { count, rate, p50: percentile(q, 50), p99: percentile(q, 99) };
}

if (process.argv[2] === 'front') {
  await front(process.argv[3], process.argv[4] as 'shared' | 'alone');
} else {
  const cluster = await TestCluster.create([{ id: 'C', role: 'access' }, { id: 'D', role: 'access' }]);
  const children: ChildProcess[] = [];
  try {
    progress('starting access nodes C and D (the dispatcher on D)');
    await cluster.startAll({ logLevel: 'info' }); // as in production (tests log at debug)
    await waitFor('links up', () => cluster.linksUp(), 20_000);
    const cpu = () => ['C', 'D'].map((id) => cpuMs(cluster.pid(id)!));
    progress(`shared: ${FRONTS} fronts, ${CONCURRENCY} decisions outstanding each, ${SECONDS} s`);
    const { results: sharedRuns, cpuMs: [cCpu, dCpu] } = await runFronts(cluster.config, 'shared', children, cpu);
    progress(`alone: the same ${FRONTS} fronts, each calling LardPolicy.pick itself, ${SECONDS} s`);
    const { results: aloneRuns } = await runFronts(cluster.config, 'alone', children, cpu);

    const shared = summary(sharedRuns);
    const alone = summary(aloneRuns);
    const sharedPicks = sharedRuns.reduce((s, r) => s + r.shared, 0);
    const aloneInShared = sharedRuns.reduce((s, r) => s + r.alone, 0);
    const batches = sharedRuns.reduce((s, r) => s + r.batches, 0);
    if (aloneInShared > 0 || sharedPicks !== shared.count) {
      throw new Error(`the shared run was not shared: ${aloneInShared} of ${shared.count} decisions made alone (${sharedPicks} by the dispatcher)`);
    }
    const seconds = sharedRuns.reduce((s, r) => s + r.seconds, 0) / sharedRuns.length;
    const us = (ms: number) => Math.round((ms * 1000) / shared.count);
    const f = (ms: number) => ms.toFixed(3);
    console.log(`LARD/R decisions, ${FRONTS} fronts at once, ${CONCURRENCY} outstanding each, ${TARGETS} Zipf-like paths, ${BACKENDS} back-ends, ${SECONDS} s`);
    console.log(`${''.padEnd(36)}${'per s'.padStart(10)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}`);
    console.log(`${'shared dispatcher (node D, via C)'.padEnd(36)}${String(shared.rate).padStart(10)}${f(shared.p50).padStart(10)}${f(shared.p99).padStart(10)}`);
    console.log(`${'each front alone (LardPolicy.pick)'.padEnd(36)}${String(alone.rate).padStart(10)}${f(alone.p50).padStart(10)}${f(alone.p99).padStart(10)}`);
    console.log(`batches: ${Math.round(batches / seconds)} per s, ${(sharedPicks / batches).toFixed(1)} decisions each; CPU per shared decision: node C ${us(cCpu)} µs, node D ${us(dCpu)} µs`);
    recordResult('dispatcher', {
      dispatcher_decisions_per_s: shared.rate,
      dispatcher_added_ms: Number((shared.p50 - alone.p50).toFixed(3)),
      alone_decisions_per_s: alone.rate,
      shared_p50_ms: Number(f(shared.p50)), shared_p99_ms: Number(f(shared.p99)),
      alone_p50_ms: Number(alone.p50.toFixed(4)), alone_p99_ms: Number(alone.p99.toFixed(4)),
      batches_per_s: Math.round(batches / seconds), mean_batch: Number((sharedPicks / batches).toFixed(1)),
      node_c_cpu_us: us(cCpu), node_d_cpu_us: us(dCpu),
      fronts: FRONTS, concurrency: CONCURRENCY, seconds: SECONDS,
    }, {});
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await cluster.destroy();
  }
}
