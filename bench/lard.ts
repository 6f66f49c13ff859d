// Benchmark: request distribution for cache locality (LARD, Pai et al. ASPLOS 1998) on a
// replayed access log. Back-ends (bench/lard-backend.ts, one process each) serve every target
// through an LRU cache bounded in bytes; a miss waits for a simulated disk (the paper's model:
// 28 ms, 14 ms per further 44 KiB, 10 MB/s; one read at a time per back-end). The log
// (../shared/traces/epa-http.txt, or --trace FILE / BENCH_LARD_TRACE: any Common Log Format
// file) is replayed closed-loop by BENCH_LARD_CLIENTS keep-alive clients, each taking the next
// request in log order. Each configuration starts with empty caches, warmed by one pass of the
// log through the same proxy and policy with reads taking BENCH_LARD_WARM_COST (0.1) of their
// time (fast, yet a reading back-end still looks busy to load-aware policies), then it is
// measured for BENCH_LARD_SECONDS from the log's first request again. Every answer is checked
// (status 200, length); the hit rate is the share of counted answers the back-end marked
// X-Cache: hit. Configurations: Cohort's front with weighted round robin, URL hash (chash, load
// factor 10: unbounded), chash with bounded loads (1.5), LARD and LARD/R; HAProxy (nbthread 1)
// with balance roundrobin and with balance uri whole + hash-type consistent + hash-balance-factor 150
// (whole: the query too, as LARD places targets; each server weighted to the front's 64 ring
// points, HAProxy giving 16 per unit of weight). Then, at 4 back-ends, BENCH_LARD_REPEATS (5)
// rounds of LARD/R, HAProxy's bounded chash and the limit (LARD/R with caches that hold every
// target), in turns, each reported as min, median and max.
// Sizes: BENCH_LARD_BACKENDS (1,2,4,6), BENCH_LARD_SECONDS (8), BENCH_LARD_CLIENTS (32),
// BENCH_LARD_CACHE_MB (a third of the working set), BENCH_LARD_MISS_MS (28),
// BENCH_LARD_DISK_MBPS (10), BENCH_LARD_DISK (1), BENCH_LARD_TLOW/THIGH/KS (the front's
// 25/65/20), BENCH_LARD_REPEATS (5), BENCH_LARD_ONLY (some configurations, for exploring). Needs haproxy (installed
// here from Debian's packages when missing, as root).
import { ensureDebianTools } from './peers/debian.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { CLI_PATH } from '../src/node/spawn.ts';
import { CHASH_POINTS_PER_WEIGHT } from '../src/front/policies/chash.ts';
import { freePorts } from '../test/harness/ports.ts';
import { waitFor } from '../test/harness/wait.ts';
import { progress as report } from './stats.ts';
import { readTrace } from './trace.ts';
import { commandVersion, recordResult } from './results.ts';

const env = process.env;
const flag = process.argv.indexOf('--trace');
const TRACE = flag >= 0 ? process.argv[flag + 1] : (env.BENCH_LARD_TRACE ?? fileURLToPath(new URL('../../shared/traces/epa-http.txt', import.meta.url)));
const COUNTS = (env.BENCH_LARD_BACKENDS ?? '1,2,4,6').split(',').map(Number);
const SECONDS = Number(env.BENCH_LARD_SECONDS ?? 8);
const CLIENTS = Number(env.BENCH_LARD_CLIENTS ?? 32);
const SEEK_MS = Number(env.BENCH_LARD_MISS_MS ?? 28);
const MBPS = Number(env.BENCH_LARD_DISK_MBPS ?? 10);
const DISKS = Number(env.BENCH_LARD_DISK ?? 1);
const LARD = { tLow: Number(env.BENCH_LARD_TLOW ?? 25), tHigh: Number(env.BENCH_LARD_THIGH ?? 65), kS: Number(env.BENCH_LARD_KS ?? 20) };
const WARM_COST = Number(env.BENCH_LARD_WARM_COST ?? 0.1);
const REPEATS = Number(env.BENCH_LARD_REPEATS ?? 5);
/** HAProxy gives a server 16 ring points per unit of weight (BE_WEIGHT_SCALE): this weight gives it the front's. */
const HAPROXY_WEIGHT = CHASH_POINTS_PER_WEIGHT / 16;
const MB = 2 ** 20;
const progress = (msg: string) => report('bench:lard', msg);

interface Config { name: string; label: string; front?: Record<string, unknown>; haproxy?: string }
const CONFIGS_ALL: Config[] = [
  { name: 'wrr', label: 'weighted round robin', front: { policy: 'round_robin' } },
  { name: 'url_hash', label: 'URL hash (chash, factor 10)', front: { policy: 'chash', chashLoadFactor: 10 } },
  { name: 'chash_bounded', label: 'chash bounded (factor 1.5)', front: { policy: 'chash', chashLoadFactor: 1.5 } },
  { name: 'lard', label: 'LARD', front: { policy: 'lard', lard: LARD } },
  { name: 'lard_r', label: 'LARD/R', front: { policy: 'lard_r', lard: LARD } },
  { name: 'haproxy_roundrobin', label: 'HAProxy roundrobin', haproxy: 'balance roundrobin' },
  { name: 'haproxy_chash_bounded', label: 'HAProxy uri consistent 150', haproxy: 'balance uri whole\n  hash-type consistent\n  hash-balance-factor 150' },
];
const CONFIGS = CONFIGS_ALL.filter((c) => !env.BENCH_LARD_ONLY || env.BENCH_LARD_ONLY.split(',').includes(c.name));

ensureDebianTools('bench:lard', { haproxy: 'haproxy' });

const trace = readTrace(TRACE);
if (trace.requests.length === 0) throw new Error(`${TRACE}: no GET answered 200 with a size`);
const wsMb = trace.workingSetBytes / MB;
const CACHE_MB = Number(env.BENCH_LARD_CACHE_MB ?? Math.max(0.1, Math.floor((wsMb * 10) / 3) / 10));
if (wsMb < 3 * CACHE_MB) progress(`warning: the working set (${wsMb.toFixed(1)} MB) is less than 3× one cache (${CACHE_MB} MB)`);
progress(`${TRACE}: ${trace.requests.length} requests kept of ${trace.lines}, ${trace.sizes.size} targets, working set ${wsMb.toFixed(1)} MB, cache ${CACHE_MB} MB per back-end`);

const dir = mkdtempSync(join(tmpdir(), 'cohort-bench-lard-'));
const procs = new Set<ChildProcess>();
const start = (cmd: string, args: string[]) => {
  const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  procs.add(p);
  p.once('exit', () => procs.delete(p));
  return p;
};
async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(t);
}
const getJson = async (port: number, path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).json();

/** One GET through the proxy, checked whole; resolves to the back-end's cache verdict. */
function get(agent: Agent, port: number, path: string): Promise<'hit' | 'miss'> {
  const size = trace.sizes.get(path)!;
  return new Promise((resolve, reject) => {
    const req = request({ agent, host: '127.0.0.1', port, path }, (res) => {
      let got = 0;
      res.on('data', (chunk: Buffer) => (got += chunk.length));
      res.on('error', reject);
      res.on('end', () => {
        const how = res.headers['x-cache'];
        if (res.statusCode !== 200) reject(new Error(`${path}: status ${res.statusCode}`));
        else if (got !== size) reject(new Error(`${path}: ${got} bytes, expected ${size}`));
        else if (how !== 'hit' && how !== 'miss') reject(new Error(`${path}: no X-Cache`));
        else resolve(how);
      });
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`${path}: no answer within 30 s`)));
    req.on('error', reject);
    req.end();
  });
}

interface Tally { done: number; hits: number; errors: number; firstError?: string }

/** CLIENTS clients in a closed loop from the log's first request, until `count` are sent or `untilMs` (answers after it are not counted). */
async function replay(port: number, end: { count?: number; untilMs?: number }): Promise<Tally> {
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
  const tally: Tally = { done: 0, hits: 0, errors: 0 };
  let cursor = 0;
  const more = () => (end.count === undefined || cursor < end.count) && (end.untilMs === undefined || Date.now() < end.untilMs);
  const client = async () => {
    while (more()) {
      const path = trace.requests[cursor++ % trace.requests.length];
      try {
        const how = await get(agent, port, path);
        if (end.untilMs !== undefined && Date.now() > end.untilMs) break;
        tally.done++;
        if (how === 'hit') tally.hits++;
      } catch (err) {
        tally.errors++;
        tally.firstError ??= (err as Error).message;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, client));
  agent.destroy();
  return tally;
}

/** Cohort's front or HAProxy before `backends`, serving. */
async function startProxy(c: Config, backends: number[]): Promise<{ port: number; proc: ChildProcess }> {
  const [port] = await freePorts(1);
  let proc: ChildProcess;
  if (c.front) {
    const hosts = join(dir, `hosts-${c.name}-${backends.length}.yaml`);
    writeFileSync(hosts, stringify({
      cluster: 'bench', dataDir: './data', tls: { dir: './tls' }, domains: ['d'],
      nodes: [{ id: 'A', domain: 'd', role: 'access', host: '127.0.0.1', linkPort: 1, httpPort: 2 }],
      front: { listen: { port }, backends: backends.map((p, i) => ({ id: `b${i + 1}`, host: '127.0.0.1', port: p, weight: 1 })), health: { path: '/__health' }, ...c.front },
    }));
    proc = start(process.execPath, [CLI_PATH, 'front', '--config', hosts, '--log-level', 'warn']);
  } else {
    const cfg = join(dir, `haproxy-${c.name}-${backends.length}.cfg`);
    const servers = backends.map((p, i) => `  server b${i + 1} 127.0.0.1:${p} weight ${HAPROXY_WEIGHT}\n`).join('');
    writeFileSync(cfg, `global\n  nbthread 1\n  maxconn 4096\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n  option http-keep-alive\n  http-reuse always\nfrontend f\n  bind 127.0.0.1:${port}\n  default_backend b\nbackend b\n  ${c.haproxy}\n${servers}`);
    proc = start('haproxy', ['-f', cfg, '-db']);
  }
  await waitFor(`${c.name} to serve`, async () => (await fetch(`http://127.0.0.1:${port}/__health`)).status === 200, 10_000, 100);
  return { port, proc };
}

interface Result { rps: number; hit: number }
const results = new Map<string, Result>();
const cleanup = () => {
  for (const p of procs) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
};
process.once('SIGINT', () => {
  cleanup();
  process.exit(130);
});
try {
  const sizesFile = join(dir, 'sizes.json');
  writeFileSync(sizesFile, JSON.stringify(Object.fromEntries(trace.sizes)));
  const ports = await freePorts(Math.max(...COUNTS));
  for (const p of ports) start(process.execPath, [fileURLToPath(new URL('./lard-backend.ts', import.meta.url)), String(p), sizesFile, String(Math.floor(CACHE_MB * MB)), String(SEEK_MS), String(MBPS), String(DISKS)]);
  for (const p of ports) await waitFor(`back-end ${p}`, async () => (await fetch(`http://127.0.0.1:${p}/__health`)).ok, 10_000, 100);
  /** One configuration before `backends`, from empty caches: warmed, then measured for SECONDS. */
  const measure = async (c: Config, backends: number[], label: string): Promise<Result> => {
    progress(`${label}: warming with one pass of the log, then ${SECONDS} s`);
    for (const p of backends) await getJson(p, `/__ctl?clear=1&cost=${WARM_COST}`);
    const proxy = await startProxy(c, backends);
    try {
      const warm = await replay(proxy.port, { count: trace.requests.length });
      for (const p of backends) await getJson(p, '/__ctl?cost=1&zero=1');
      const t = await replay(proxy.port, { untilMs: Date.now() + SECONDS * 1000 });
      const errors = warm.errors + t.errors;
      if (errors > 0) throw new Error(`${label}: ${errors} failed requests, the first: ${warm.firstError ?? t.firstError}`);
      const st = (await Promise.all(backends.map((p) => getJson(p, '/__stats')))) as { hits: number; misses: number; reads: number }[];
      progress(`  ${(t.done / SECONDS).toFixed(0)} req/s, ${((100 * t.hits) / Math.max(1, t.done)).toFixed(1)}% hits; per back-end requests ${st.map((x) => x.hits + x.misses).join(' ')}, disk reads ${st.map((x) => x.reads).join(' ')}`);
      return { rps: t.done / SECONDS, hit: t.done ? t.hits / t.done : 0 };
    } finally {
      await stop(proxy.proc);
    }
  };
  for (const n of COUNTS) {
    for (const c of CONFIGS) results.set(`${c.name}@${n}`, await measure(c, ports.slice(0, n), `${n} back-end(s), ${c.label}`));
  }

  // LARD/R again and again at 4 back-ends, in turns with HAProxy's bounded chash and the limit.
  const four = ports.slice(0, 4);
  const lardR = CONFIGS_ALL.find((c) => c.name === 'lard_r')!;
  const repeated: { c: Config; cacheBytes?: number }[] = [
    { c: lardR },
    { c: CONFIGS_ALL.find((c) => c.name === 'haproxy_chash_bounded')! },
    { c: { ...lardR, name: 'limit', label: 'limit: LARD/R, caches holding everything' }, cacheBytes: Math.ceil(trace.workingSetBytes * 1.1) },
  ];
  const runs = new Map<string, number[]>(repeated.map((r) => [r.c.name, []]));
  // Exploring with BENCH_LARD_ONLY: the rounds only when asked for (BENCH_LARD_REPEATS set).
  if (four.length === 4 && REPEATS > 0 && (!env.BENCH_LARD_ONLY || env.BENCH_LARD_REPEATS)) {
    for (let round = 0; round < REPEATS; round++) {
      for (let i = 0; i < repeated.length; i++) {
        const { c, cacheBytes } = repeated[(round + i) % repeated.length];
        try {
          if (cacheBytes) for (const p of four) await getJson(p, `/__ctl?cache=${cacheBytes}`);
          runs.get(c.name)!.push((await measure(c, four, `round ${round + 1}/${REPEATS}, 4 back-ends, ${c.label}`)).rps);
        } finally {
          if (cacheBytes) for (const p of four) await getJson(p, `/__ctl?cache=${Math.floor(CACHE_MB * MB)}`);
        }
      }
    }
  }

  const cell = (r: Result | undefined) => (r ? `${r.rps.toFixed(0)} (${(100 * r.hit).toFixed(1)}%)` : '-');
  console.log(`${trace.requests.length} requests (${trace.sizes.size} targets, ${wsMb.toFixed(1)} MB) replayed by ${CLIENTS} closed-loop clients, ${SECONDS} s per cell after a warming pass (reads ×${WARM_COST});`);
  console.log(`LRU cache ${CACHE_MB} MB per back-end; a miss: ${SEEK_MS} ms + ${SEEK_MS / 2} ms per further 44 KiB + size at ${MBPS} MB/s, ${DISKS} at a time. Cells: req/s (hit rate)`);
  console.log(`${'back-ends'.padEnd(30)}${COUNTS.map((n) => String(n).padStart(16)).join('')}`);
  for (const c of CONFIGS) console.log(`${c.label.padEnd(30)}${COUNTS.map((n) => cell(results.get(`${c.name}@${n}`)).padStart(16)).join('')}`);
  const at4 = (name: string) => results.get(`${name}@4`);
  const ratio = (a: string, b: string) => (at4(a) && at4(b) ? +(at4(a)!.rps / at4(b)!.rps).toFixed(2) : null);
  console.log(`at 4 back-ends: LARD/R ${ratio('lard_r', 'wrr') ?? '-'}× weighted round robin (target ≥ 2), ${ratio('lard_r', 'haproxy_chash_bounded') ?? '-'}× HAProxy's bounded chash (target ≥ 1.1)`);
  const spread = (name: string) => {
    const xs = [...(runs.get(name) ?? [])].sort((a, b) => a - b);
    return xs.length ? { min: Math.round(xs[0]), median: Math.round(xs[Math.floor(xs.length / 2)]), max: Math.round(xs[xs.length - 1]) } : undefined;
  };
  const [lr, hc, limit] = ['lard_r', 'haproxy_chash_bounded', 'limit'].map(spread);
  if (lr && hc && limit) {
    console.log(`\n${REPEATS} rounds at 4 back-ends, in turns (req/s)    min    median       max`);
    for (const [label, x] of [['LARD/R', lr], ['HAProxy uri whole consistent 150', hc], ['limit (caches hold everything)', limit]] as const) console.log(`${label.padEnd(40)}${String(x.min).padStart(7)}${String(x.median).padStart(10)}${String(x.max).padStart(10)}`);
    console.log(`slowest LARD/R run ${(lr.min / limit.median).toFixed(2)}× the limit's median (target ≥ 0.8); LARD/R's median ${(lr.median / hc.median).toFixed(2)}× HAProxy's`);
  }
  const flat: Record<string, number | null> = {};
  for (const c of CONFIGS) {
    flat[`${c.name}_rps`] = at4(c.name) ? Math.round(at4(c.name)!.rps) : null;
    flat[`${c.name}_hit`] = at4(c.name) ? +at4(c.name)!.hit.toFixed(3) : null;
  }
  const byBackends = Object.fromEntries(COUNTS.map((n) => [n, Object.fromEntries(CONFIGS.map((c) => {
    const r = results.get(`${c.name}@${n}`)!;
    return [c.name, { rps: Math.round(r.rps), hit: +r.hit.toFixed(3) }];
  }))]));
  recordResult('lard', {
    ...flat, lard_r_vs_wrr: ratio('lard_r', 'wrr'), lard_r_vs_haproxy_chash_bounded: ratio('lard_r', 'haproxy_chash_bounded'), by_backends: byBackends,
    lard_r_min_rps: lr?.min ?? null, lard_r_median_rps: lr?.median ?? null, lard_r_max_rps: lr?.max ?? null, limit_rps: limit?.median ?? null,
    limit_min_rps: limit?.min ?? null, limit_max_rps: limit?.max ?? null,
    rounds_rps: Object.fromEntries([...runs].map(([name, xs]) => [name, xs.map((x) => Math.round(x))])),
    haproxy_chash_bounded_min_rps: hc?.min ?? null, haproxy_chash_bounded_median_rps: hc?.median ?? null, repeats: lr ? REPEATS : 0, haproxy_weight: HAPROXY_WEIGHT,
    working_set_mb: +wsMb.toFixed(1), cache_mb: CACHE_MB, trace_requests: trace.requests.length, targets: trace.sizes.size, clients: CLIENTS, seconds: SECONDS, warm_cost: WARM_COST,
    miss_ms: SEEK_MS, disk_mbps: MBPS, disks: DISKS, lard: LARD,
  }, { haproxy: commandVersion('haproxy'), wrk: commandVersion('wrk') });
} finally {
  for (const p of [...procs]) await stop(p);
  cleanup();
}
