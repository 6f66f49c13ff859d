import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CohortError } from '../../src/errors.ts';
import { runCli } from '../harness/cli.ts';
import { TestCluster } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait.ts';
import { blobFiles, nodeHttp } from './helpers.ts';

// Per-author quotas on her home (bytes and versions kept) and pruning old versions: A is ann's
// home, C an access node holding a copy. Quotas here: 100,000 bytes and 4 versions.
let c: TestCluster;
const auth = `Basic ${Buffer.from('ann:ann password').toString('base64')}`;
const put = (url: string, body: Buffer | string) => nodeHttp(c, 'A', url, { method: 'PUT', body, headers: { authorization: auth, 'content-type': 'application/octet-stream' } });
const publish = async (url: string, body: Buffer | string) => {
  const file = join(c.dir, `upload-${randomBytes(6).toString('hex')}`);
  writeFileSync(file, body);
  return (await (await c.client('A')).call('A', 'res.publish', { url, file })) as { version: number };
};
type Listing = { published: { url: string; version: number; subscribers: { node: string }[] }[] };
const versionsOf = async (url: string) => ((await (await c.client('A')).call('A', 'res.list', {})) as Listing).published.filter((p) => p.url === url).map((p) => p.version);
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

before(async () => {
  c = await TestCluster.create([{ id: 'A', role: 'library' }, { id: 'C' }], { resources: { authorMaxBytes: 100_000, authorMaxVersions: 4 } });
  await c.startAll();
  await waitFor('links up', () => c.linksUp(), 15_000);
  await (await c.client('A')).auth.addUser({ domain: 'msu', user: 'ann' }, 'A', 'ann password');
});
after(async () => c?.destroy());

test("a publish past the author's byte quota is 413 and stores nothing; cohort resources shows her use", async () => {
  await publish('/res/msu/ann/data/a.bin', randomBytes(90_000));
  const before = blobFiles(c, 'A');
  // Refused on its Content-Length, before a byte is read.
  const refused = await put('/res/msu/ann/data/b.bin', randomBytes(12_000));
  assert.equal(refused.status, 413);
  assert.match(refused.body.toString(), /ann@msu's quota: .*authorMaxBytes/);
  // Through the local socket (cohort publish, apps) the bytes stream in: stopped at the quota, too_large.
  await assert.rejects(publish('/res/msu/ann/data/b.bin', randomBytes(50_000)), (err: CohortError) => err.code === 'too_large' && /quota/.test(err.message));
  assert.deepEqual(await versionsOf('/res/msu/ann/data/b.bin'), [], 'no row');
  assert.deepEqual(blobFiles(c, 'A'), before, 'no file left behind (nor a temporary one)');
  // What still fits goes in.
  assert.equal((await put('/res/msu/ann/data/b.bin', randomBytes(8_000))).status, 201);

  const json = await runCli(['resources', '--config', c.config, '--from', 'A', '--json']);
  assert.equal(json.code, 0, json.stderr);
  const ann = (JSON.parse(json.stdout) as { storage: { authors: { author: string; bytes: number; versions: number; maxBytes: number; maxVersions: number }[] } }).storage.authors.find((a) => a.author === 'ann');
  assert.deepEqual(ann && { bytes: ann.bytes, versions: ann.versions, maxBytes: ann.maxBytes, maxVersions: ann.maxVersions }, { bytes: 98_000, versions: 2, maxBytes: 100_000, maxVersions: 4 });
  const text = await runCli(['resources', '--config', c.config, '--from', 'A']);
  assert.match(text.stdout, /ann@msu\s+2\s+4\s+98000\s+100000\s+98%/);
});

test('past the versions quota a publish is 413; prune keeps the newest N, removes the others and their files, subscribers go on', async () => {
  const url = '/res/msu/ann/page.html';
  await publish(url, 'one\n');
  await publish(url, 'two\n');
  const refused = await put(url, 'three\n'); // ann holds 4 versions: a.bin, b.bin, page 1 and 2
  assert.equal(refused.status, 413);
  assert.match(refused.body.toString(), /4 of 4 versions/);
  assert.deepEqual(await versionsOf(url), [2, 1]);
  // C copies the newest: it subscribes.
  assert.equal((await nodeHttp(c, 'C', url)).body.toString(), 'two\n');

  assert.equal((await runCli(['resources', 'prune', url, '--keep', '0', '--config', c.config, '--from', 'A'])).code, 2);
  const elsewhere = await runCli(['resources', 'prune', url, '--keep', '1', '--config', c.config, '--from', 'C']);
  assert.equal(elsewhere.code, 1);
  assert.match(elsewhere.stderr, /refused: ann@msu does not live on this node/);

  const pruned = await runCli(['resources', 'prune', url, '--keep', '1', '--config', c.config, '--from', 'A', '--json']);
  assert.equal(pruned.code, 0, pruned.stderr);
  assert.deepEqual(JSON.parse(pruned.stdout), { url, kept: [2], removed: [{ version: 1, size: 4 }], freedBytes: 4 });
  assert.deepEqual(await versionsOf(url), [2]);
  assert.equal((await nodeHttp(c, 'A', `${url}?version=1`)).status, 404);
  assert.ok(!blobFiles(c, 'A').files.includes(sha('one\n')), "version 1's file is gone");
  assert.ok(blobFiles(c, 'A').files.includes(sha('two\n')));

  // Room again: the next version goes in, and C (still subscribed) gets it.
  assert.equal((await put(url, 'three\n')).status, 201);
  await waitFor('C serves version 3', async () => (await nodeHttp(c, 'C', url)).body.toString() === 'three\n', 10_000);
  const text = await runCli(['resources', 'prune', url, '--keep', '5', '--config', c.config, '--from', 'A']);
  assert.match(text.stdout, /0 versions removed, 0 bytes freed; kept 3, 2/);
});

test('a publish relayed by another node (cohort publish --from C) is refused with the home\'s reason', async () => {
  const file = join(c.dir, 'relayed.html');
  writeFileSync(file, 'relayed\n');
  const out = await runCli(['publish', file, '/res/msu/ann/relayed.html', '--as', 'ann', '--config', c.config, '--from', 'C']);
  assert.equal(out.code, 1);
  assert.match(out.stderr, /too_large: A: (413 )?ann@msu's quota: 4 of 4 versions/);
  assert.deepEqual(await versionsOf('/res/msu/ann/relayed.html'), []);
});
