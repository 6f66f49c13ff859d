import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TestCluster } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait.ts';
import { copyStored, nodeHttp, nodeHttpDigest } from './helpers.ts';

// Updates (seed 000, U1-U6, and Example Transaction 1): A (library) is the home of author ann;
// C and D are access nodes. D holds copies it reads; E holds a copy nobody has read within
// the read window (here 2 s), so an update drops it and unsubscribes E.
let c: TestCluster;
const URL_1 = '/res/msu/ann/course/page.html';
const publish = async (text: string) => {
  const file = join(c.dir, `page-${Date.now()}.html`);
  writeFileSync(file, text);
  return (await (await c.client('A')).call('A', 'res.publish', { url: URL_1, file })) as { version: number; notified: { node: string; status: string }[] };
};
const subscribers = async () => ((await (await c.client('A')).call('A', 'res.list', {})) as { published: { url: string; version: number; subscribers: { node: string }[] }[] }).published.find((p) => p.url === URL_1)!.subscribers.map((s) => s.node);

before(async () => {
  c = await TestCluster.create([{ id: 'A', role: 'library' }, { id: 'C' }, { id: 'D' }, { id: 'E' }], { resources: { readWindowH: 2 / 3600 } });
  await c.startAll();
  await waitFor('links up', () => c.linksUp(), 15_000);
  await (await c.client('A')).auth.addUser({ domain: 'msu', user: 'ann' }, 'A', 'ann password');
  await publish('version one\n');
});
after(async () => c?.destroy());

test('a subscriber that was down when a new version was published gets it when it returns; the others at once', async () => {
  for (const id of ['C', 'D']) assert.equal((await nodeHttp(c, id, URL_1)).body.toString(), 'version one\n');
  await c.kill('D');
  const out = await publish('version two\n');
  assert.equal(out.version, 2);
  assert.deepEqual(out.notified.map((n) => `${n.node} ${n.status}`).sort(), ['C ok', 'D delayed']);
  // C: the new version at once (it was read within the window).
  await waitFor('C serves version 2', async () => (await nodeHttp(c, 'C', URL_1)).body.toString() === 'version two\n', 10_000);
  await c.start('D');
  await waitFor('D, back, serves version 2', async () => (await nodeHttp(c, 'D', URL_1)).body.toString() === 'version two\n', 15_000);
  // Fetched by the update or, if D's copy was past the read window (2 s) by then, by the first
  // request: either way D then serves version 2 from its copy.
  await copyStored(c, 'D', URL_1);
  const d = await nodeHttp(c, 'D', URL_1);
  assert.equal(d.headers['x-cohort-version'], '2');
  assert.equal(d.headers['x-cohort-source'], 'copy');
  // Every version stays addressable at home and anywhere.
  assert.equal((await nodeHttp(c, 'D', `${URL_1}?version=1`)).body.toString(), 'version one\n');
  assert.equal((await nodeHttp(c, 'A', `${URL_1}?version=2`)).body.toString(), 'version two\n');
});

test('a copy not read within the window is dropped and unsubscribed on the next update', async () => {
  assert.equal((await nodeHttp(c, 'E', URL_1)).status, 200);
  assert.ok((await subscribers()).includes('E'));
  const until = Date.now() + 2500;
  while (Date.now() < until) await new Promise((r) => setTimeout(r, 100)); // the read window (2 s) is what is under test
  await publish('version three\n');
  await waitFor('A drops E from the subscribers', async () => !(await subscribers()).includes('E'), 10_000);
  await waitFor('the drop in the log', () => c.events('E', 'resource_dropped').length > 0);
  assert.equal(c.events('E', 'resource_dropped').length, 1);
  const copies = ((await (await c.client('E')).call('E', 'res.list', {})) as { copies: unknown[] }).copies;
  assert.deepEqual(copies, []);
  // Asked for again, it is copied again (and subscribed again).
  assert.equal((await nodeHttp(c, 'E', URL_1)).body.toString(), 'version three\n');
  assert.ok((await subscribers()).includes('E'));
});

test('a node restarted keeps its copies and subscriptions, and serves its copy while the home is down', async () => {
  assert.equal((await nodeHttp(c, 'C', URL_1)).status, 200);
  await copyStored(c, 'C', URL_1);
  await c.kill('C');
  await c.start('C');
  await c.kill('A');
  const r = await nodeHttp(c, 'C', URL_1);
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-cohort-source'], 'copy');
  // Not here and the home is down: 503, come back later.
  const missing = await nodeHttp(c, 'C', '/res/msu/ann/course/other.html');
  assert.equal(missing.status, 503);
  assert.ok(missing.headers['retry-after']);
  await c.start('A');
  await waitFor('links up', () => c.linksUp(), 15_000);
  // C's subscription survived its restart: the next version reaches it.
  await publish('version four\n');
  await waitFor('C serves version 4', async () => (await nodeHttp(c, 'C', URL_1)).body.toString() === 'version four\n', 10_000);
});

test('an old version asked for by number first does not stand for the newest', async () => {
  const fresh = '/res/msu/ann/course/fresh.html';
  for (const text of ['fresh one\n', 'fresh two\n']) {
    const file = join(c.dir, `fresh-${text.length}-${Date.now()}.html`);
    writeFileSync(file, text);
    await (await c.client('A')).call('A', 'res.publish', { url: fresh, file });
  }
  assert.equal((await nodeHttp(c, 'D', `${fresh}?version=1`)).body.toString(), 'fresh one\n');
  assert.equal((await nodeHttp(c, 'D', fresh)).body.toString(), 'fresh two\n');
});

test('a copy whose file went missing while its node was down is copied again when read', async () => {
  assert.equal((await nodeHttp(c, 'C', URL_1)).status, 200);
  await c.kill('C');
  const blobs = join(c.table.dataDir, 'C', 'blobs');
  for (const f of readdirSync(blobs)) if (/^[0-9a-f]{64}$/.test(f)) rmSync(join(blobs, f));
  await c.start('C');
  const r = await nodeHttp(c, 'C', URL_1);
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-cohort-source'], 'replicated');
  await waitFor('copies_missing in the log', () => c.log('C').includes('"event":"copies_missing"')); // a node writes its log asynchronously: the line may come after the reply
});

test('while a new version is on its way (and its home goes down meanwhile), the copy held is served', async () => {
  const url = '/res/msu/ann/course/long.bin';
  const put = async (file: string) => (await (await c.client('A')).call('A', 'res.publish', { url, file })) as { version: number; digest: string };
  const small = join(c.dir, 'long-1.bin');
  writeFileSync(small, 'version one of the long file\n');
  await put(small);
  assert.equal((await nodeHttp(c, 'D', url)).body.toString(), 'version one of the long file\n');
  // Version two is big, so D's fetch of it is still under way when A is killed. D's copy is
  // read meanwhile: making and publishing 128 MB can take longer than the cluster's 2 s read
  // window, and a copy not read within it is dropped on the update, not fetched (the test above).
  let publishing = true;
  const reading = (async () => {
    while (publishing) {
      await nodeHttp(c, 'D', url);
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  const big = join(c.dir, 'long-2.bin');
  writeFileSync(big, randomBytes(128 * 1024 * 1024));
  const tmp = join(c.table.dataDir, 'D', 'blobs', 'tmp');
  const two = await put(big).finally(() => (publishing = false));
  await reading;
  await waitFor("D's fetch of version 2 is under way", () => readdirSync(tmp).length > 0, 10_000, 5);
  await c.kill('A');
  const r = await nodeHttp(c, 'D', url);
  assert.equal(r.status, 200, 'the held copy is served while the home is down');
  assert.equal(r.body.toString(), 'version one of the long file\n');
  await c.start('A');
  await waitFor('links up', () => c.linksUp(), 15_000);
  await waitFor('D serves version 2 once A is back', async () => (await nodeHttpDigest(c, 'D', url)).digest === two.digest, 30_000, 200);
  rmSync(big);
});
