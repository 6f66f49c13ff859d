import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import type { HostTableInput } from '../../src/config/schema.ts';
import { LinkServer } from '../../src/net/link-server.ts';
import { Peer } from '../../src/net/peer.ts';
import { loadTlsMaterial } from '../../src/net/tls-material.ts';
import { TestCluster } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait.ts';

// How one node's Peer dials another: a real link server (B, behind a fault proxy) in this process.

/** A's Peer for B and B's link server, started; `run` gets them, everything is closed after. */
async function withLink(extra: Partial<HostTableInput>, run: (ctx: { peer: Peer; cluster: TestCluster; hellos: () => number; states: string[] }) => Promise<void>): Promise<void> {
  const cluster = await TestCluster.create([{ id: 'A' }, { id: 'B', proxied: true }], extra);
  const { table } = cluster;
  const log = pino({ level: 'silent' });
  const b = table.nodes.find((n) => n.id === 'B')!;
  const server = new LinkServer({ self: 'B', table, tls: loadTlsMaterial(table.tlsDir, table.cluster, 'B'), log, onRequest: () => (req) => ({ pong: req.cmd }) });
  let hellos = 0;
  server.on('hello', () => hellos++);
  await server.listen(b.host, b.bindLinkPort!);
  const peer = new Peer({ self: 'A', cluster: table.cluster, peer: b, tls: loadTlsMaterial(table.tlsDir, table.cluster, 'A'), link: table.link }, log);
  const states: string[] = [];
  peer.on('state', (s: string) => states.push(s));
  try {
    await run({ peer, cluster, hellos: () => hellos, states });
  } finally {
    cluster.proxy('B').cut();
    peer.stop();
    await server.close();
    await cluster.destroy();
  }
}

// One link per peer: a redial asked for while the first dial is made (a critical delivery's poke
// racing the node's start) must not open a second link. With two, the peer closes one as replaced,
// and what was sent on it is resent after what went on the other: out of order.
test('a dial asked for twice at once makes one link, and it stays up', () =>
  withLink({}, async ({ peer, hellos, states }) => {
    peer.reconnectNow();
    peer.start();
    await waitFor('the link up', () => peer.state === 'up');
    // Requests on it answer; a second dial, had one been made, would be welcomed by now too (before
    // the fix the two links replaced each other and neither stayed up).
    for (let i = 0; i < 20; i++) assert.deepEqual(await peer.request('ping'), { pong: 'ping' });
    assert.equal(hellos(), 1, 'one link welcomed');
    assert.deepEqual(states, ['connecting', 'up'], 'the link never dropped');
  }));

// The peer's hello (it is back) that comes while a dial is under way is not lost: if that dial
// fails, the next goes at once instead of after the back-off (here at least 5 s).
test('a peer back while a dial is under way: that dial fails, the next goes at once', () =>
  withLink({ link: { backoffMinMs: 10_000, backoffMaxMs: 20_000 } as HostTableInput['link'] }, async ({ peer, cluster }) => {
    cluster.proxy('B').refuseNext(1);
    peer.start();
    peer.reconnectNow();
    await waitFor('the link up', () => peer.state === 'up', 3000);
  }));

// ...once: a dial that fails after that immediate redial waits out the back-off as usual.
test('the immediate redial is made once: when it fails too, the back-off applies', () =>
  withLink({ link: { backoffMinMs: 10_000, backoffMaxMs: 20_000 } as HostTableInput['link'] }, async ({ peer, cluster, states }) => {
    const proxy = cluster.proxy('B');
    proxy.refuseNext(2);
    peer.start();
    peer.reconnectNow();
    await waitFor('the second dial to fail and the back-off to start', () => peer.state === 'down', 3000);
    assert.equal(proxy.accepted, 2, 'two dials: the first, and one at once after it');
    assert.deepEqual(states, ['connecting', 'down']);
    assert.equal(peer.snapshot().attempts, 1, 'one failure counted since the immediate redial');
  }));
