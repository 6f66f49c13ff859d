import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runCli } from '../harness/cli.ts';
import { TestCluster } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait.ts';
import { blobFiles, copyStored, nodeHttp } from './helpers.ts';

// A node's byte budget for copies (here 300,000 bytes on C): copies past it push out the least
// recently read ones, which are unsubscribed at their home (A); a copy larger than the budget is
// refused with 507 and not subscribed.
let c: TestCluster;
const SIZE = 100_000;
const url = (name: string) => `/res/msu/ann/budget/${name}.bin`;
const bodies = new Map<string, Buffer>();
const publish = async (name: string, bytes = SIZE) => {
  const body = randomBytes(bytes);
  bodies.set(name, body);
  const file = join(c.dir, `${name}.bin`);
  writeFileSync(file, body);
  await (await c.client('A')).call('A', 'res.publish', { url: url(name), file });
};
const subscribers = async (name: string) => ((await (await c.client('A')).call('A', 'res.list', {})) as { published: { url: string; subscribers: { node: string }[] }[] }).published.find((p) => p.url === url(name))!.subscribers.map((s) => s.node);
const copiesOnC = async () => ((await (await c.client('C')).call('C', 'res.list', {})) as { copies: { url: string }[] }).copies.map((x) => x.url).sort();
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const read = async (name: string) => {
  const r = await nodeHttp(c, 'C', url(name));
  assert.equal(r.status, 200, r.body.toString());
  assert.ok(r.body.equals(bodies.get(name)!));
  await copyStored(c, 'C', url(name));
};

before(async () => {
  c = await TestCluster.create([{ id: 'A', role: 'library' }, { id: 'C' }], { resources: { copyBudgetBytes: 3 * SIZE } });
  await c.startAll();
  await waitFor('links up', () => c.linksUp(), 15_000);
  await (await c.client('A')).auth.addUser({ domain: 'msu', user: 'ann' }, 'A', 'ann password');
  for (const name of ['r1', 'r2', 'r3', 'r4']) await publish(name);
  await publish('huge', 3 * SIZE + 1);
});
after(async () => c?.destroy());

test('copies past the budget: the least recently read is dropped and unsubscribed at its home, the recently read kept', async () => {
  await read('r1');
  await read('r2');
  await read('r3'); // the budget is full
  await read('r1'); // r2 is now the least recently read
  for (const name of ['r1', 'r2', 'r3']) assert.ok((await subscribers(name)).includes('C'));

  await read('r4');
  assert.deepEqual(await copiesOnC(), [url('r1'), url('r3'), url('r4')]);
  await waitFor("A drops C from r2's subscribers", async () => !(await subscribers('r2')).includes('C'), 15_000);
  for (const name of ['r1', 'r3', 'r4']) assert.ok((await subscribers(name)).includes('C'), `${name} still subscribed`);
  assert.ok(!blobFiles(c, 'C').files.includes(sha(bodies.get('r2')!)), "r2's file is gone from C");
  assert.deepEqual(c.events('C', 'resource_evicted').map((e) => e.url), [url('r2')]);
  // The kept copies are served from C, not copied again.
  assert.equal((await nodeHttp(c, 'C', url('r1'))).headers['x-cohort-source'], 'copy');

  const json = await runCli(['resources', '--config', c.config, '--from', 'C', '--json']);
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual((JSON.parse(json.stdout) as { storage: { copies: unknown } }).storage.copies, { heldBytes: 3 * SIZE, reservedBytes: 0, budgetBytes: 3 * SIZE });
});

test('a copy larger than the whole budget is 507, nothing dropped, and its home keeps no subscription', async () => {
  const before = await copiesOnC();
  const r = await nodeHttp(c, 'C', url('huge'));
  assert.equal(r.status, 507);
  assert.equal(r.body.toString(), 'Insufficient Storage: this node cannot store it now\n');
  await waitFor('the reason in the log', () => c.events('C', 'resource_error').some((e) => /copy budget/.test(String(e.err))));
  assert.deepEqual(await copiesOnC(), before);
  await waitFor("A drops C from huge's subscribers", async () => !(await subscribers('huge')).includes('C'), 15_000);
});
