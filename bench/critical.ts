// Benchmark: critical messages. Round trip with the peer up (durable on both ends),
// the outbox drain rate when a peer returns to N queued messages, and as the peer on
// the same machine, NATS JetStream's publish-with-ack latency (if nats-server is here),
// with its default sync and with `sync_interval: always` (an fsync per message, as Cohort).
// Sizes: BENCH_CRITICAL_N (round trips), BENCH_DRAIN_N (queued messages, default 10,000).
// NATS_SERVER: the nats-server binary (sync_interval needs 2.10+; Debian bookworm has 2.9,
// so by default the bench takes Debian trixie's into a cache: bench/peers/nats-server.ts).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OutboxPeerStatus } from '../src/critical/critical-service.ts';
import { TestCluster } from '../test/harness/cluster.ts';
import { natsServer } from './peers/nats-server.ts';
import { freePorts } from '../test/harness/ports.ts';
import { waitFor } from '../test/harness/wait.ts';
import { percentile, progress as report, sequentialLatencies } from './stats.ts';
import { commandVersion, packageVersion, recordResult } from './results.ts';

const N = Number(process.env.BENCH_CRITICAL_N ?? 2000);
const DRAIN_N = Number(process.env.BENCH_DRAIN_N ?? 10_000);
const progress = (msg: string) => report('bench:critical', msg);

const NATS_SERVER = natsServer(progress);

/**
 * Publish-with-ack latencies on a nats-server of our own, on a free port, with its file
 * store in a temporary folder. syncAlways: `sync_interval: always`, an fsync per message
 * as Cohort does (the default syncs every 2 minutes). Returns why when it cannot run.
 */
async function jetstreamLatencies(n: number, syncAlways: boolean): Promise<number[] | string> {
  const version = spawnSync(NATS_SERVER, ['--version'], { encoding: 'utf8' });
  if (version.error) return `${NATS_SERVER} not installed (Debian: apt-get install nats-server)`;
  const [port] = await freePorts(1);
  const store = mkdtempSync(join(tmpdir(), 'cohort-js-'));
  const config = join(store, 'nats.conf');
  writeFileSync(config, `listen: "127.0.0.1:${port}"\njetstream {\n  store_dir: ${JSON.stringify(join(store, 'js'))}\n${syncAlways ? '  sync_interval: always\n' : ''}}\n`);
  const check = spawnSync(NATS_SERVER, ['-c', config, '-t'], { encoding: 'utf8' });
  if (check.status !== 0) {
    rmSync(store, { recursive: true, force: true });
    return `${version.stdout.trim()} refuses the config (${(check.stderr || check.stdout).trim().split('\n').at(-1)!.replace(/^.*?:\d+:\d+: /, '')}); sync_interval needs 2.10+ (NATS_SERVER=path)`;
  }
  const server = spawn(NATS_SERVER, ['-c', config], { stdio: 'ignore' });
  try {
    const { connect } = await import('@nats-io/transport-node');
    const { jetstream, jetstreamManager } = await import('@nats-io/jetstream');
    const nc = await waitFor('nats-server to accept connections', () => connect({ servers: `127.0.0.1:${port}` }), 10_000, 50);
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'bench', subjects: ['bench.>'] });
    const js = jetstream(nc);
    const payload = JSON.stringify({ stream: 'bench', entry: { n: 1 } });
    for (let i = 0; i < 500; i++) await js.publish('bench.x', payload);
    const samples = await sequentialLatencies(n, () => js.publish('bench.x', payload));
    await nc.close();
    return samples;
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    rmSync(store, { recursive: true, force: true });
  }
}

const cluster = await TestCluster.create([{ id: 'A' }, { id: 'B' }], { critical: { retries: 0, waitMs: 200 } });
try {
  progress('starting two nodes');
  await cluster.startAll();
  await waitFor('links up', () => cluster.linksUp());
  const client = await cluster.client('A');
  const send = (n: number) => client.critical('B', 'journal.append', { stream: 'bench', entry: { n } });
  for (let i = 0; i < 300; i++) await send(i);

  progress(`${N} critical round trips A -> B, one at a time (outbox fsync on A, inbox + effect fsync on B)`);
  let i = 0;
  const critical = await sequentialLatencies(N, async () => {
    const r = await send(i++);
    if (r.status !== 'ok') throw new Error(`expected ok, got ${r.status}`);
  });

  progress(`B down: queueing ${DRAIN_N} messages on A`);
  await cluster.kill('B');
  let queued = 0;
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (queued < DRAIN_N) {
      queued++;
      const r = await send(queued);
      if (r.status !== 'delayed') throw new Error(`expected delayed, got ${r.status}`);
    }
  }));
  const depth = async () => ((await client.call('A', 'outbox.status')) as { peers: OutboxPeerStatus[] }).peers.find((p) => p.peer === 'B')!.depth;
  if ((await depth()) !== DRAIN_N) throw new Error('the outbox does not hold every queued message');
  progress('B back: timing the drain');
  await cluster.start('B');
  await waitFor('the outbox drained', async () => (await depth()) === 0, 120_000, 5);
  const drainedAt = Date.now();
  const readyLine = cluster.log('B').split('\n').filter((l) => l.includes('"node_ready"')).at(-1)!;
  const drainSeconds = (drainedAt - Date.parse(JSON.parse(readyLine).time)) / 1000;
  const drainPerS = Math.round(DRAIN_N / drainSeconds);

  progress(`${N} JetStream publishes with ack (default sync), then ${N} with sync_interval: always`);
  const js = await jetstreamLatencies(N, false);
  const jsSync = await jetstreamLatencies(N, true);

  const p50 = percentile(critical, 50);
  console.log('critical messages, 2 nodes on 127.0.0.1');
  console.log(`${'what'.padEnd(52)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}${'× critical'.padStart(12)}`);
  console.log(`${'Cohort critical round trip (ok from the peer)'.padEnd(52)}${p50.toFixed(3).padStart(10)}${percentile(critical, 99).toFixed(3).padStart(10)}${'1.0'.padStart(12)}`);
  const row = (what: string, samples: number[] | string) => {
    if (typeof samples === 'string') return console.log(`${what.padEnd(52)}  skipped: ${samples}`);
    const j50 = percentile(samples, 50);
    console.log(`${what.padEnd(52)}${j50.toFixed(3).padStart(10)}${percentile(samples, 99).toFixed(3).padStart(10)}${(j50 / p50).toFixed(2).padStart(12)}`);
  };
  row('NATS JetStream publish with ack (file store)', js);
  row('  same, sync_interval: always (fsync per message)', jsSync);
  console.log(`outbox drain: ${DRAIN_N} messages in ${drainSeconds.toFixed(2)} s after the peer came back = ${drainPerS} messages/s`);
  recordResult('critical', {
      critical_p50_ms: +p50.toFixed(4),
      critical_p99_ms: +percentile(critical, 99).toFixed(4),
      drain_per_s: drainPerS,
      drain_n: DRAIN_N,
      ...(typeof js === 'string' ? {} : { jetstream_p50_ms: +percentile(js, 50).toFixed(4), jetstream_p99_ms: +percentile(js, 99).toFixed(4) }),
      // null (with the reason) when this nats-server cannot fsync every message.
      ...(typeof jsSync === 'string'
        ? { jetstream_sync_p50_ms: null, jetstream_sync_skipped: jsSync }
        : { jetstream_sync_p50_ms: +percentile(jsSync, 50).toFixed(4), jetstream_sync_p99_ms: +percentile(jsSync, 99).toFixed(4) }),
    }, { 'nats-server': commandVersion('nats-server', ['--version']), '@nats-io/jetstream': packageVersion('@nats-io/jetstream') });
} finally {
  await cluster.destroy();
}
