import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { nodeDataDir } from '../../src/config/host-table.ts';
import { TestCluster } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait.ts';
import { nodeHttp, type HttpReply } from './helpers.ts';

// What a client can learn from the resource space's answers: an unknown author reads like a
// missing resource, every failed author check on PUT is the same 401, and a node's internal
// failure is not told to the client. A: library, home of ann and bob; C: access node.
let c: TestCluster;
const PAGE = '/res/msu/ann/page.html';
const body = 'ann page\n';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
/** A reply with the URL it names taken out: what tells one 404 from another, if anything. */
const shape = (r: HttpReply, url: string) => ({ status: r.status, type: r.headers['content-type'], body: r.body.toString().replaceAll(url, '<url>') });

before(async () => {
  c = await TestCluster.create([{ id: 'A', role: 'library' }, { id: 'C' }]);
  await c.startAll();
  await waitFor('links up', () => c.linksUp(), 15_000);
  const a = await c.client('A');
  await a.auth.addUser({ domain: 'msu', user: 'ann' }, 'A', 'ann password');
  await a.auth.addUser({ domain: 'msu', user: 'bob' }, 'A', 'bob password');
  const file = join(c.dir, 'page.html');
  writeFileSync(file, body);
  await a.call('A', 'res.publish', { url: PAGE, file });
});
after(async () => c?.destroy());

test('a GET under an unknown author answers exactly as a missing resource does (404, same body shape), on the home and elsewhere', async () => {
  for (const node of ['A', 'C']) {
    for (const query of ['', '?version=2']) {
      const missing = `/res/msu/ann/missing-${node}.html`;
      const unknown = `/res/msu/nobody${node}/page.html`;
      const a = await nodeHttp(c, node, missing + query);
      const b = await nodeHttp(c, node, unknown + query);
      assert.equal(a.status, 404, `${node} ${missing}${query}: ${a.body}`);
      assert.deepEqual(shape(b, unknown), shape(a, missing), `${node}${query}: ${b.body} vs ${a.body}`);
    }
  }
});

test('every failed author check on PUT is the same 401 with a Basic challenge; only the author with her password hears 421 off her home', async () => {
  const put = (node: string, url: string, auth?: string) => nodeHttp(c, node, url, { method: 'PUT', body: 'overwritten\n', headers: { 'content-type': 'text/html', ...(auth ? { authorization: auth } : {}) } });
  const failed = [
    ['A', PAGE, undefined, 'no credentials'],
    ['A', PAGE, basic('bob', 'bob password'), "another user's name and password"],
    ['A', PAGE, basic('ann', 'wrong'), 'a wrong password'],
    ['A', '/res/msu/nobody/page.html', basic('nobody', 'anything'), 'an unknown author'],
    ['C', PAGE, basic('ann', 'wrong'), 'a wrong password, off her home'],
    ['C', '/res/msu/nobody/page.html', basic('nobody', 'anything'), 'an unknown author, off her home'],
  ] as const;
  const replies = [];
  for (const [node, url, auth, what] of failed) {
    const r = await put(node, url, auth);
    assert.equal(r.status, 401, `${what}: ${r.status} ${r.body}`);
    assert.match(String(r.headers['www-authenticate']), /^Basic realm=/, what);
    replies.push({ what, body: r.body.toString() });
  }
  assert.equal(new Set(replies.map((r) => r.body)).size, 1, `one body for all: ${JSON.stringify(replies)}`);
  assert.equal((await put('C', PAGE, basic('ann', 'ann password'))).status, 421, 'her home is A');
  assert.equal((await nodeHttp(c, 'A', PAGE)).body.toString(), body, 'nothing was published');
  const ok = await put('A', PAGE, basic('ann', 'ann password'));
  assert.equal(ok.status, 201, ok.body.toString());
});

for (const [size, notes] of [['small', 'bob notes\n'], ['larger than memory holds', 'bob notes\n'.repeat(120_000)]] as const) test(`a 500 on the HTTP port says only "Internal Server Error"; the reason (a file path) is in the log (${size})`, async () => {
  const url = `/res/msu/bob/notes-${notes.length}.txt`;
  const file = join(c.dir, 'notes.txt');
  writeFileSync(file, notes);
  await (await c.client('A')).call('A', 'res.publish', { url, file });
  if (notes.length < 1024 ** 2) {
    // Held in memory since its publish: A starts again with nothing in memory, so the file is read.
    await c.kill('A');
    await c.start('A');
    await waitFor('links up', () => c.linksUp(), 15_000);
  }
  // The file under its digest goes missing (a disk fault, a hand): serving it fails inside the node.
  const blob = join(nodeDataDir(c.table, 'A'), 'blobs', createHash('sha256').update(notes).digest('hex'));
  renameSync(blob, `${blob}.away`);
  try {
    const r = await nodeHttp(c, 'A', url);
    assert.equal(r.status, 500);
    assert.equal(r.body.toString(), 'Internal Server Error\n');
    const logged = await waitFor('A logs the failure', () => c.events('A', 'resource_error').find((e) => e.url === url), 5000);
    assert.match(String(logged.err), /ENOENT.*blobs/, 'the reason, with the path, is in the log');
  } finally {
    renameSync(`${blob}.away`, blob);
  }
  assert.equal((await nodeHttp(c, 'A', url)).status, 200);
});
