import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { newSessionId } from '../../src/client/sessions.ts';
import { TestCluster } from '../harness/cluster.ts';
import { copyAt as copyIn } from '../harness/session-copy.ts';
import { waitFor } from '../harness/wait.ts';

// A session write is done once its node's own copy has it; the other copy gets it in the
// background. A node killed before that send arrived sends it again when it is back.
let c: TestCluster;
const copyAt = (id: string, sid: string) => copyIn(c, id, sid);

before(async () => {
  c = await TestCluster.create([{ id: 'L', role: 'library' }, { id: 'A' }, { id: 'B', proxied: true }]);
  await c.startAll();
  await waitFor('links up', () => c.linksUp());
});
after(async () => c?.destroy());

test('a write its node answered just before it was killed reaches the other copy once the node is back', async () => {
  const sid = newSessionId('A');
  await (await c.client('A')).sessions.write(sid, { set: { step: 0 }, expires: Date.now() + 3_600_000 });
  await waitFor("B's copy", () => copyAt('B', sid)?.step === 0);
  // The link to B stalls: A answers the next write from its own copy, its send to B waits.
  const proxy = c.proxy('B');
  proxy.stall();
  await (await c.client('A')).sessions.write(sid, { set: { step: 1 } });
  await c.kill('A', 'SIGKILL');
  // What A had sent toward B dies with the connections.
  proxy.cut();
  proxy.resume();
  assert.equal(copyAt('B', sid)?.step, 0, 'B never got the write');
  await c.start('A');
  await waitFor("B's copy to get the write A answered before it died", () => copyAt('B', sid)?.step === 1, 15_000);
});
