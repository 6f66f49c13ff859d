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
    // heapUsed after a full collection still varies by a few MB from one reading to the next
    // (a large object now and then, state freed by a timer after the sockets closed): the idle
    // level is the lowest of readings over two seconds, and the front has settled once a reading
    // is back within 10% of it. A leak stays above it in every reading, and the wait fails naming it.
    let idle = await measure();
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 200));
      const now = await measure();
      if (now.memory.heapUsed < idle.memory.heapUsed) idle = now;
    }

    await inParallel(N, async () => wsOpenAndDrop(fc.port));
    await inParallel(N, async (i) => abortMidBody(fc.port, i % 2 ? 1000 : 70_000)); // half held, half streaming
    assert.equal((await http(`${fc.url}/`)).status, 200, 'still serving');

    const growthOf = (now: { memory: { heapUsed: number } }) => (now.memory.heapUsed - idle.memory.heapUsed) / idle.memory.heapUsed;
    const settled = await waitFor('the front to settle back to idle', async () => {
      const now = await measure();
      if (!(now.connections <= idle.connections && now.tunnels === 0 && now.active === 0 && now.fds <= idle.fds + 2)) return null;
      if (growthOf(now) >= 0.1) throw new Error(`heap grew by ${(growthOf(now) * 100).toFixed(1)}%`);
      return now;
    }, 20_000, 200);
    console.log(`leaks: idle ${JSON.stringify({ fds: idle.fds, connections: idle.connections, heapUsed: idle.memory.heapUsed })}, after ${JSON.stringify({ fds: settled.fds, connections: settled.connections, heapUsed: settled.memory.heapUsed })}, heap growth ${(growthOf(settled) * 100).toFixed(1)}%`);
  });
});

const COOKIELESS = Number(process.env.FRONT_COOKIELESS_N ?? 100_000);

/** Sends `total` GETs pipelined in batches over `conns` connections; resolves when all were answered 200. */
async function pipelined(port: number, total: number, conns = 32, batch = 50): Promise<void> {
  let left = total;
  await Promise.all(Array.from({ length: conns }, () => new Promise<void>((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let pending = 0;
    let text = '';
    const send = () => {
      const n = Math.min(batch, left);
      left -= n;
      if (n === 0) return void s.end(resolve);
      pending = n;
      s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(n));
    };
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      text += d;
      let at: number;
      while ((at = text.indexOf('HTTP/1.1 ', 1)) > 0) {
        if (!text.startsWith('HTTP/1.1 200 ')) return reject(new Error(`answered ${text.slice(0, 40)}`));
        text = text.slice(at);
        pending--;
      }
      // The last response of a batch has no successor to end it: its body closes with '}'.
      if (pending === 1 && text.startsWith('HTTP/1.1 200 ') && text.endsWith('}')) {
        text = '';
        pending = 0;
      }
      if (pending === 0) send();
    });
    s.on('error', reject);
    s.once('connect', send);
  })));
}

describe(`the front's memory follows live sessions, not requests (${COOKIELESS} requests that never return their sticky cookie)`, () => {
  let fc: FrontCluster;

  before(async () => {
    fc = await FrontCluster.create(['b1', 'b2'], { sticky: { mode: 'cookie', keys: ['sticky-key-0123456789abcdef'] } });
    await fc.startFront({ NODE_OPTIONS: '--expose-gc' });
    await waitFor('ready', () => fc.allReady());
  });
  after(() => fc.destroy());

  const heap = async () => {
    const res = await fetch(`http://127.0.0.1:${fc.adminPort}/status?gc=1`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    return (await res.json()) as { memory: { heapUsed: number }; backends: { liveSessions: number; trackedSessions: number }[] };
  };

  it('stays flat (within 10%), while every new session still counts as live', async () => {
    await pipelined(fc.port, 20_000);
    const before = await heap();
    const started = Date.now();
    await pipelined(fc.port, COOKIELESS);
    const after = await heap();
    const growth = (after.memory.heapUsed - before.memory.heapUsed) / before.memory.heapUsed;
    const live = after.backends.reduce((a, b) => a + b.liveSessions, 0);
    const tracked = after.backends.reduce((a, b) => a + b.trackedSessions, 0);
    console.log(`cookieless: ${COOKIELESS} requests in ${Date.now() - started} ms; heap ${before.memory.heapUsed} -> ${after.memory.heapUsed} (${(growth * 100).toFixed(1)}%); live sessions ${live}, entries ${tracked}`);
    assert.ok(growth < 0.1, `heap grew by ${(growth * 100).toFixed(1)}%`);
    assert.equal(tracked, 0, 'no entry for a session whose cookie never came back');
    assert.ok(live >= COOKIELESS, `every issued session counts as live within sessionIdleS (${live})`);
  });
});
