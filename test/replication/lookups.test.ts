import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TestCluster } from '../harness/cluster.ts';
import { timed, waitFor } from '../harness/wait.ts';
import { nodeHttp, type HttpReply } from './helpers.ts';

// First accesses ask the author's home (res.subscribe) before any byte moves. L (msu library,
// home of ann, behind a fault proxy: stalled, it is a home that does not answer), R (rice
// library, home of bob), A (msu access node, resources.maxTransfers 32 by default). Links
// stay up through the stall (deadAfterMs), so each question to L waits requestTimeoutMs.
let c: TestCluster;
const BOB = '/res/rice/bob/page.html';

before(async () => {
  c = await TestCluster.create([{ id: 'L', role: 'library', proxied: true }, { id: 'R', domain: 'rice', role: 'library' }, { id: 'A' }], { link: { deadAfterMs: 60_000, requestTimeoutMs: 20_000 } });
  await c.startAll();
  await waitFor('links up', () => c.linksUp(), 15_000);
  await (await c.client('L')).auth.addUser({ domain: 'msu', user: 'ann' }, 'L', 'ann password');
  await (await c.client('R')).auth.addUser({ domain: 'rice', user: 'bob' }, 'R', 'bob password');
  const file = join(c.dir, 'page.html');
  writeFileSync(file, 'bob page\n');
  await (await c.client('R')).call('R', 'res.publish', { url: BOB, file });
});
after(async () => {
  c?.proxy('L').resume();
  await c?.destroy();
});

test('"not found" is remembered a few seconds per path: the same missing path does not ask its home again', async () => {
  const missing = '/res/msu/ann/missing.html';
  assert.equal((await nodeHttp(c, 'A', missing)).status, 404);
  c.proxy('L').stall();
  try {
    // Asked of L again, this would wait out the request timeout (20 s) and answer 503.
    const { value, ms } = await timed(() => nodeHttp(c, 'A', missing));
    assert.equal(value.status, 404, value.body.toString());
    assert.ok(ms < 10_000, `answered in ${ms.toFixed(0)} ms`);
  } finally {
    c.proxy('L').resume();
  }
});

test('look-ups of many missing paths under an author whose home does not answer do not hold up a first access elsewhere', async () => {
  c.proxy('L').stall();
  const answered: HttpReply[] = [];
  const flood = Array.from({ length: 40 }, () =>
    nodeHttp(c, 'A', `/res/msu/ann/${randomBytes(8).toString('hex')}.html`).then(
      (r) => void answered.push(r),
      (err: Error) => void answered.push({ status: 0, headers: {}, body: Buffer.from(err.message) }),
    ),
  );
  try {
    // 32 look-ups may wait on one node: the other 8 are turned away at once.
    await waitFor('8 look-ups turned away', () => answered.filter((r) => r.status === 503).length >= 8, 15_000);
    const bob = await nodeHttp(c, 'A', BOB);
    assert.equal(bob.status, 200, `bob's page, a first access on A: ${bob.status} ${bob.body}`);
    assert.equal(bob.body.toString(), 'bob page\n');
    assert.equal(answered.length, 8, 'the 32 look-ups waiting on L were still waiting');
  } finally {
    c.proxy('L').resume();
  }
  await Promise.all(flood);
  assert.ok(answered.every((r) => r.status === 404 || r.status === 503), `once L answers: not found (or, past the request timeout, 503): ${answered.map((r) => r.status).join(' ')}`);
});
