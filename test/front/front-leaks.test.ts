import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ADMIN_TOKEN, FrontCluster } from '../harness/front-cluster.ts';
import { http } from '../harness/http-client.ts';
import { waitFor } from '../harness/wait.ts';

const N = Number(process.env.FRONT_LEAK_N ?? 10_000);
const CONCURRENCY = 100;

async function inParallel(total: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < total) await fn(next++);
  }));
}

/** Opens a WebSocket (raw upgrade), waits for the 101, and drops the connection. */
function wsOpenAndDrop(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => {
      s.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    s.once('data', (d) => {
      if (!d.toString().startsWith('HTTP/1.1 101')) reject(new Error(`no upgrade: ${d.toString().slice(0, 40)}`));
      s.destroy();
      resolve();
    });
    s.once('error', reject);
  });
}

/** Starts a POST, sends part of its body, and drops the connection. */
function abortMidBody(port: number, sent: number): Promise<void> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      s.write(`POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n`);
      s.write(Buffer.alloc(sent, 120), () => setImmediate(() => {
        s.destroy();
        resolve();
      }));
    });
    s.once('error', () => resolve());
  });
}

describe(`the front leaks nothing (${N} WebSockets dropped, ${N} requests aborted mid-body)`, () => {
  let fc: FrontCluster;

  before(async () => {
    fc = await FrontCluster.create(['b1', 'b2']);
    await fc.startFront({ NODE_OPTIONS: '--expose-gc' });
    await waitFor('ready', () => fc.allReady());
  });
  after(() => fc.destroy());

  const fds = () => readdirSync(`/proc/${fc.frontPid}/fd`).length;
  const measure = async () => {
    const res = await fetch(`http://127.0.0.1:${fc.adminPort}/status?gc=1`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const s = (await res.json()) as { connections: number; tunnels: number; memory: { heapUsed: number; rss: number }; backends: { active: number }[] };
    return { ...s, fds: fds(), active: s.backends.reduce((a, b) => a + b.active, 0) };
  };

  it('returns to its idle sockets, file descriptors and memory', async () => {
    // Warm up the code paths first, so the idle level is not a cold start.
    await inParallel(500, async () => wsOpenAndDrop(fc.port));
    await inParallel(500, async (i) => abortMidBody(fc.port, i % 2 ? 1000 : 70_000));
    for (let i = 0; i < 200; i++) await http(`${fc.url}/`);
    await new Promise((r) => setTimeout(r, 500));
    const idle = await measure();

    await inParallel(N, async () => wsOpenAndDrop(fc.port));
    await inParallel(N, async (i) => abortMidBody(fc.port, i % 2 ? 1000 : 70_000)); // half held, half streaming
    assert.equal((await http(`${fc.url}/`)).status, 200, 'still serving');

    const settled = await waitFor('the front to settle back to idle', async () => {
      const now = await measure();
      return now.connections <= idle.connections && now.tunnels === 0 && now.active === 0 && now.fds <= idle.fds + 2 ? now : null;
    }, 20_000, 200);
    const growth = (settled.memory.heapUsed - idle.memory.heapUsed) / idle.memory.heapUsed;
    console.log(`leaks: idle ${JSON.stringify({ fds: idle.fds, connections: idle.connections, heapUsed: idle.memory.heapUsed })}, after ${JSON.stringify({ fds: settled.fds, connections: settled.connections, heapUsed: settled.memory.heapUsed })}, heap growth ${(growth * 100).toFixed(1)}%`);
    assert.ok(growth < 0.1, `heap grew by ${(growth * 100).toFixed(1)}%`);
  });
});
