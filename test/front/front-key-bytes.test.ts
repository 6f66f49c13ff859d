import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ADMIN_TOKEN, FrontCluster } from '../harness/front-cluster.ts';
import { RawBackend } from '../harness/raw-backend.ts';
import { waitFor } from '../harness/wait.ts';

// Client-chosen keys cost the front a bounded number of bytes, not only of entries: LARD's
// target table keys by the request path, which a client chooses (up to limits.maxHeaderBytes).
const N = Number(process.env.FRONT_KEY_BYTES_N ?? 100_000);
const PATH_BYTES = 8192;
const CONCURRENCY = 16;
/** What the front may grow by. A fresh front is about 125 MiB already (the node binary's pages alone are about 60). */
const GROWTH_LIMIT_MIB = 150;

/** The front process's resident set, in MiB (what the kernel says it holds). */
function rssMiB(pid: number): number {
  const line = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(line, 'no VmRSS');
  return Number(line[1]) / 1024;
}

/**
 * One keep-alive connection sending GETs one after another, each answered with a small
 * Content-Length body (what the raw back-ends send): cheap enough that the front, not the
 * test, is what runs the machine.
 */
class KeepAliveClient {
  private readonly socket: Socket;
  private buffered = '';
  private waiting: { resolve: (status: number) => void; reject: (err: Error) => void } | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => {
      this.buffered += text;
      const end = this.buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(this.buffered.slice(0, end))?.[1] ?? 0);
      if (this.buffered.length < end + 4 + length) return;
      const status = Number(this.buffered.slice(9, 12));
      this.buffered = this.buffered.slice(end + 4 + length);
      const done = this.waiting;
      this.waiting = undefined;
      done?.resolve(status);
    });
    socket.on('error', () => {});
    socket.on('close', () => this.waiting?.reject(new Error('the front closed the connection')));
  }

  static open(port: number): Promise<KeepAliveClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new KeepAliveClient(socket)));
      socket.once('error', reject);
    });
  }

  get(path: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`, 'latin1');
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

describe(`LARD's target table is bounded in bytes through a real front (${N} distinct ${PATH_BYTES}-byte paths)`, () => {
  let fc: FrontCluster;
  const backends: RawBackend[] = [];

  before(async () => {
    for (let i = 0; i < 2; i++) backends.push(await RawBackend.start());
    for (const b of backends) b.reset((req, conn) => conn.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    fc = await FrontCluster.create([], {
      backends: backends.map((b, i) => ({ id: `raw${i}`, host: '127.0.0.1', port: b.port })),
      routes: [{ name: 'res', match: { prefix: '/res/' }, policy: 'lard_r' }],
    });
    // V8's young generation grows to 128 MiB under any heavy load, whatever the keys: held to
    // 32 MiB here, so that what the front grows by is what it keeps.
    await fc.startFront({ NODE_OPTIONS: '--expose-gc --max-semi-space-size=16' }, 'info');
    await waitFor('the raw back-ends ready', () => fc.allReady());
  });
  after(async () => {
    await fc.destroy();
    for (const b of backends) await b.close();
  });

  it(`grows the front by less than ${GROWTH_LIMIT_MIB} MiB`, { timeout: 300_000 }, async () => {
    const fresh = rssMiB(fc.frontPid);
    const filler = 'p'.repeat(PATH_BYTES);
    let next = 0;
    const started = Date.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      const c = await KeepAliveClient.open(fc.port);
      try {
        while (next < N) {
          const i = next++;
          const status = await c.get(`/res/${i}/${filler}`.slice(0, PATH_BYTES));
          assert.equal(status, 200, `request ${i}`);
          // The raw back-ends record each request: the test keeps none of them.
          if (i % 1000 === 0) for (const b of backends) b.requests.length = 0;
        }
      } finally {
        c.close();
      }
    }));
    const seconds = (Date.now() - started) / 1000;
    // Garbage is not what is measured: what the front still holds after a collection is.
    const res = await fetch(`http://127.0.0.1:${fc.adminPort}/status?gc=1`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(res.status, 200);
    const { memory } = (await res.json()) as { memory: { heapUsed: number } };
    const rss = rssMiB(fc.frontPid);
    console.log(`# ${N} paths of ${PATH_BYTES} bytes in ${seconds.toFixed(1)} s; front RSS ${fresh.toFixed(0)} MiB fresh, ${rss.toFixed(0)} MiB after, heap used ${(memory.heapUsed / 2 ** 20).toFixed(0)} MiB`);
    assert.ok(rss - fresh < GROWTH_LIMIT_MIB, `the front grew from ${fresh.toFixed(0)} to ${rss.toFixed(0)} MiB with ${N} distinct long paths`);
  });
});
