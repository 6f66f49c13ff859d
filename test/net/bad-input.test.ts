import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as netConnect } from 'node:net';
import { createServer } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { certPaths, initClusterCerts } from '../../src/certs/cluster-certs.ts';
import { localSocketPath } from '../../src/config/host-table.ts';
import { TestCluster } from '../harness/cluster.ts';
import { collect, frame, rawTcp, rawTls, rawUnix } from '../harness/raw.ts';
import { waitFor } from '../harness/wait.ts';

function creds(tlsDir: string, id: string) {
  const p = certPaths(tlsDir, id);
  return { ca: readFileSync(p.ca), cert: readFileSync(p.cert), key: readFileSync(p.key) };
}

// Each attack must be turned away, and the node must keep serving everyone else.
describe('bad input on links and the local socket', () => {
  let cluster: TestCluster;
  let linkPortA: number;
  const otherCaDir = mkdtempSync(join(tmpdir(), 'cohort-otherca-'));

  before(async () => {
    cluster = await TestCluster.create([{ id: 'A' }, { id: 'B' }, { id: 'C' }], { link: { maxFrameBytes: 65536 } });
    await cluster.startAll();
    await waitFor('every link up', () => cluster.linksUp());
    linkPortA = cluster.table.nodes[0].linkPort;
    initClusterCerts(otherCaDir, 'test', ['B']);
  });
  after(async () => {
    await cluster.destroy();
    rmSync(otherCaDir, { recursive: true, force: true });
  });

  async function stillServing(): Promise<void> {
    assert.equal(cluster.exitCode('A'), null, 'node A is still running');
    const client = await cluster.client('B');
    assert.deepEqual(await client.ping('A'), { node: 'A' });
    assert.deepEqual(await (await cluster.client('A')).ping('C'), { node: 'C' });
  }

  it('refuses a certificate from another CA', async () => {
    const forged = { ...creds(otherCaDir, 'B'), ca: creds(cluster.table.tlsDir, 'A').ca };
    let outcome;
    try {
      const socket = await rawTls(linkPortA, forged);
      socket.write(frame(JSON.stringify({ t: 'hello', v: 1, cluster: 'test', node: 'B' })));
      outcome = await collect(socket);
    } catch (err) {
      outcome = { frames: [], closed: true, error: (err as Error).message };
    }
    assert.ok(outcome.closed, 'connection closed');
    assert.ok(!outcome.frames.some((f) => f.t === 'welcome'), 'never welcomed');
    assert.equal(outcome.frames[0]?.code, 'refused');
    await waitFor('A to log the refused handshake', () => /"event":"link_rejected".*client certificate not accepted: UNABLE_TO_VERIFY_LEAF_SIGNATURE/.test(cluster.log('A')));
    await stillServing();
  });

  it("refuses a valid certificate whose node id is not the hello's", async () => {
    const socket = await rawTls(linkPortA, creds(cluster.table.tlsDir, 'B'));
    socket.write(frame(JSON.stringify({ t: 'hello', v: 1, cluster: 'test', node: 'C' })));
    const outcome = await collect(socket);
    assert.ok(outcome.closed);
    assert.equal(outcome.frames.length, 1);
    assert.equal(outcome.frames[0].t, 'refuse');
    assert.equal(outcome.frames[0].code, 'refused');
    assert.match(String(outcome.frames[0].message), /certificate names node 'B'/);
    await stillServing();
  });

  it('does not link to a server at a peer\'s address whose certificate names another node', async () => {
    await cluster.kill('C');
    const c = cluster.table.nodes.find((n) => n.id === 'C')!;
    const impostor = createServer({ ...creds(cluster.table.tlsDir, 'B'), requestCert: true, minVersion: 'TLSv1.3' }, (s) => s.destroy());
    await new Promise<void>((r) => impostor.listen(c.linkPort, '127.0.0.1', r));
    try {
      await (await cluster.client('A')).call('A', 'reconnect');
      const peer = await waitFor('A to reject the impostor', async () => {
        const p = (await cluster.peers('A')).find((x) => x.id === 'C')!;
        return p.lastError?.includes("certificate names node 'B'") ? p : null;
      });
      assert.notEqual(peer.state, 'up');
      await assert.rejects((await cluster.client('A')).ping('C'), { code: 'con_lost' });
    } finally {
      await new Promise((r) => impostor.close(r));
    }
    await cluster.start('C');
    await waitFor('every link up again', () => cluster.linksUp());
    await stillServing();
  });

  it('closes on plain TCP garbage', async () => {
    const socket = await rawTcp(linkPortA);
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n' + 'x'.repeat(5000));
    const outcome = await collect(socket);
    assert.ok(outcome.closed);
    assert.equal(outcome.frames.length, 0);
    await stillServing();
  });

  it('closes a connection from an address outside the host table before any TLS', async () => {
    // Every node of this cluster is at 127.0.0.1; 127.0.0.2 is another loopback address.
    const socket = netConnect({ host: '127.0.0.1', port: linkPortA, localAddress: '127.0.0.2' });
    let bytes = 0;
    socket.on('data', (d) => (bytes += d.length));
    socket.on('error', () => {});
    socket.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5])); // the start of a TLS hello
    await new Promise((r) => socket.once('close', r));
    assert.equal(bytes, 0, 'no TLS answer at all');
    await waitFor('the refusal in the log', () => /"event":"link_turned_away","remote":"127\.0\.0\.2"/.test(cluster.log('A')));
    await stillServing();
  });

  it('lets one address hold only a few connections at once', async () => {
    // Three nodes on this address: at most 8 + (2 + 4 raw-transfer sockets) · 3 = 26 held, the links among them.
    const sockets = await Promise.all(Array.from({ length: 80 }, () => rawTcp(linkPortA).catch(() => null)));
    const closed = await Promise.all(sockets.map((s) => (s ? new Promise<boolean>((r) => {
      const timer = setTimeout(() => r(false), 1000);
      s.on('error', () => {});
      s.once('close', () => {
        clearTimeout(timer);
        r(true);
      });
    }) : true)));
    const cut = closed.filter(Boolean).length;
    assert.ok(cut >= 80 - 26, `${cut} of 80 connections cut at once`);
    for (const s of sockets) s?.destroy();
    await stillServing();
  });

  it('refuses garbage inside an authenticated TLS link', async () => {
    const socket = await rawTls(linkPortA, creds(cluster.table.tlsDir, 'B'));
    socket.write(frame('{not json'));
    const outcome = await collect(socket);
    assert.ok(outcome.closed);
    assert.deepEqual(outcome.frames.map((f) => [f.t, f.code]), [['refuse', 'bad_frame']]);
    await stillServing();
  });

  it('refuses a frame over the maximum size on a link', async () => {
    const socket = await rawTls(linkPortA, creds(cluster.table.tlsDir, 'B'));
    socket.write(frame(Buffer.alloc(70_000, 0x20)));
    const outcome = await collect(socket);
    assert.ok(outcome.closed);
    assert.equal(outcome.frames[0]?.code, 'bad_frame');
    assert.match(String(outcome.frames[0]?.message), /exceeds the maximum of 65536/);
    await stillServing();
  });

  it('refuses requests before hello on a link', async () => {
    const socket = await rawTls(linkPortA, creds(cluster.table.tlsDir, 'B'));
    socket.write(frame(JSON.stringify({ t: 'req', id: 1, cmd: 'ping' })));
    const outcome = await collect(socket, 1000);
    assert.deepEqual(outcome.frames[0], { t: 'res', id: 1, ok: false, code: 'refused', message: 'no requests accepted on this connection yet' });
    await stillServing();
  });

  for (const [name, bytes, message] of [
    ['a frame that is not JSON', frame('{"t":"req",'), /not valid JSON/],
    ['a frame that is not an object', frame('[1,2,3]'), /not a JSON object/],
    ['a request without a command', frame('{"t":"req","id":1}'), /req.cmd/],
    ['an unknown frame type', frame('{"t":"launch"}'), /unknown frame type/],
    ['a frame over the maximum size', Buffer.from([0xff, 0xff, 0xff, 0xff]), /exceeds the maximum/],
  ] as const) {
    it(`local socket: refuses ${name} and keeps serving other clients`, async () => {
      const socket = await rawUnix(localSocketPath(cluster.table, 'A'));
      socket.write(bytes);
      const outcome = await collect(socket);
      assert.ok(outcome.closed);
      assert.equal(outcome.frames[0]?.t, 'refuse');
      assert.equal(outcome.frames[0]?.code, 'bad_frame');
      assert.match(String(outcome.frames[0]?.message), message);
      await stillServing();
    });
  }
});
