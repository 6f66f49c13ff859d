import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TestCluster } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait.ts';
import { nodeHttp } from '../replication/helpers.ts';

// SIGTERM stops a node cleanly (its log says node_stopped) even while peers hold connections to
// its link port open: a raw transfer's keep-alive socket, a peer dialling in as it stops.
let c: TestCluster;

before(async () => {
  c = await TestCluster.create([{ id: 'A', role: 'library' }, { id: 'B' }, { id: 'C' }]);
  await c.startAll();
  await waitFor('links up', () => c.linksUp(), 15_000);
  await (await c.client('A')).auth.addUser({ domain: 'msu', user: 'ann' }, 'A', 'ann password');
  const file = join(c.dir, 'page.html');
  writeFileSync(file, 'a page\n');
  await (await c.client('A')).call('A', 'res.publish', { url: '/res/msu/ann/page.html', file });
});
after(async () => c?.destroy());

test('a node with a raw-transfer connection open to it (kept alive by the peer) stops cleanly on SIGTERM', async () => {
  // B copies the page from A: B's raw-transfer connection to A stays open for the next transfer.
  assert.equal((await nodeHttp(c, 'B', '/res/msu/ann/page.html')).status, 200);
  const started = Date.now();
  await c.kill('A', 'SIGTERM'); // SIGKILL after 5 s if it has not stopped
  assert.match(c.log('A'), /"event":"node_stopped"/, `A did not stop by itself (${Date.now() - started} ms)`);
});
