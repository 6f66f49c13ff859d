// Benchmark: this tree's front against the front of an earlier commit, side by side on the
// same two nginx back-ends in one run, wrk alternating between them (HAProxy, nbthread 1 and
// http-reuse always, as the fixed reference). On a noisy machine two separate bench:front runs
// differ by more than a change does (their direct, front-free figure moved by 20% between runs
// here); fronts measured turn about, minutes apart at most, answer "no worse than before".
// Usage: npm run bench:front-versus -- <git revision>   (default: HEAD~1)
// Sizes: BENCH_VERSUS_ROUNDS (default 6), BENCH_VERSUS_SECONDS (default 4), 64 connections.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { freePorts } from '../test/harness/ports.ts';
import { waitFor } from '../test/harness/wait.ts';
import { ensureDebianTools } from './peers/debian.ts';
import { commandVersion, recordResult } from './results.ts';
import { cpuMs, progress as report, median } from './stats.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ROUNDS = Number(process.env.BENCH_VERSUS_ROUNDS ?? 6);
const SECONDS = Number(process.env.BENCH_VERSUS_SECONDS ?? 4);
const progress = (msg: string) => report('bench:front-versus', msg);

const rev = process.argv[2] ?? 'HEAD~1';
if (rev.startsWith('-')) {
  console.error('usage: npm run bench:front-versus -- <git revision>');
  process.exit(2);
}
const baseCommit = execFileSync('git', ['rev-parse', '--short=12', `${rev}^{commit}`], { cwd: ROOT, encoding: 'utf8' }).trim();
ensureDebianTools('bench:front-versus', { wrk: 'wrk', nginx: 'nginx-light', haproxy: 'haproxy' });

const dir = mkdtempSync(join(tmpdir(), 'cohort-bench-versus-'));
const baseTree = join(dir, 'base');
const procs: ChildProcess[] = [];
const start = (cmd: string, args: string[]) => {
  const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  procs.push(p);
  return p;
};
try {
  progress(`checking out ${baseCommit} beside this tree`);
  execFileSync('git', ['worktree', 'add', '--detach', '-q', baseTree, baseCommit], { cwd: ROOT });
  symlinkSync(join(ROOT, 'node_modules'), join(baseTree, 'node_modules'));
  const [b1, b2, thisPort, basePort, haproxyPort] = await freePorts(5);
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, '1k.txt'), 'x'.repeat(1024), { mode: 0o644 });
  for (const p of [b1, b2]) {
    const conf = join(dir, `backend-${p}.conf`);
    writeFileSync(conf, `worker_processes 1; daemon off; pid ${dir}/${p}.pid; error_log ${dir}/${p}.err;\nevents { worker_connections 8192; }\nhttp { access_log off; keepalive_requests 100000000; keepalive_timeout 300s; server { listen 127.0.0.1:${p}; location / { root ${dir}; } } }\n`);
    start('nginx', ['-c', conf]);
  }
  const front = (tree: string, port: number) => {
    const hosts = join(dir, `hosts-${port}.yaml`);
    writeFileSync(hosts, stringify({
      cluster: 'bench', dataDir: './data', tls: { dir: './tls' }, domains: ['d'],
      nodes: [{ id: 'A', domain: 'd', role: 'access', host: '127.0.0.1', linkPort: 1, httpPort: 2 }],
      front: { listen: { port }, backends: [{ id: 'n1', host: '127.0.0.1', port: b1 }, { id: 'n2', host: '127.0.0.1', port: b2 }], health: { path: '/1k.txt' } },
    }));
    return start(process.execPath, [join(tree, 'src/cli/main.ts'), 'front', '--config', hosts, '--log-level', 'error']);
  };
  const haCfg = join(dir, 'haproxy.cfg');
  writeFileSync(haCfg, `global\n  nbthread 1\n  maxconn 4096\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n  option http-keep-alive\n  http-reuse always\nfrontend f\n  bind 127.0.0.1:${haproxyPort}\n  default_backend b\nbackend b\n  balance roundrobin\n  server s1 127.0.0.1:${b1}\n  server s2 127.0.0.1:${b2}\n`);
  const targets = [
    { name: 'front', label: `this tree's front`, port: thisPort, proc: front(ROOT, thisPort) },
    { name: 'base', label: `front at ${baseCommit}`, port: basePort, proc: front(baseTree, basePort) },
    { name: 'haproxy', label: 'HAProxy (nbthread 1)', port: haproxyPort, proc: start('haproxy', ['-f', haCfg, '-db']) },
  ];
  for (const t of targets) await waitFor(`${t.name} to serve`, async () => (await fetch(`http://127.0.0.1:${t.port}/1k.txt`)).status === 200, 30_000, 100);

  const runs = new Map(targets.map((t) => [t.name, { rps: [] as number[], cpuUs: [] as number[] }]));
  const wrk = (port: number) => execFileSync('wrk', ['-t1', '-c64', `-d${SECONDS}s`, `http://127.0.0.1:${port}/1k.txt`], { encoding: 'utf8' });
  for (const t of targets) wrk(t.port); // warm JIT and pools
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? targets : [...targets].reverse();
    for (const t of order) {
      progress(`round ${round + 1}/${ROUNDS}: ${t.label}`);
      const before = cpuMs(t.proc.pid!);
      const out = wrk(t.port);
      const total = Number(/(\d+) requests in/.exec(out)![1]);
      if (/Non-2xx or 3xx responses/.test(out)) throw new Error(`${t.label} answered errors\n${out}`);
      runs.get(t.name)!.rps.push(Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]));
      runs.get(t.name)!.cpuUs.push(((cpuMs(t.proc.pid!) - before) * 1000) / total);
    }
  }
  const fig = Object.fromEntries([...runs].map(([n, r]) => [n, { rps: median(r.rps), cpuUs: median(r.cpuUs) }]));
  console.log(`1 KiB GET, wrk -t1 -c64, median of ${ROUNDS} alternating runs of ${SECONDS} s, two nginx back-ends`);
  console.log(`${'target'.padEnd(30)}${'req/s'.padStart(10)}${'× base'.padStart(9)}${'CPU µs/req'.padStart(12)}${'× base'.padStart(9)}`);
  for (const t of targets) {
    const f = fig[t.name];
    console.log(`${t.label.padEnd(30)}${f.rps.toFixed(0).padStart(10)}${(f.rps / fig.base.rps).toFixed(2).padStart(9)}${f.cpuUs.toFixed(1).padStart(12)}${(f.cpuUs / fig.base.cpuUs).toFixed(2).padStart(9)}`);
  }
  recordResult('front-versus', {
    base_commit: baseCommit, front_rps: Math.round(fig.front.rps), base_rps: Math.round(fig.base.rps), haproxy_rps: Math.round(fig.haproxy.rps),
    front_cpu_us: +fig.front.cpuUs.toFixed(2), base_cpu_us: +fig.base.cpuUs.toFixed(2), haproxy_cpu_us: +fig.haproxy.cpuUs.toFixed(2),
    rounds: ROUNDS, seconds: SECONDS,
  }, { wrk: commandVersion('wrk'), haproxy: commandVersion('haproxy') });
} finally {
  for (const p of procs) p.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  if (existsSync(baseTree)) execFileSync('git', ['worktree', 'remove', '--force', baseTree], { cwd: ROOT });
  rmSync(dir, { recursive: true, force: true });
}
