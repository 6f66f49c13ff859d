// Benchmark: resource replication (src/replication) against its peers, in one run. Node A
// (library) is the home of author ann; BENCH_REPLICATION_NODES access nodes (10) copy from it.
//   first access: the first GET of a 1 MB resource on an access node (home lookup already
//     cached, subscribe at A, raw bytes over TLS, digest check, then served: a copy this small
//     is synced, renamed and recorded after the answer),
//     against a plain GET of the same resource from A's own file (the limit; target ≤ 1.5×);
//   herd: 50 concurrent first GETs of a fresh 1 MB resource on one access node (one transfer),
//     against two caching proxies before A, each told to cache A's answers: nginx with
//     proxy_cache_lock on (its waiters look again every 500 ms) at its default lock timeout (5 s)
//     and at 50 ms (past it a waiter goes to the origin itself), and Varnish (its waiting list
//     wakes the waiters when the object arrives): p50, max, and how many requests reached A
//     (targets: Cohort's p50 ≤ 0.5× nginx's at 5 s, and ≤ Varnish's);
//   copy served: wrk -t1 -c32 on an access node's copy of a 64 KiB resource, against nginx
//     (1 worker, sendfile) serving the same bytes as a static file;
//   fan-out: from the start of a publish on A until every access node (all subscribed) serves
//     the new version, each polled with HEAD every 2 ms (the nodes' own log times beside it).
// Every body is checked (length and sha256, after the clock stops): a failure cannot look fast.
// Sizes: BENCH_REPLICATION_REPS (3: fresh resources each, order alternated, medians),
// BENCH_REPLICATION_SECONDS (wrk run, 5), BENCH_REPLICATION_NODES (access nodes, 10).
// Needs: apt-get install -y wrk nginx-light varnish (installed here when missing, as root).
import { ensureDebianTools } from './peers/debian.ts';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestCluster } from '../test/harness/cluster.ts';
import { freePorts } from '../test/harness/ports.ts';
import { waitFor } from '../test/harness/wait.ts';
import { percentile, progress as report, median } from './stats.ts';
import { commandVersion, recordResult } from './results.ts';

const REPS = Number(process.env.BENCH_REPLICATION_REPS ?? 3);
const SECONDS = Number(process.env.BENCH_REPLICATION_SECONDS ?? 5);
const NODES = Number(process.env.BENCH_REPLICATION_NODES ?? 10);
const BIG = 1024 * 1024;
const SMALL = 64 * 1024;
const HERD = 50;
const FIRSTS = 10;
const progress = (msg: string) => report('bench:replication', msg);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


interface Reply { status: number; headers: IncomingHttpHeaders; body: Buffer; ms: number }
interface Res { url: string; bytes: Buffer; digest: string; version: number }

/** One request; ms runs from the call to the last byte. */
function get(port: number, path: string, opts: { method?: string; agent?: Agent } = {}): Promise<Reply> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', agent: opts.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), ms: performance.now() - started }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The reply's time, once its body is the resource's (length and sha256). */
function checked(r: Reply, res: Res, what: string, source?: string): number {
  if (r.status !== 200 || r.body.length !== res.bytes.length || sha(r.body) !== res.digest) {
    throw new Error(`${what}: ${r.status}, ${r.body.length} bytes, not ${res.url} as published: ${r.body.subarray(0, 200).toString()}`);
  }
  if (source && r.headers['x-cohort-source'] !== source) throw new Error(`${what}: served as ${String(r.headers['x-cohort-source'])}, not ${source}`);
  return r.ms;
}

interface Herd { p50: number; max: number; cache: string; origin: number }

/** HERD concurrent GETs of one resource: p50 and max latency, how the peer's cache answered, how many went to the origin (a peer's MISS). */
async function herd(port: number, res: Res, what: string): Promise<Herd> {
  const replies = await Promise.all(Array.from({ length: HERD }, () => get(port, res.url)));
  const ms = replies.map((r) => checked(r, res, what)).sort((a, b) => a - b);
  const counts = new Map<string, number>();
  for (const r of replies) {
    const k = String(r.headers['x-cache-status'] ?? r.headers['x-cohort-source']);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return { p50: percentile(ms, 50), max: ms[ms.length - 1], cache: [...counts].map(([k, n]) => `${k}×${n}`).join(' '), origin: counts.get('MISS') ?? 0 };
}

/** wrk's requests/s; throws on error answers or bodies shorter than `bytes`. */
function wrk(url: string, seconds: number, bytes: number): number {
  const out = execFileSync('wrk', ['-t1', '-c32', `-d${seconds}s`, url], { encoding: 'utf8' });
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (errors) throw new Error(`${url}: ${errors[1]} error responses\n${out}`);
  const [, n, size, unit] = /(\d+) requests in [\d.]+\w+, ([\d.]+)(B|KB|MB|GB) read/.exec(out)!;
  const read = Number(size) * 1024 ** ['B', 'KB', 'MB', 'GB'].indexOf(unit);
  if (read < Number(n) * bytes * 0.99) throw new Error(`${url}: ${read} bytes read for ${n} requests of ${bytes}\n${out}`);
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]);
}

ensureDebianTools('bench:replication', { wrk: 'wrk', nginx: 'nginx-light', varnishd: 'varnish' });
const access = Array.from({ length: NODES }, (_, i) => `N${i + 1}`);
const cluster = await TestCluster.create([{ id: 'A', role: 'library' }, ...access.map((id) => ({ id, role: 'access' as const }))]);
const dir = mkdtempSync(join(tmpdir(), 'cohort-bench-replication-'));
const procs: ChildProcess[] = [];
const agent = new Agent({ keepAlive: true, maxSockets: 4 });
try {
  progress(`starting A and ${NODES} access nodes`);
  await cluster.startAll({ logLevel: 'info' }); // as in production (tests log at debug)
  await waitFor('links up', () => cluster.linksUp(), 60_000, 200);
  const port = (id: string) => cluster.table.nodes.find((n) => n.id === id)!.httpPort;
  const client = await cluster.client('A');
  await client.auth.addUser({ domain: 'msu', user: 'ann' }, 'A', 'ann password');
  let files = 0;
  const publish = async (url: string, bytes: Buffer): Promise<Res> => {
    const file = join(dir, `publish-${files++}`);
    writeFileSync(file, bytes);
    const out = (await client.call('A', 'res.publish', { url, file })) as { digest: string; version: number };
    if (out.digest !== sha(bytes)) throw new Error(`${url}: published as ${out.digest}`);
    return { url, bytes, digest: out.digest, version: out.version };
  };

  // nginx (1 worker each): caching proxies before A (lock timeouts 5 s and 50 ms), and a static
  // server of the 64 KiB file; Varnish before A.
  const [cachePort, cache50Port, staticPort, varnishPort] = await freePorts(4);
  chmodSync(dir, 0o755); // nginx's workers run as an unprivileged user
  mkdirSync(join(dir, 'www'), { mode: 0o755 });
  const nginx = (name: string, body: string) => {
    const conf = join(dir, `${name}.conf`);
    writeFileSync(conf, `worker_processes 1; daemon off; pid ${dir}/${name}.pid; error_log ${dir}/${name}.err;\nevents { worker_connections 4096; }\nhttp { access_log off; sendfile on; keepalive_requests 100000000; proxy_temp_path ${dir}/${name}-tmp; ${body} }\n`);
    const p = spawn('nginx', ['-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
    procs.push(p);
  };
  // A answers the newest version with Cache-Control: no-cache; the proxies are told to cache it anyway.
  const cacheProxy = (name: string, listen: number, lockTimeout: string) => nginx(name, `proxy_cache_path ${dir}/${name}-cache levels=1:2 keys_zone=${name}:10m use_temp_path=off; server { listen 127.0.0.1:${listen}; location / { proxy_pass http://127.0.0.1:${port('A')}; proxy_cache ${name}; proxy_cache_valid 200 10m; proxy_cache_lock on; proxy_cache_lock_timeout ${lockTimeout}; proxy_ignore_headers Cache-Control Expires; add_header X-Cache-Status $upstream_cache_status; } }`);
  cacheProxy('cache', cachePort, '5s');
  cacheProxy('cache50', cache50Port, '50ms');
  // Varnish as its docs set up a cache before one back-end (malloc storage), its built-in
  // waiting list on; the TTL set as nginx's proxy_cache_valid (A's no-cache overridden).
  writeFileSync(join(dir, 'herd.vcl'), `vcl 4.1;\nbackend a { .host = "127.0.0.1"; .port = "${port('A')}"; }\nsub vcl_backend_response { set beresp.ttl = 10m; return (deliver); }\nsub vcl_deliver { if (obj.hits > 0) { set resp.http.X-Cache-Status = "HIT"; } else { set resp.http.X-Cache-Status = "MISS"; } }\n`);
  procs.push(spawn('varnishd', ['-F', '-n', join(dir, 'varnish'), '-a', `127.0.0.1:${varnishPort}`, '-f', join(dir, 'herd.vcl'), '-s', 'malloc,256m'], { stdio: ['ignore', 'ignore', 'inherit'] }));
  nginx('static', `server { listen 127.0.0.1:${staticPort}; location / { root ${dir}/www; } }`);

  const PEERS = ['nginx', 'nginx50', 'varnish'] as const;
  progress(`publishing ${FIRSTS + (1 + PEERS.length) * REPS} resources of 1 MB and two of 64 KiB on A`);
  const firsts: Res[] = [];
  for (let i = 0; i < FIRSTS; i++) firsts.push(await publish(`/res/msu/ann/bench/first-${i}.bin`, randomBytes(BIG)));
  const herds: Res[] = [];
  for (let i = 0; i < (1 + PEERS.length) * REPS; i++) herds.push(await publish(`/res/msu/ann/bench/herd-${i}.bin`, randomBytes(BIG)));
  const copy = await publish('/res/msu/ann/bench/copy.bin', randomBytes(SMALL));
  writeFileSync(join(dir, 'www', 'copy.bin'), copy.bytes, { mode: 0o644 });
  let fan = await publish('/res/msu/ann/bench/fan.bin', randomBytes(SMALL));
  // Every access node subscribes to the fan-out resource (and so has its home lookup cached).
  for (const id of access) checked(await get(port(id), fan.url), fan, `${id} first GET`, 'replicated');
  await waitFor('nginx and Varnish to serve', async () => {
    if ((await get(staticPort, '/copy.bin')).status !== 200) return false;
    for (const p of [cachePort, cache50Port, varnishPort]) if ((await get(p, '/').catch(() => ({ status: 0 }))).status !== 404) return false;
    return true;
  }, 20_000, 100);

  progress(`first access: ${FIRSTS} resources of 1 MB, each on ${access[0]} and then from A`);
  const cohortFirst: number[] = [];
  const plainFirst: number[] = [];
  for (const r of firsts) {
    cohortFirst.push(checked(await get(port(access[0]), r.url), r, `${access[0]} first access`, 'replicated'));
    plainFirst.push(checked(await get(port('A'), r.url), r, 'A, plain', 'home'));
  }

  // Each herd on a resource of its own (nothing cached yet anywhere); the order turns every rep.
  const herdPorts = { nginx: cachePort, nginx50: cache50Port, varnish: varnishPort };
  const herdLabels = { cohort: 'Cohort', nginx: 'nginx, lock timeout 5 s', nginx50: 'nginx, lock timeout 50 ms', varnish: 'Varnish' };
  const herdsBy: Record<'cohort' | (typeof PEERS)[number], Herd[]> = { cohort: [], nginx: [], nginx50: [], varnish: [] };
  const transfersOf = (id: string, url: string) => cluster.log(id).split('\n').filter((l) => l.includes('"event":"resource_replicated"') && l.includes(`"url":"${url}"`)).length;
  for (let rep = 0; rep < REPS; rep++) {
    const node = access[(rep + 1) % access.length];
    const runs = (['cohort', ...PEERS] as const).map((who, i) => async () => {
      const res = herds[(1 + PEERS.length) * rep + i];
      const h = await herd(who === 'cohort' ? port(node) : herdPorts[who], res, `${herdLabels[who]} herd`);
      // Cohort's requests to the home: its transfers (from the node's log, once the copy is stored).
      if (who === 'cohort') h.origin = await waitFor(`${node} to log its copy`, () => transfersOf(node, res.url) || undefined, 10_000, 20);
      herdsBy[who].push(h);
      progress(`rep ${rep + 1}/${REPS}: herd of ${HERD} on ${who === 'cohort' ? node : herdLabels[who]}: p50 ${h.p50.toFixed(1)} ms, max ${h.max.toFixed(1)} ms, ${h.origin} to the origin (${h.cache})`);
    });
    for (let i = 0; i < runs.length; i++) await runs[(i + rep) % runs.length]();
  }
  const herdFig = (who: keyof typeof herdsBy, key: 'p50' | 'max' | 'origin') => median(herdsBy[who].map((h) => h[key]));

  const copyNode = access[0];
  checked(await get(port(copyNode), copy.url), copy, `${copyNode} first GET`, 'replicated');
  // A first access is answered once the bytes are checked; the copy is stored just after.
  await waitFor(`${copyNode} to store its copy`, async () => (await get(port(copyNode), copy.url, { method: 'HEAD' })).headers['x-cohort-source'] === 'copy', 10_000, 20);
  checked(await get(port(copyNode), copy.url), copy, `${copyNode} copy`, 'copy');
  checked(await get(staticPort, '/copy.bin'), copy, 'nginx static');
  const served = [
    { label: `${copyNode}'s copy`, url: `http://127.0.0.1:${port(copyNode)}${copy.url}`, rps: [] as number[] },
    { label: 'nginx static', url: `http://127.0.0.1:${staticPort}/copy.bin`, rps: [] as number[] },
  ];
  for (let rep = 0; rep < REPS; rep++) {
    for (const t of rep % 2 === 0 ? served : [...served].reverse()) {
      progress(`rep ${rep + 1}/${REPS}: wrk -t1 -c32 ${SECONDS} s on ${t.label}`);
      wrk(t.url, 1, SMALL); // warm-up: connections, JIT, page cache
      t.rps.push(wrk(t.url, SECONDS, SMALL));
    }
  }

  const fanMs: number[] = [];
  const fanLogMs: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    const next = randomBytes(SMALL);
    const file = join(dir, `fan-${rep}`);
    writeFileSync(file, next);
    const version = fan.version + 1;
    const wallStart = Date.now();
    const started = performance.now();
    const published = client.call('A', 'res.publish', { url: fan.url, file }) as Promise<{ version: number; notified: { node: string; status: string }[] }>;
    const times = await Promise.all(access.map(async (id) => {
      while (performance.now() - started < 30_000) {
        const r = await get(port(id), fan.url, { method: 'HEAD', agent });
        if (Number(r.headers['x-cohort-version']) >= version) return performance.now() - started;
        await sleep(2);
      }
      throw new Error(`${id} did not serve version ${version} of ${fan.url} within 30 s`);
    }));
    const out = await published;
    if (out.version !== version || out.notified.filter((n) => n.status === 'ok').length !== NODES) throw new Error(`publish: ${JSON.stringify(out)}`);
    fan = { url: fan.url, bytes: next, digest: sha(next), version };
    for (const id of access) checked(await get(port(id), fan.url), fan, `${id} after the publish`, 'copy');
    fanMs.push(Math.max(...times));
    // The same from the nodes' logs (their resource_updated lines): what the polling costs.
    const updatedAt = (id: string) => cluster.log(id).split('\n').filter((l) => l.includes('"event":"resource_updated"'))
      .map((l) => JSON.parse(l) as { url: string; version: number; time: string }).find((e) => e.url === fan.url && e.version === version);
    const logged = await waitFor('every node to log the update', () => {
      const seen = access.map(updatedAt);
      return seen.every(Boolean) ? seen.map((e) => Date.parse(e!.time)) : undefined;
    }, 5000);
    fanLogMs.push(Math.max(...logged) - wallStart);
    progress(`rep ${rep + 1}/${REPS}: publish to ${NODES} subscribers serving it: ${fanMs[rep].toFixed(1)} ms (logs: ${fanLogMs[rep]} ms)`);
  }

  const fig = {
    cohort_first_ms: median(cohortFirst), plain_first_ms: median(plainFirst),
    herd_p50_ms: herdFig('cohort', 'p50'), herd_max_ms: herdFig('cohort', 'max'),
    nginx_herd_p50_ms: herdFig('nginx', 'p50'), nginx_herd_max_ms: herdFig('nginx', 'max'),
    nginx_herd_50ms_p50_ms: herdFig('nginx50', 'p50'), nginx_herd_50ms_max_ms: herdFig('nginx50', 'max'),
    varnish_herd_p50_ms: herdFig('varnish', 'p50'), varnish_herd_max_ms: herdFig('varnish', 'max'),
    copy_rps: Math.round(median(served[0].rps)), nginx_static_rps: Math.round(median(served[1].rps)),
    fanout_ms: median(fanMs), fanout_log_ms: median(fanLogMs),
  };
  const row = (what: string, cohort: number, peer: string, peerValue: number, target: string) => console.log(`${what.padEnd(44)}${cohort.toFixed(1).padStart(10)}${Number.isNaN(peerValue) ? '-'.padStart(10) : peerValue.toFixed(1).padStart(10)}${Number.isNaN(peerValue) ? '-'.padStart(8) : (cohort / peerValue).toFixed(2).padStart(8)}  ${target.padEnd(7)} ${peer}`);
  console.log(`resource replication: A (home) and ${NODES} access nodes; medians of ${REPS} reps (first access: of ${FIRSTS} resources)`);
  console.log(`${'measure'.padEnd(44)}${'Cohort'.padStart(10)}${'peer'.padStart(10)}${'ratio'.padStart(8)}  ${'target'.padEnd(7)} peer`);
  row('first access, 1 MB, ms', fig.cohort_first_ms, 'plain GET from the home node (the limit)', fig.plain_first_ms, '≤ 1.5');
  row(`${HERD} concurrent first GETs, 1 MB, p50 ms`, fig.herd_p50_ms, 'nginx caching proxy, proxy_cache_lock on, lock timeout 5 s (default)', fig.nginx_herd_p50_ms, '≤ 0.5');
  row(`${HERD} concurrent first GETs, 1 MB, max ms`, fig.herd_max_ms, 'nginx caching proxy, proxy_cache_lock on, lock timeout 5 s (default)', fig.nginx_herd_max_ms, '');
  row(`${HERD} concurrent first GETs, 1 MB, p50 ms`, fig.herd_p50_ms, 'nginx caching proxy, proxy_cache_lock on, lock timeout 50 ms', fig.nginx_herd_50ms_p50_ms, '');
  row(`${HERD} concurrent first GETs, 1 MB, max ms`, fig.herd_max_ms, 'nginx caching proxy, proxy_cache_lock on, lock timeout 50 ms', fig.nginx_herd_50ms_max_ms, '');
  row(`${HERD} concurrent first GETs, 1 MB, p50 ms`, fig.herd_p50_ms, 'Varnish (waiting list)', fig.varnish_herd_p50_ms, '≤ 1');
  row(`${HERD} concurrent first GETs, 1 MB, max ms`, fig.herd_max_ms, 'Varnish (waiting list)', fig.varnish_herd_max_ms, '');
  console.log(`requests of a herd that reached the home (medians): Cohort ${herdFig('cohort', 'origin')}, nginx 5 s ${herdFig('nginx', 'origin')}, nginx 50 ms ${herdFig('nginx50', 'origin')}, Varnish ${herdFig('varnish', 'origin')}`);
  row('copy served, 64 KiB, wrk -t1 -c32, req/s', fig.copy_rps, 'nginx static file (1 worker, sendfile)', fig.nginx_static_rps, '');
  row(`publish to ${NODES} subscribers serving it, ms`, fig.fanout_ms, '', NaN, '');
  console.log(`fan-out from the nodes' logs (no polling): ${fig.fanout_log_ms} ms; first access counts a cached home lookup`);
  recordResult('replication', {
    first_access_ratio: +(fig.cohort_first_ms / fig.plain_first_ms).toFixed(2), cohort_first_ms: +fig.cohort_first_ms.toFixed(2), plain_first_ms: +fig.plain_first_ms.toFixed(2),
    herd_p50_ms: +fig.herd_p50_ms.toFixed(1), herd_max_ms: +fig.herd_max_ms.toFixed(1), nginx_herd_p50_ms: +fig.nginx_herd_p50_ms.toFixed(1), nginx_herd_max_ms: +fig.nginx_herd_max_ms.toFixed(1),
    nginx_herd_50ms_p50_ms: +fig.nginx_herd_50ms_p50_ms.toFixed(1), nginx_herd_50ms_max_ms: +fig.nginx_herd_50ms_max_ms.toFixed(1),
    varnish_herd_p50_ms: +fig.varnish_herd_p50_ms.toFixed(1), varnish_herd_max_ms: +fig.varnish_herd_max_ms.toFixed(1),
    herd_p50_ratio: +(fig.herd_p50_ms / fig.nginx_herd_p50_ms).toFixed(2), herd_nginx_50ms_p50_ratio: +(fig.herd_p50_ms / fig.nginx_herd_50ms_p50_ms).toFixed(2), herd_varnish_p50_ratio: +(fig.herd_p50_ms / fig.varnish_herd_p50_ms).toFixed(2),
    herd_origin_requests: herdFig('cohort', 'origin'), nginx_herd_origin_requests: herdFig('nginx', 'origin'), nginx_herd_50ms_origin_requests: herdFig('nginx50', 'origin'), varnish_herd_origin_requests: herdFig('varnish', 'origin'), copy_rps: fig.copy_rps, nginx_static_rps: fig.nginx_static_rps, copy_ratio: +(fig.copy_rps / fig.nginx_static_rps).toFixed(2),
    [`fanout_${NODES}_ms`]: +fig.fanout_ms.toFixed(1), fanout_log_ms: fig.fanout_log_ms,
    first_bytes: BIG, herd_bytes: BIG, herd_requests: HERD, copy_bytes: SMALL, fanout_bytes: SMALL, access_nodes: NODES, reps: REPS, seconds: SECONDS,
  }, { nginx: commandVersion('nginx'), varnish: commandVersion('varnishd', ['-V']), wrk: commandVersion('wrk') });
} finally {
  agent.destroy();
  for (const p of procs) p.kill('SIGTERM');
  await sleep(300);
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  await cluster.destroy();
  rmSync(dir, { recursive: true, force: true });
}
