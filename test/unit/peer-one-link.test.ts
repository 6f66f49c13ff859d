import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { LinkServer } from '../../src/net/link-server.ts';
import { Peer } from '../../src/net/peer.ts';
import { loadTlsMaterial } from '../../src/net/tls-material.ts';
import { TestCluster } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait.ts';

// One link per peer: a redial asked for while the first dial is made (a critical delivery's poke
// racing the node's start) must not open a second link. With two, the peer closes one as replaced,
// and what was sent on it is resent after what went on the other: out of order.

test('a dial asked for twice at once makes one link, and it stays up', async () => {
  const cluster = await TestCluster.create([{ id: 'A' }, { id: 'B' }]);
  const { table } = cluster;
  const log = pino({ level: 'silent' });
  const b = table.nodes.find((n) => n.id === 'B')!;
  const server = new LinkServer({ self: 'B', table, tls: loadTlsMaterial(table.tlsDir, table.cluster, 'B'), log, onRequest: () => (req) => ({ pong: req.cmd }) });
  let hellos = 0;
  server.on('hello', () => hellos++);
  await server.listen(b.host, b.linkPort);
  const peer = new Peer({ self: 'A', cluster: table.cluster, peer: b, tls: loadTlsMaterial(table.tlsDir, table.cluster, 'A'), link: table.link }, log);
  const states: string[] = [];
  peer.on('state', (s: string) => states.push(s));
  try {
    peer.reconnectNow();
    peer.start();
    await waitFor('the link up', () => peer.state === 'up');
    // Requests on it answer; a second dial, had one been made, would be welcomed by now too (before
    // the fix the two links replaced each other and neither stayed up).
    for (let i = 0; i < 20; i++) assert.deepEqual(await peer.request('ping'), { pong: 'ping' });
    assert.equal(hellos, 1, 'one link welcomed');
    assert.deepEqual(states, ['connecting', 'up'], 'the link never dropped');
  } finally {
    peer.stop();
    await server.close();
    await cluster.destroy();
  }
});
