// Benchmark: critical messages, each compared with NATS JetStream doing the same work on the
// same machine (with its default sync, and with `sync_interval: always`: an fsync per message,
// as Cohort):
// - `ok`, the round trip with the peer up (durable in A's outbox, applied with its effect and
//   durable at B, answered) against a publish whose message a durable consumer receives,
//   commits its effect to SQLite (the node's own settings: WAL, synchronous=FULL) and acks,
//   timed to the server's confirmation of that ack;
// - `delayed`, the peer down (durable in A's outbox only) against a publish with its ack (durable
//   in the stream only);
// - the outbox drain rate when a peer returns to N queued messages.
// Sizes: BENCH_CRITICAL_N (round trips, 2,000), BENCH_DRAIN_N (queued messages, default 10,000;
// at least BENCH_CRITICAL_N + 300, since the delayed run and its warm-up are among them).
// NATS_SERVER: the nats-server binary (sync_interval needs 2.10+; Debian bookworm has 2.9,
// so by default the bench takes Debian trixie's into a cache: bench/peers/nats-server.ts).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OutboxPeerStatus } from '../src/critical/critical-service.ts';
import { TestCluster } from '../test/harness/cluster.ts';
import { natsServer } from './peers/nats-server.ts';
import { openNodeDatabase } from '../src/store/database.ts';
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
async function jetstreamLatencies(n: number, syncAlways: boolean, endToEnd: boolean): Promise<number[] | string> {
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
    if (!endToEnd) {
      for (let i = 0; i < 500; i++) await js.publish('bench.x', payload);
      const samples = await sequentialLatencies(n, () => js.publish('bench.x', payload));
      await nc.close();
      return samples;
    }
    // The consumer's effect: the message applied and its sequence kept (once only), in one
    // transaction of a database like the node's, then the ack, confirmed by the server.
    const { AckPolicy } = await import('@nats-io/jetstream');
    await jsm.consumers.add('bench', { durable_name: 'effect', ack_policy: AckPolicy.Explicit });
    const messages = await (await js.consumers.get('bench', 'effect')).consume({ max_messages: 16 });
    const db = openNodeDatabase(store);
    db.exec('CREATE TABLE effect (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)');
    const apply = db.prepare('INSERT OR IGNORE INTO effect (seq, body) VALUES (?, ?)');
    let acked: (() => void) | undefined;
    const consuming = (async () => {
      for await (const m of messages) {
        db.exec('BEGIN');
        apply.run(m.seq, m.string());
        db.exec('COMMIT');
        await m.ackAck();
        acked?.();
      }
    })();
    const once = async () => {
      const done = new Promise<void>((resolve) => (acked = resolve));
      await js.publish('bench.x', payload);
      await done;
    };
    for (let i = 0; i < 300; i++) await once();
    const samples = await sequentialLatencies(n, once);
    messages.stop();
    await consuming;
    db.close();
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

  progress(`B down: ${N} messages one at a time (delayed: durable in A's outbox), then up to ${DRAIN_N} queued`);
  if (DRAIN_N < N + 300) throw new Error(`BENCH_DRAIN_N (${DRAIN_N}) must be at least BENCH_CRITICAL_N + 300 (${N + 300})`);
  await cluster.kill('B');
  let queued = 0;
  const queue = async () => {
    const r = await send(++queued);
    if (r.status !== 'delayed') throw new Error(`expected delayed, got ${r.status}`);
  };
  // Warmed up as the round trips were (and past A's noticing that B is gone), then timed.
  for (let w = 0; w < 300; w++) await queue();
  const delayed = await sequentialLatencies(N, queue);
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (queued < DRAIN_N) await queue();
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

  progress(`JetStream, ${N} of each: publish with ack, then publish to a consumer's confirmed ack; default sync, then sync_interval: always`);
  const js = await jetstreamLatencies(N, false, false);
  const jsSync = await jetstreamLatencies(N, true, false);
  const jsE2e = await jetstreamLatencies(N, false, true);
  const jsE2eSync = await jetstreamLatencies(N, true, true);

  console.log('critical messages, 2 nodes on 127.0.0.1, each beside NATS JetStream doing the same work');
  console.log(`${'what'.padEnd(72)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}${'× Cohort'.padStart(10)}`);
  const row = (what: string, samples: number[] | string, cohort: number[]) => {
    if (typeof samples === 'string') return console.log(`${what.padEnd(72)}  skipped: ${samples}`);
    console.log(`${what.padEnd(72)}${percentile(samples, 50).toFixed(3).padStart(10)}${percentile(samples, 99).toFixed(3).padStart(10)}${(percentile(samples, 50) / percentile(cohort, 50)).toFixed(2).padStart(10)}`);
  };
  row('Cohort ok: outbox on A, applied with its effect on B, answered', critical, critical);
  row('JetStream publish, a durable consumer commits its effect, acks (confirmed)', jsE2e, critical);
  row('  same, sync_interval: always (fsync per message)', jsE2eSync, critical);
  row("Cohort delayed (B down): durable in A's outbox", delayed, delayed);
  row('JetStream publish with ack (in the stream; its default fsyncs every 2 min)', js, delayed);
  row('  same, sync_interval: always (fsync per message)', jsSync, delayed);
  console.log(`outbox drain: ${DRAIN_N} messages in ${drainSeconds.toFixed(2)} s after the peer came back = ${drainPerS} messages/s`);
  /** p50 and p99 under `key`, or null with the reason when that JetStream run could not be made. */
  const figures = (key: string, samples: number[] | string) => (typeof samples === 'string'
    ? { [`${key}_p50_ms`]: null, [`${key}_skipped`]: samples }
    : { [`${key}_p50_ms`]: +percentile(samples, 50).toFixed(4), [`${key}_p99_ms`]: +percentile(samples, 99).toFixed(4) });
  recordResult('critical', {
    ...figures('critical', critical),
    ...figures('delayed', delayed),
    drain_per_s: drainPerS,
    drain_n: DRAIN_N,
    ...figures('jetstream', js),
    ...figures('jetstream_sync', jsSync),
    ...figures('jetstream_e2e', jsE2e),
    ...figures('jetstream_e2e_sync', jsE2eSync),
  }, { 'nats-server': commandVersion(NATS_SERVER, ['--version']), '@nats-io/jetstream': packageVersion('@nats-io/jetstream') });
} finally {
  await cluster.destroy();
}
