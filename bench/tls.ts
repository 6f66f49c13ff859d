// Benchmark: the front terminating TLS, against HAProxy and nginx terminating it with the same
// certificate and key, in front of the same two nginx back-ends (plain HTTP, kept alive). Each
// terminator runs one process, one thread (HAProxy nbthread 1, nginx one worker without a
// master: the front is one event loop) with Mozilla's intermediate profile, as their docs set it.
// Figures, medians of alternating repetitions:
// - kept-alive TLS, HTTP/1.1: wrk -t1 -c64 req/s and p99 at 1 KiB and 64 KiB, and CPU per request;
// - full handshakes/s: wrk with `Connection: close` (each request a new connection, no resumption:
//   wrk never resumes), with an ECDSA P-256 and with an RSA-2048 certificate, and the terminator's
//   CPU per handshake: on two cores wrk's one thread is near a full core in these runs, so the
//   rate is partly the client's; the CPU each terminator spends a connection is its own;
// - resumed handshakes/s: `openssl s_time -reuse` (one connection at a time, each resuming the
//   session of the first).
// - kept-alive TLS, HTTP/2: h2load -t1 -c8 -m8 (the same 64 requests in flight as wrk's 64
//   connections), req/s and p99 (from h2load's per-request log) at 1 KiB and 64 KiB, CPU per request;
//   each terminator offers h2 by ALPN (HAProxy `alpn h2,http/1.1`, nginx `listen ... ssl http2`)
//   and speaks kept-alive HTTP/1.1 to the back-ends.
// - Node's floor: Node's own TLS servers answering from memory with the front's profile and
//   nothing behind them (bench/peers/node-tls-floor.ts): what no front written in Node can beat here.
// Needs: apt-get install -y wrk nginx-light haproxy openssl nghttp2-client (installed here when missing, as root).
// Sizes: BENCH_TLS_SECONDS (default 4), BENCH_TLS_REPS (default 3).
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { freePorts } from '../test/harness/ports.ts';
import { issueTestCert, makeTestCa } from '../test/harness/test-certs.ts';
import { waitFor } from '../test/harness/wait.ts';
import { INTERMEDIATE_TLS12_SUITES } from '../src/tls/profiles.ts';
import { spawnLogged } from '../src/node/spawn.ts';
import { ensureDebianTools } from './peers/debian.ts';
import { commandVersion, recordResult } from './results.ts';
import { cpuMs, progress as report, median } from './stats.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SECONDS = Number(process.env.BENCH_TLS_SECONDS ?? 4);
const REPS = Number(process.env.BENCH_TLS_REPS ?? 3);
const progress = (msg: string) => report('bench:tls', msg);
/** The front's own TLS 1.2 suites, for the peers. */
const CIPHERS = INTERMEDIATE_TLS12_SUITES.join(':');

ensureDebianTools('bench:tls', { wrk: 'wrk', nginx: 'nginx-light', haproxy: 'haproxy', openssl: 'openssl', h2load: 'nghttp2-client' });
const dir = mkdtempSync(join(tmpdir(), 'cohort-bench-tls-'));
const procs: ChildProcess[] = [];
const frontLog = (port: number) => join(dir, `front-${port}.log`);
const start = (cmd: string, args: string[]) => {
  const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  procs.push(p);
  return p;
};

interface Target {
  name: 'front' | 'haproxy' | 'nginx' | 'floor';
  label: string;
  key: 'ec' | 'rsa';
  port: number;
  proc: ChildProcess;
}

try {
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, '1k.txt'), 'x'.repeat(1024), { mode: 0o644 });
  writeFileSync(join(dir, '64k.txt'), 'x'.repeat(65_536), { mode: 0o644 });
  makeTestCa(dir);
  const certs = { ec: issueTestCert(dir, 'ec', ['bench.example'], 'ec'), rsa: issueTestCert(dir, 'rsa', ['bench.example'], 'rsa') };
  for (const k of ['ec', 'rsa'] as const) writeFileSync(join(dir, `${k}.haproxy.pem`), readFileSync(certs[k].cert, 'utf8') + readFileSync(certs[k].key, 'utf8'));
  const ports = await freePorts(10);
  const [b1, b2] = ports;
  for (const p of [b1, b2]) {
    const conf = join(dir, `backend-${p}.conf`);
    writeFileSync(conf, `worker_processes 1; daemon off; pid ${dir}/${p}.pid; error_log ${dir}/${p}.err;\nevents { worker_connections 8192; }\nhttp { access_log off; keepalive_requests 100000000; keepalive_timeout 300s; server { listen 127.0.0.1:${p}; location / { root ${dir}; } } }\n`);
    start('nginx', ['-c', conf]);
  }
  const front = (key: 'ec' | 'rsa', port: number) => {
    const hosts = join(dir, `hosts-${port}.yaml`);
    writeFileSync(hosts, stringify({
      cluster: 'bench', dataDir: './data', tls: { dir: './tls' }, domains: ['d'],
      nodes: [{ id: 'A', domain: 'd', role: 'access', host: '127.0.0.1', linkPort: 1, httpPort: 2 }],
      front: {
        listen: { port, tls: { certificates: [{ cert: certs[key].cert, key: certs[key].key }] } },
        backends: [{ id: 'n1', host: '127.0.0.1', port: b1 }, { id: 'n2', host: '127.0.0.1', port: b2 }],
        health: { path: '/1k.txt' },
        limits: { maxClientConnections: 20_000 },
      },
    }));
    const p = spawnLogged([join(ROOT, 'src/cli/main.ts'), 'front', '--config', hosts, '--log-level', 'warn'], frontLog(port));
    procs.push(p);
    return p;
  };
  const haproxy = (key: 'ec' | 'rsa', port: number) => {
    const cfg = join(dir, `haproxy-${port}.cfg`);
    writeFileSync(cfg, `global\n  nbthread 1\n  maxconn 8000\n  ssl-default-bind-ciphers ${CIPHERS}\n  ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256\n  ssl-default-bind-options prefer-client-ciphers ssl-min-ver TLSv1.2\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n  option http-keep-alive\n  http-reuse always\nfrontend f\n  bind 127.0.0.1:${port} ssl crt ${join(dir, `${key}.haproxy.pem`)} alpn h2,http/1.1\n  default_backend b\nbackend b\n  balance roundrobin\n  server s1 127.0.0.1:${b1}\n  server s2 127.0.0.1:${b2}\n`);
    return start('haproxy', ['-f', cfg, '-db']);
  };
  const nginx = (key: 'ec' | 'rsa', port: number) => {
    const conf = join(dir, `nginx-${port}.conf`);
    writeFileSync(conf, `worker_processes 1; master_process off; daemon off; pid ${dir}/tls-${port}.pid; error_log ${dir}/tls-${port}.err;\nevents { worker_connections 20000; }\nhttp { access_log off; upstream b { server 127.0.0.1:${b1}; server 127.0.0.1:${b2}; keepalive 64; }\n  server { listen 127.0.0.1:${port} ssl http2; ssl_certificate ${certs[key].cert}; ssl_certificate_key ${certs[key].key}; ssl_protocols TLSv1.2 TLSv1.3; ssl_ciphers ${CIPHERS}; ssl_prefer_server_ciphers off; ssl_session_cache shared:S:10m; ssl_session_timeout 1d; keepalive_requests 100000000;\n    location / { proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection ""; } } }\n`);
    return start('nginx', ['-c', conf]);
  };
  const floor = (key: 'ec' | 'rsa', port: number) => start(process.execPath, [join(ROOT, 'bench/peers/node-tls-floor.ts'), certs[key].cert, certs[key].key, String(port), dir]);
  const targets: Target[] = [];
  let next = 2;
  for (const key of ['ec', 'rsa'] as const) {
    for (const [name, label, make] of [['front', "Cohort's front", front], ['haproxy', 'HAProxy (nbthread 1)', haproxy], ['nginx', 'nginx (1 worker)', nginx], ['floor', "Node's floor", floor]] as const) {
      const port = ports[next++];
      targets.push({ name, label, key, port, proc: make(key, port) });
    }
  }
  for (const t of targets) {
    await waitFor(`${t.label} (${t.key}) to serve`, () => spawnSync('curl', ['-sk', '-o', '/dev/null', '-w', '%{http_code}', `https://127.0.0.1:${t.port}/1k.txt`], { encoding: 'utf8' }).stdout === '200', 30_000, 200);
  }

  /** One wrk run: req/s, p99 (ms), CPU µs per request of the target. */
  const wrk = (t: Target, path: string, close: boolean) => {
    const before = cpuMs(t.proc.pid!);
    const out = execFileSync('wrk', ['-t1', '-c64', `-d${SECONDS}s`, '--latency', ...(close ? ['-H', 'Connection: close'] : []), `https://127.0.0.1:${t.port}${path}`], { encoding: 'utf8' });
    if (/Non-2xx or 3xx responses/.test(out)) throw new Error(`${t.label} answered errors\n${out}${t.name === 'front' ? `\nits log:\n${readFileSync(frontLog(t.port), 'utf8').split('\n').slice(-30).join('\n')}` : ''}`);
    const total = Number(/(\d+) requests in/.exec(out)![1]);
    const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(out)!;
    return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]), p99: Number(p99[1]) * (p99[2] === 'us' ? 0.001 : p99[2] === 's' ? 1000 : 1), cpuUs: ((cpuMs(t.proc.pid!) - before) * 1000) / Math.max(1, total) };
  };
  /** One h2load run over kept-alive h2: req/s, p99 (ms, from its per-request log), CPU µs per request of the target. */
  const h2load = (t: Target, path: string) => {
    const log = join(dir, 'h2load.log');
    const before = cpuMs(t.proc.pid!);
    const out = execFileSync('h2load', ['-t1', '-c8', '-m8', `-D${SECONDS}`, '--warm-up-time=1', `--log-file=${log}`, `https://127.0.0.1:${t.port}${path}`], { encoding: 'utf8' });
    const rows = readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split('\t').map(Number));
    rmSync(log);
    // Streams still open when the run stops are logged as -1 (every terminator has a few): only error statuses count.
    const [, , , e4, e5] = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out)!.map(Number);
    if (e4 + e5 > 0 || !/application protocol: h2/i.test(out)) throw new Error(`${t.label}: ${e4 + e5} h2 requests answered errors\n${out}`);
    const took = rows.filter(([, status]) => status === 200).map(([, , us]) => us).sort((a, b) => a - b);
    return { rps: Number(/finished in [\d.]+s, ([\d.]+) req\/s/.exec(out)![1]), p99: took[Math.floor(took.length * 0.99)] / 1000, cpuUs: ((cpuMs(t.proc.pid!) - before) * 1000) / Math.max(1, rows.length) };
  };
  /** Resumed handshakes a second, one connection at a time (openssl s_time -reuse). */
  const resumed = (t: Target) => {
    const out = execFileSync('openssl', ['s_time', '-connect', `127.0.0.1:${t.port}`, '-reuse', '-time', String(SECONDS)], { encoding: 'utf8' });
    const m = /(\d+) connections in ([\d.]+)s/.exec(out);
    return m ? Number(m[1]) / Number(m[2]) : 0;
  };

  type Sample = Record<string, number[]>;
  const samples = new Map<string, Sample>();
  const add = (t: Target, key: string, v: number) => {
    const s = samples.get(t.name) ?? {};
    (s[key] ??= []).push(v);
    samples.set(t.name, s);
  };
  const ec = targets.filter((t) => t.key === 'ec');
  const rsa = targets.filter((t) => t.key === 'rsa');
  for (const t of targets) wrk(t, '/1k.txt', false); // warm JIT, pools and caches
  for (let rep = 0; rep < REPS; rep++) {
    const order = <T>(xs: T[]) => (rep % 2 === 0 ? xs : [...xs].reverse());
    for (const t of order(ec)) {
      progress(`rep ${rep + 1}/${REPS}: ${t.label}, kept-alive h1 and h2 at 1 KiB, 64 KiB; ECDSA handshakes; resumed`);
      const small = wrk(t, '/1k.txt', false);
      add(t, 'h1_rps', small.rps);
      add(t, 'h1_p99', small.p99);
      add(t, 'h1_cpu', small.cpuUs);
      const big = wrk(t, '/64k.txt', false);
      add(t, 'h1_64k_rps', big.rps);
      add(t, 'h1_64k_p99', big.p99);
      add(t, 'h1_64k_cpu', big.cpuUs);
      for (const [key, path] of [['h2', '/1k.txt'], ['h2_64k', '/64k.txt']] as const) {
        const h2 = h2load(t, path);
        add(t, `${key}_rps`, h2.rps);
        add(t, `${key}_p99`, h2.p99);
        add(t, `${key}_cpu`, h2.cpuUs);
      }
      const full = wrk(t, '/1k.txt', true);
      add(t, 'full_ec', full.rps);
      add(t, 'full_ec_cpu', full.cpuUs);
      add(t, 'resumed', resumed(t));
    }
    for (const t of order(rsa)) {
      progress(`rep ${rep + 1}/${REPS}: ${t.label}, RSA-2048 handshakes`);
      const full = wrk(t, '/1k.txt', true);
      add(t, 'full_rsa', full.rps);
      add(t, 'full_rsa_cpu', full.cpuUs);
    }
  }
  const fig = (name: string, key: string) => median(samples.get(name)![key]);
  const rows: [string, string, number][] = [
    ['kept-alive h1 1 KiB', 'req/s', 0], ['  p99 ms', '', 0], ['  CPU µs/req', '', 0],
    ['kept-alive h1 64 KiB', 'req/s', 0], ['  p99 ms', '', 0], ['  CPU µs/req', '', 0],
    ['kept-alive h2 1 KiB', 'req/s', 0], ['  p99 ms', '', 0], ['  CPU µs/req', '', 0],
    ['kept-alive h2 64 KiB', 'req/s', 0], ['  p99 ms', '', 0], ['  CPU µs/req', '', 0],
    ['full handshakes/s, ECDSA P-256', '', 0], ['  CPU µs/handshake', '', 0], ['full handshakes/s, RSA-2048', '', 0], ['  CPU µs/handshake', '', 0], ['resumed handshakes/s (serial)', '', 0],
  ];
  const keys = ['h1_rps', 'h1_p99', 'h1_cpu', 'h1_64k_rps', 'h1_64k_p99', 'h1_64k_cpu', 'h2_rps', 'h2_p99', 'h2_cpu', 'h2_64k_rps', 'h2_64k_p99', 'h2_64k_cpu', 'full_ec', 'full_ec_cpu', 'full_rsa', 'full_rsa_cpu', 'resumed'];
  console.log(`TLS termination, wrk -t1 -c64 (h1), h2load -t1 -c8 -m8 (h2), median of ${REPS} alternating runs of ${SECONDS} s, two nginx back-ends`);
  console.log(`${'figure'.padEnd(34)}${'front'.padStart(10)}${'HAProxy'.padStart(10)}${'× HAProxy'.padStart(11)}${'nginx'.padStart(10)}${'× nginx'.padStart(9)}${'floor'.padStart(10)}${'floor × HAProxy'.padStart(17)}`);
  rows.forEach(([label], i) => {
    const k = keys[i];
    const [f, h, n, fl] = ['front', 'haproxy', 'nginx', 'floor'].map((t) => fig(t, k));
    const shown = (x: number) => x.toFixed(k.endsWith('p99') ? 2 : 0);
    console.log(`${label.padEnd(34)}${shown(f).padStart(10)}${shown(h).padStart(10)}${(f / h).toFixed(2).padStart(11)}${shown(n).padStart(10)}${(f / n).toFixed(2).padStart(9)}${shown(fl).padStart(10)}${(fl / h).toFixed(2).padStart(17)}`);
  });
  const opensslHaproxy = spawnSync('haproxy', ['-vv'], { encoding: 'utf8' }).stdout.match(/Running on OpenSSL version : ([^\n]+)/)?.[1] ?? '?';
  const opensslNginx = spawnSync('nginx', ['-V'], { encoding: 'utf8' }).stderr.match(/built with OpenSSL ([^ \n]+)/)?.[1] ?? '?';
  console.log(`OpenSSL: front ${process.versions.openssl}, HAProxy ${opensslHaproxy}, nginx ${opensslNginx}`);
  const r = (n: number) => Math.round(n);
  recordResult('tls', {
    tls_h1_rps: r(fig('front', 'h1_rps')), haproxy_tls_h1_rps: r(fig('haproxy', 'h1_rps')), nginx_tls_h1_rps: r(fig('nginx', 'h1_rps')),
    tls_h1_p99_ms: fig('front', 'h1_p99'), haproxy_tls_h1_p99_ms: fig('haproxy', 'h1_p99'),
    tls_h1_64k_rps: r(fig('front', 'h1_64k_rps')), haproxy_tls_h1_64k_rps: r(fig('haproxy', 'h1_64k_rps')), nginx_tls_h1_64k_rps: r(fig('nginx', 'h1_64k_rps')),
    tls_h1_cpu_us: +fig('front', 'h1_cpu').toFixed(1), haproxy_tls_h1_cpu_us: +fig('haproxy', 'h1_cpu').toFixed(1), nginx_tls_h1_cpu_us: +fig('nginx', 'h1_cpu').toFixed(1),
    tls_h2_rps: r(fig('front', 'h2_rps')), haproxy_tls_h2_rps: r(fig('haproxy', 'h2_rps')), nginx_tls_h2_rps: r(fig('nginx', 'h2_rps')),
    tls_h2_p99_ms: fig('front', 'h2_p99'), haproxy_tls_h2_p99_ms: fig('haproxy', 'h2_p99'), nginx_tls_h2_p99_ms: fig('nginx', 'h2_p99'),
    tls_h2_64k_rps: r(fig('front', 'h2_64k_rps')), haproxy_tls_h2_64k_rps: r(fig('haproxy', 'h2_64k_rps')), nginx_tls_h2_64k_rps: r(fig('nginx', 'h2_64k_rps')),
    tls_h2_cpu_us: +fig('front', 'h2_cpu').toFixed(1), haproxy_tls_h2_cpu_us: +fig('haproxy', 'h2_cpu').toFixed(1), nginx_tls_h2_cpu_us: +fig('nginx', 'h2_cpu').toFixed(1),
    tls_full_handshakes_per_s: r(fig('front', 'full_ec')), haproxy_tls_full_handshakes_per_s: r(fig('haproxy', 'full_ec')), nginx_tls_full_handshakes_per_s: r(fig('nginx', 'full_ec')),
    tls_full_rsa_handshakes_per_s: r(fig('front', 'full_rsa')), haproxy_tls_full_rsa_handshakes_per_s: r(fig('haproxy', 'full_rsa')), nginx_tls_full_rsa_handshakes_per_s: r(fig('nginx', 'full_rsa')),
    tls_full_handshake_cpu_us: r(fig('front', 'full_ec_cpu')), haproxy_tls_full_handshake_cpu_us: r(fig('haproxy', 'full_ec_cpu')), nginx_tls_full_handshake_cpu_us: r(fig('nginx', 'full_ec_cpu')),
    tls_full_rsa_handshake_cpu_us: r(fig('front', 'full_rsa_cpu')), haproxy_tls_full_rsa_handshake_cpu_us: r(fig('haproxy', 'full_rsa_cpu')), nginx_tls_full_rsa_handshake_cpu_us: r(fig('nginx', 'full_rsa_cpu')),
    floor_tls_h1_rps: r(fig('floor', 'h1_rps')), floor_tls_h1_cpu_us: +fig('floor', 'h1_cpu').toFixed(1), floor_tls_h2_rps: r(fig('floor', 'h2_rps')), floor_tls_h2_cpu_us: +fig('floor', 'h2_cpu').toFixed(1),
    floor_tls_full_handshakes_per_s: r(fig('floor', 'full_ec')), floor_tls_full_handshake_cpu_us: r(fig('floor', 'full_ec_cpu')), floor_tls_full_rsa_handshakes_per_s: r(fig('floor', 'full_rsa')),
    tls_resumed_per_s: r(fig('front', 'resumed')), haproxy_tls_resumed_per_s: r(fig('haproxy', 'resumed')), nginx_tls_resumed_per_s: r(fig('nginx', 'resumed')),
    reps: REPS, seconds: SECONDS,
  }, {
    wrk: commandVersion('wrk'), h2load: commandVersion('h2load', ['--version']), haproxy: commandVersion('haproxy'), nginx: commandVersion('nginx'), openssl_front: process.versions.openssl,
    openssl_haproxy: opensslHaproxy,
    openssl_nginx: opensslNginx,
  });
} finally {
  for (const p of procs) p.kill('SIGTERM');
  await new Promise((res) => setTimeout(res, 300));
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
