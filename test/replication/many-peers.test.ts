import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TestCluster } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait.ts';
import { nodeHttp } from './helpers.ts';

// Six nodes on one address (as in the demo): the home's link port takes each peer's link and
// its raw-transfer connections (up to four per peer, kept open between transfers) without
// turning any away as too many from one address.
let c: TestCluster;
const ACCESS = ['C', 'D', 'E', 'F', 'G'];
const url = (i: number) => `/res/msu/ann/pages/p${i}.html`;

before(async () => {
  c = await TestCluster.create([{ id: 'A', role: 'library' }, ...ACCESS.map((id) => ({ id }))]);
  await c.startAll();
  await waitFor('links up', () => c.linksUp(), 20_000);
  await (await c.client('A')).auth.addUser({ domain: 'msu', user: 'ann' }, 'A', 'ann password');
  for (let i = 0; i < 4; i++) {
    const file = join(c.dir, `p${i}.html`);
    writeFileSync(file, `page ${i}\n`.repeat(4096));
    await (await c.client('A')).call('A', 'res.publish', { url: url(i), file });
  }
});
after(async () => c?.destroy());

test('five peers copying four resources each at once from one home on the same address: every copy made', async () => {
  const replies = await Promise.all(ACCESS.flatMap((id) => [0, 1, 2, 3].map(async (i) => ({ id, i, r: await nodeHttp(c, id, url(i)) }))));
  const failed = replies.filter((x) => x.r.status !== 200).map((x) => `${x.id} p${x.i}: ${x.r.status}`);
  assert.deepEqual(failed, []);
  for (const x of replies) assert.equal(x.r.body.toString(), `page ${x.i}\n`.repeat(4096));
  assert.deepEqual(c.events('A', 'link_turned_away'), []);
});
