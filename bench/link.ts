// Benchmark: ping through the local socket and a persistent link, against opening a new
// TLS connection per command (same protocol, same certificates), and pipelined throughput
// over one link. Two real node processes on 127.0.0.1. Sizes from the environment:
// BENCH_LATENCY_N (sequential pings), BENCH_CONNECT_N (new connections), BENCH_PIPELINE_N.
import { readFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { certPaths } from '../src/certs/cluster-certs.ts';
import { FrameDecoder, encodeFrame } from '../src/net/framing.ts';
import { TestCluster } from '../test/harness/cluster.ts';
import { waitFor } from '../test/harness/wait.ts';
import { percentile, progress as report, sequentialLatencies } from './stats.ts';
import { recordResult } from './results.ts';

const LATENCY_N = Number(process.env.BENCH_LATENCY_N ?? 5000);
const CONNECT_N = Number(process.env.BENCH_CONNECT_N ?? 500);
const PIPELINE_N = Number(process.env.BENCH_PIPELINE_N ?? 300_000);
const WINDOW = Number(process.env.BENCH_WINDOW ?? 512);

const progress = (msg: string) => report('bench:link', msg);

/** One command on a fresh TLS connection: handshake, hello/welcome, ping, close. */
function pingOnNewConnection(port: number, creds: { ca: Buffer; cert: Buffer; key: Buffer }): Promise<void> {
  return new Promise((resolve, reject) => {
    const decoder = new FrameDecoder(1 << 20);
    const socket = connect({ host: '127.0.0.1', port, ...creds, minVersion: 'TLSv1.3', checkServerIdentity: () => undefined }, () => {
      socket.write(encodeFrame({ t: 'hello', v: 1, cluster: 'test', node: 'X' }));
    });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) =>
      decoder.push(chunk, (m) => {
        const msg = m as { t: string };
        if (msg.t === 'welcome') socket.write(encodeFrame({ t: 'req', id: 1, cmd: 'ping' }));
        else if (msg.t === 'res') {
          socket.destroy();
          resolve();
        } else reject(new Error(`unexpected ${JSON.stringify(m)}`));
      }),
    );
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('closed before the reply')));
  });
}

// X is in the host table but never started: the connection-per-command client presents
// X's certificate, so it competes with no live link.
const cluster = await TestCluster.create([{ id: 'A' }, { id: 'B' }, { id: 'X' }]);
try {
  progress('starting two nodes');
  await Promise.all([cluster.start('A'), cluster.start('B')]);
  await waitFor('links up', () => cluster.linksUp(['A', 'B']));
  const client = await cluster.client('A');
  for (let i = 0; i < 2000; i++) await client.ping('B'); // warm-up: JIT, buffers

  progress(`${LATENCY_N} sequential pings A -> B over the persistent link`);
  const link = await sequentialLatencies(LATENCY_N, () => client.ping('B'));

  progress(`${CONNECT_N} pings to B, each on a new TLS connection`);
  const p = certPaths(cluster.table.tlsDir, 'X');
  const creds = { ca: readFileSync(p.ca), cert: readFileSync(p.cert), key: readFileSync(p.key) };
  const portB = cluster.table.nodes[1].linkPort;
  for (let i = 0; i < 20; i++) await pingOnNewConnection(portB, creds);
  const fresh = await sequentialLatencies(CONNECT_N, () => pingOnNewConnection(portB, creds));

  const pipeClient = await cluster.client('A');
  progress(`${PIPELINE_N} pipelined pings A -> B, ${WINDOW} in flight`);
  const started = process.hrtime.bigint();
  let sent = 0;
  await Promise.all(
    Array.from({ length: WINDOW }, async () => {
      while (sent < PIPELINE_N) {
        sent++;
        await pipeClient.ping('B');
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const perS = Math.round(PIPELINE_N / seconds);

  const linkP50 = percentile(link, 50);
  const freshP50 = percentile(fresh, 50);
  const rows = [
    ['persistent link (local socket + TLS link)', linkP50, percentile(link, 99), 1],
    ['new TLS connection per command', freshP50, percentile(fresh, 99), freshP50 / linkP50],
  ] as const;
  console.log('ping latency, 2 nodes on 127.0.0.1');
  console.log(`${'method'.padEnd(44)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}${'× link p50'.padStart(12)}`);
  for (const [name, p50, p99, ratio] of rows) {
    console.log(`${name.padEnd(44)}${p50.toFixed(3).padStart(10)}${p99.toFixed(3).padStart(10)}${ratio.toFixed(1).padStart(12)}`);
  }
  console.log(`pipelined over one link: ${perS} commands/s (${PIPELINE_N} pings, ${WINDOW} in flight, ${seconds.toFixed(2)} s)`);
  recordResult('link', {
      link_p50_ms: +linkP50.toFixed(4),
      link_p99_ms: +percentile(link, 99).toFixed(4),
      new_connection_p50_ms: +freshP50.toFixed(4),
      new_connection_p99_ms: +percentile(fresh, 99).toFixed(4),
      latency_ratio: +(freshP50 / linkP50).toFixed(2),
      pipelined_per_s: perS,
    }, {});
} finally {
  await cluster.destroy();
}
