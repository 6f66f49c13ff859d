// Benchmark: the HTTP front against its peers, in one run, with wrk as the load generator
// and two nginx back-ends (one worker each) serving a 1 KiB file. Peers: the back-ends
// directly (the limit), node http-proxy (keep-alive agent), nginx (1 worker, upstream
// keep-alive) and HAProxy (nbthread 1, http-reuse always). The order alternates over
// repetitions; each figure is the median. CPU per request comes from /proc/PID/stat.
// Sizes: BENCH_FRONT_SECONDS (per run), BENCH_FRONT_REPS, BENCH_FRONT_CONNECTIONS.
// Needs: apt-get install -y wrk nginx-light haproxy (installed here when missing, as root).
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { CLI_PATH } from '../src/node/spawn.ts';
import { freePorts } from '../test/harness/ports.ts';
import { waitFor } from '../test/harness/wait.ts';
import { ensureDebianTools } from './peers/debian.ts';
import { progress as report, median } from './stats.ts';
import { commandVersion, packageVersion, recordResult } from './results.ts';

const SECONDS = Number(process.env.BENCH_FRONT_SECONDS ?? 5);
const REPS = Number(process.env.BENCH_FRONT_REPS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_FRONT_CONNECTIONS ?? 64);
const progress = (msg: string) => report('bench:front', msg);
const CLK_TCK = 100;


/** CPU seconds (user + system) a process and its named children have used so far. */
function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / CLK_TCK;
}

function childrenOf(pid: number): number[] {
  const r = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean).map(Number);
}

interface Run { rps: number; p99: number; cpuUs: number }

function wrk(url: string, pids: number[]): Run {
  const before = pids.length ? cpuSeconds(pids) : 0;
  const out = execFileSync('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${SECONDS}s`, '--latency', url], { encoding: 'utf8' });
  const after = pids.length ? cpuSeconds(pids) : 0;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]);
  const total = Number(/(\d+) requests in/.exec(out)![1]);
  const p99text = /99%\s+([\d.]+)(us|ms|s)/.exec(out)!;
  const p99 = Number(p99text[1]) * (p99text[2] === 'us' ? 0.001 : p99text[2] === 's' ? 1000 : 1);
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (errors) throw new Error(`${url}: ${errors[1]} error responses\n${out}`);
  return { rps, p99, cpuUs: pids.length ? ((after - before) * 1e6) / total : NaN };
}

/** Median time to the first response byte of 5 new connections, made while wrk -c1000 saturates the port. */
async function firstByteUnderLoad(port: number): Promise<number> {
  const load = spawn('wrk', ['-t1', '-c1000', '-d30s', `http://127.0.0.1:${port}/1k.txt`], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 1500)); // let the load build up
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      await new Promise<void>((resolve, reject) => {
        const s = netConnect(port, '127.0.0.1', () => s.write('GET /1k.txt HTTP/1.1\r\nHost: x\r\n\r\n'));
        s.once('data', () => {
          s.destroy();
          resolve();
        });
        s.once('error', reject);
      });
      times.push(performance.now() - started);
      await new Promise((r) => setTimeout(r, 200));
    }
    return median(times);
  } finally {
    load.kill('SIGKILL');
  }
}


ensureDebianTools('bench:front', { wrk: 'wrk', nginx: 'nginx-light', haproxy: 'haproxy' });
const dir = mkdtempSync(join(tmpdir(), 'cohort-bench-front-'));
const procs: ChildProcess[] = [];
const start = (cmd: string, args: string[], env: Record<string, string> = {}) => {
  const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env } });
  procs.push(p);
  return p;
};
try {
  const [b1, b2, frontPort, httpProxyPort, nginxPort, haproxyPort] = await freePorts(6);
  // nginx's workers run as an unprivileged user: they must be able to read the file.
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, '1k.txt'), 'x'.repeat(1024), { mode: 0o644 });
  const nginxConf = (name: string, body: string) => {
    const file = join(dir, `${name}.conf`);
    writeFileSync(file, `worker_processes 1; daemon off; pid ${dir}/${name}.pid; error_log ${dir}/${name}.err;\nevents { worker_connections 8192; }\nhttp { access_log off; keepalive_requests 100000000; keepalive_timeout 300s; ${body} }\n`);
    return file;
  };
  for (const p of [b1, b2]) start('nginx', ['-c', nginxConf(`backend-${p}`, `server { listen 127.0.0.1:${p}; location / { root ${dir}; } }`)]);

  // Cohort's front
  const hosts = join(dir, 'hosts.yaml');
  writeFileSync(hosts, stringify({
    cluster: 'bench', dataDir: './data', tls: { dir: './tls' }, domains: ['d'],
    nodes: [{ id: 'A', domain: 'd', role: 'access', host: '127.0.0.1', linkPort: 1, httpPort: 2 }],
    front: { listen: { port: frontPort }, backends: [{ id: 'n1', host: '127.0.0.1', port: b1 }, { id: 'n2', host: '127.0.0.1', port: b2 }], health: { path: '/1k.txt' } },
  }));
  const front = start(process.execPath, [CLI_PATH, 'front', '--config', hosts, '--log-level', 'warn']);
  // node http-proxy
  const httpProxy = start(process.execPath, [fileURLToPath(new URL('./peers/http-proxy-server.ts', import.meta.url)), String(httpProxyPort), String(b1), String(b2)]);
  // nginx as a proxy
  const nginxProxy = start('nginx', ['-c', nginxConf('proxy', `upstream b { server 127.0.0.1:${b1}; server 127.0.0.1:${b2}; keepalive 256; } server { listen 127.0.0.1:${nginxPort}; location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection ""; } }`)]);
  // HAProxy
  const haCfg = join(dir, 'haproxy.cfg');
  writeFileSync(haCfg, `global\n  nbthread 1\n  maxconn 4096\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n  option http-keep-alive\n  http-reuse always\nfrontend f\n  bind 127.0.0.1:${haproxyPort}\n  default_backend b\nbackend b\n  balance roundrobin\n  server s1 127.0.0.1:${b1}\n  server s2 127.0.0.1:${b2}\n`);
  const haproxy = start('haproxy', ['-f', haCfg, '-db']);

  const targets = [
    { name: 'direct', label: 'back-end directly (the limit)', port: b1, pids: () => [] as number[] },
    { name: 'front', label: "Cohort's front", port: frontPort, pids: () => [front.pid!] },
    { name: 'http_proxy', label: 'node http-proxy (keep-alive agent)', port: httpProxyPort, pids: () => [httpProxy.pid!] },
    { name: 'nginx', label: 'nginx (1 worker)', port: nginxPort, pids: () => [nginxProxy.pid!, ...childrenOf(nginxProxy.pid!)] },
    { name: 'haproxy', label: 'HAProxy (nbthread 1)', port: haproxyPort, pids: () => [haproxy.pid!] },
  ];
  // BENCH_FRONT_ONLY=front,haproxy measures a subset (for profiling sessions).
  const only = process.env.BENCH_FRONT_ONLY?.split(',');
  if (only) targets.splice(0, targets.length, ...targets.filter((t) => only.includes(t.name) || t.name === 'haproxy'));
  for (const t of targets) {
    await waitFor(`${t.name} to serve`, async () => (await fetch(`http://127.0.0.1:${t.port}/1k.txt`)).status === 200, 10_000, 100);
  }
  const runs = new Map<string, Run[]>(targets.map((t) => [t.name, []]));
  for (let rep = 0; rep < REPS; rep++) {
    const order = rep % 2 === 0 ? targets : [...targets].reverse();
    for (const t of order) {
      progress(`rep ${rep + 1}/${REPS}: ${t.label}, ${SECONDS} s, ${CONNECTIONS} connections`);
      wrk(`http://127.0.0.1:${t.port}/1k.txt`, []); // 1 s would do; a full run warms JIT and pools
      runs.get(t.name)!.push(wrk(`http://127.0.0.1:${t.port}/1k.txt`, t.pids()));
    }
  }
  // A new client while the proxy is saturated by 1000 others: how long until its first byte?
  const newClient: Record<string, number> = {};
  for (const t of targets.filter((x) => x.name === 'front' || x.name === 'haproxy')) {
    progress(`${t.label}: 5 new clients, one by one, under wrk -c1000`);
    newClient[t.name] = await firstByteUnderLoad(t.port);
  }
  const fig = Object.fromEntries([...runs].map(([name, rs]) => [name, { rps: median(rs.map((r) => r.rps)), p99: median(rs.map((r) => r.p99)), cpuUs: median(rs.map((r) => r.cpuUs)) }]));
  const ha = fig.haproxy;
  console.log(`1 KiB GET, wrk -t1 -c${CONNECTIONS}, median of ${REPS} runs of ${SECONDS} s, two nginx back-ends`);
  console.log(`${'target'.padEnd(36)}${'req/s'.padStart(10)}${'× HAProxy'.padStart(11)}${'p99 ms'.padStart(9)}${'× HAProxy'.padStart(11)}${'CPU µs/req'.padStart(12)}${'× HAProxy'.padStart(11)}`);
  for (const t of targets) {
    const f = fig[t.name];
    const cpu = Number.isNaN(f.cpuUs) ? '-' : f.cpuUs.toFixed(1);
    const cpuRatio = Number.isNaN(f.cpuUs) ? '-' : (f.cpuUs / ha.cpuUs).toFixed(2);
    console.log(`${t.label.padEnd(36)}${f.rps.toFixed(0).padStart(10)}${(f.rps / ha.rps).toFixed(2).padStart(11)}${f.p99.toFixed(2).padStart(9)}${(f.p99 / ha.p99).toFixed(2).padStart(11)}${cpu.padStart(12)}${cpuRatio.padStart(11)}`);
  }
  console.log(`a new client's first byte under wrk -c1000 (median of 5): front ${newClient.front.toFixed(1)} ms, HAProxy ${newClient.haproxy.toFixed(1)} ms`);
  if (!only) {
  console.log(`front vs http-proxy: ${(fig.front.rps / fig.http_proxy.rps).toFixed(2)}× the requests/s`);
  recordResult('front', {
    direct_rps: Math.round(fig.direct.rps), front_rps: Math.round(fig.front.rps), http_proxy_rps: Math.round(fig.http_proxy.rps), nginx_rps: Math.round(fig.nginx.rps), haproxy_rps: Math.round(fig.haproxy.rps),
    front_p99_ms: fig.front.p99, haproxy_p99_ms: fig.haproxy.p99, front_cpu_us: +fig.front.cpuUs.toFixed(2), haproxy_cpu_us: +fig.haproxy.cpuUs.toFixed(2),
    nginx_cpu_us: +fig.nginx.cpuUs.toFixed(2), http_proxy_cpu_us: +fig.http_proxy.cpuUs.toFixed(2),
    front_new_client_ms: +newClient.front.toFixed(1), haproxy_new_client_ms: +newClient.haproxy.toFixed(1),
  }, { wrk: commandVersion('wrk'), nginx: commandVersion('nginx'), haproxy: commandVersion('haproxy'), 'http-proxy': packageVersion('http-proxy') });
  }
} finally {
  for (const p of procs) p.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
