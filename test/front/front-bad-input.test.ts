import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { FrontCluster } from '../harness/front-cluster.ts';
import { http } from '../harness/http-client.ts';
import { rawExchange as raw, RawHttp } from '../harness/raw-http.ts';
import { runCli } from '../harness/cli.ts';
import { pick, seededRandom } from '../harness/random.ts';
import { waitFor } from '../harness/wait.ts';

// Request framing, targets, Connection and Upgrade rules are rows of the conformance table
// (front-conformance.test.ts); here: timeouts, limits and fuzzing.
describe('the front holds against slow, mangled and too many clients', () => {
  let fc: FrontCluster;

  before(async () => {
    fc = await FrontCluster.create(['b1'], { timeouts: { headersMs: 1000, idleMs: 60_000, connectMs: 2000, upstreamMs: 30_000 } });
    await fc.startFront();
    await waitFor('ready', () => fc.allReady());
  });
  after(() => fc.destroy());

  it('a slow-loris client is cut off by the header timeout without holding the front', async () => {
    const s = connect(fc.port, '127.0.0.1');
    let closedAt = 0;
    const opened = Date.now();
    s.on('error', () => {});
    s.on('close', () => (closedAt = Date.now()));
    s.write('GET / HTTP/1.1\r\nHost: x\r\n');
    const drip = setInterval(() => s.writable && s.write('X-Drip: 1\r\n'), 200);
    // Meanwhile the front serves everyone else.
    for (let i = 0; i < 20; i++) assert.equal((await http(`${fc.url}/`)).status, 200);
    await waitFor('the slow client to be cut off', () => closedAt > 0, 5000);
    clearInterval(drip);
    assert.ok(closedAt - opened < 3500, `cut off after ${closedAt - opened} ms (headersMs is 1000)`);
  });

  it('a slow-loris head on a kept-alive connection, after a first answer, is cut off by the header timeout, not the idle one', async () => {
    const s = connect(fc.port, '127.0.0.1');
    let closedAt = 0;
    let answers = '';
    s.on('data', (d: Buffer) => (answers += d.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => (closedAt = Date.now()));
    s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor('the first answer', () => answers.startsWith('HTTP/1.1 200'), 5000);
    const opened = Date.now();
    s.write('GET / HTTP/1.1\r\nHost: x\r\n');
    const drip = setInterval(() => s.writable && s.write('X-Drip: 1\r\n'), 200);
    try {
      await waitFor('the slow client to be cut off', () => closedAt > 0, 5000);
    } finally {
      clearInterval(drip);
      s.destroy();
    }
    assert.ok(closedAt - opened < 3500, `cut off after ${closedAt - opened} ms (headersMs is 1000, idleMs 60000)`);
  });

  it('mangled requests (seeded: bytes flipped, cut, repeated, in odd pieces) never take the front down', async () => {
    const seed = Number(process.env.FRONT_FUZZ_SEED ?? Date.now() % 100_000);
    const random = seededRandom(seed);
    const valid = [
      'GET /echo?a=1 HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\r\n',
      'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world',
      'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
      'GET / HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n',
      'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    ];
    const mangle = (text: string): string => {
      const bytes = [...text];
      for (let n = Math.floor(random() * 4); n > 0; n--) {
        const at = Math.floor(random() * bytes.length);
        const op = Math.floor(random() * 4);
        if (op === 0) bytes[at] = String.fromCharCode(Math.floor(random() * 256));
        else if (op === 1) bytes.splice(at, Math.floor(random() * 8));
        else if (op === 2) bytes.splice(at, 0, ...bytes.slice(at, at + Math.floor(random() * 16)));
        else bytes.splice(at, 0, pick(random, ['\r', '\n', '\r\n', '\0', ' ', ':', '\t']));
      }
      return bytes.join('');
    };
    await Promise.all(Array.from({ length: 8 }, async () => {
      for (let i = 0; i < 40; i++) {
        const text = Array.from({ length: 1 + Math.floor(random() * 3) }, () => mangle(pick(random, valid))).join('');
        await raw(fc.port, text, 300);
      }
    }));
    const after = await http(`${fc.url}/`);
    assert.equal(after.status, 200, `still serving (FRONT_FUZZ_SEED=${seed}): ${after.body} ${JSON.stringify((await fc.status()).backends)}`);
    assert.doesNotMatch(fc.frontLog, /"event":"(front_bug|proxy_bug)"/, `no internal error (FRONT_FUZZ_SEED=${seed})`);
  });

  it('past limits.maxClientConnections, new connections are closed on arrival (and the limit reloads)', async () => {
    const timeouts = { headersMs: 1000, idleMs: 60_000, connectMs: 2000, upstreamMs: 30_000 };
    fc.writeConfig({ timeouts, limits: { maxClientConnections: 3 } });
    assert.equal((await runCli(['front', 'reload', '--config', fc.config])).code, 0);
    const held = await Promise.all(Array.from({ length: 3 }, () => RawHttp.open(fc.port)));
    await waitFor('three connections held', async () => (await fc.status()).connections === 3);
    const { text, closed } = await raw(fc.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 2000);
    assert.ok(closed && text === '', `the fourth was closed unanswered (${JSON.stringify(text.slice(0, 40))})`);
    await waitFor('the drop in the log', () => fc.frontLog.includes('"event":"client_dropped"'));
    for (const c of held) c.destroy();
    fc.writeConfig({ timeouts });
    assert.equal((await runCli(['front', 'reload', '--config', fc.config])).code, 0);
    assert.equal((await http(`${fc.url}/`)).status, 200);
  });

  it('tunnels count against limits.maxClientConnections and close after timeouts.tunnelIdleMs', async () => {
    const timeouts = { headersMs: 1000, idleMs: 60_000, connectMs: 2000, upstreamMs: 30_000 };
    fc.writeConfig({ timeouts: { ...timeouts, tunnelIdleMs: 1500 }, limits: { maxClientConnections: 2 } });
    assert.equal((await runCli(['front', 'reload', '--config', fc.config])).code, 0);
    const open = () => new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${fc.port}/chat`);
      ws.once('open', () => resolve(ws)).once('error', reject);
    });
    const tunnels = [await open(), await open()];
    await waitFor('two tunnels counted', async () => (await fc.status()).connections === 2);
    const { text, closed } = await raw(fc.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 2000);
    assert.ok(closed && text === '', `a third connection was closed on arrival (${JSON.stringify(text.slice(0, 40))})`);
    // One tunnel stays busy, the other idles: only the idle one is closed.
    const opened = Date.now();
    const closedAt = new Promise<number>((resolve) => tunnels[1].once('close', () => resolve(Date.now())));
    const busy = setInterval(() => tunnels[0].send('tick'), 200);
    const idleFor = (await closedAt) - opened;
    clearInterval(busy);
    assert.ok(idleFor >= 1200 && idleFor < 4000, `the idle tunnel closed after ${idleFor} ms (tunnelIdleMs 1500)`);
    assert.equal(tunnels[0].readyState, WebSocket.OPEN, 'the busy tunnel is still open');
    tunnels[0].close();
    await waitFor('no connection left', async () => (await fc.status()).connections === 0);
    fc.writeConfig({ timeouts });
    assert.equal((await runCli(['front', 'reload', '--config', fc.config])).code, 0);
  });

  it('a connection that never sends a request is closed by the header timeout', async () => {
    const opened = Date.now();
    const { text, closed } = await raw(fc.port, '', 4000);
    assert.ok(closed, 'closed by the front');
    assert.ok(Date.now() - opened < 3500, `closed after ${Date.now() - opened} ms (headersMs is 1000)`);
    assert.match(text, /^(HTTP\/1\.1 408 |$)/);
  });
});
