import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TestCluster } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait.ts';
import { blobFiles, copyStored, nodeHttp } from './helpers.ts';

// A copy small enough for memory is answered once its bytes are checked, before it is synced,
// renamed and recorded. Node C is told to die right at that point (COHORT_CRASH_POINTS
// copy_answered): the request still gets the whole, checked resource; nothing half-made is
// kept; the copy is made again on the next request. An app asking for the file (localPath)
// is never given a path before the file is in place.
let c: TestCluster;
const CRASH = { COHORT_CRASH_POINTS: 'copy_answered:1' };
const copiesOnC = async () => ((await (await c.client('C')).call('C', 'res.list', {})) as { copies: { url: string }[] }).copies.map((x) => x.url);
let n = 0;
const publish = async () => {
  const url = `/res/msu/ann/early/r${++n}.bin`;
  const bytes = randomBytes(60_000); // within the socket's buffer: the answer is all out before the crash point
  const file = join(c.dir, `r${n}.bin`);
  writeFileSync(file, bytes);
  await (await c.client('A')).call('A', 'res.publish', { url, file });
  return { url, bytes };
};

before(async () => {
  c = await TestCluster.create([{ id: 'A', role: 'library' }, { id: 'C' }]);
  await c.startAll();
  await waitFor('links up', () => c.linksUp(), 15_000);
  await (await c.client('A')).auth.addUser({ domain: 'msu', user: 'ann' }, 'A', 'ann password');
});
after(async () => c?.destroy());

const restartC = async (env: Record<string, string> = {}) => {
  await c.kill('C');
  await c.start('C', env, { mayDie: env === CRASH });
  await waitFor('links up', () => c.linksUp(), 15_000);
};

test('a node that dies between answering a copy and storing it: the answer was whole and checked, nothing half-made is kept, the next request copies it again', async () => {
  const { url, bytes } = await publish();
  await restartC(CRASH);
  const r = await nodeHttp(c, 'C', url);
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-cohort-source'], 'replicated');
  assert.ok(r.body.equals(bytes), 'the whole resource, as published');
  assert.ok(await c.exited('C', 10_000), 'C died at the crash point, after answering');
  await restartC();
  assert.deepEqual(blobFiles(c, 'C').tmp, [], 'the unsynced temporary file was swept at start');
  assert.ok(!(await copiesOnC()).includes(url), 'no copy recorded');
  const again = await nodeHttp(c, 'C', url);
  assert.equal(again.headers['x-cohort-source'], 'replicated', 'copied again');
  assert.ok(again.body.equals(bytes));
  await copyStored(c, 'C', url);
  assert.ok((await copiesOnC()).includes(url));
});

test('localPath is answered only once the file is in place: a node dying before that answers no path', async () => {
  const { url, bytes } = await publish();
  await restartC(CRASH);
  const client = await c.client('C');
  await assert.rejects(client.resources.localPath(url), (e: Error & { code?: string }) => e.code === 'con_lost');
  assert.ok(await c.exited('C', 10_000));
  await restartC();
  const { readFileSync } = await import('node:fs');
  assert.ok(readFileSync(await (await c.client('C')).resources.localPath(url)).equals(bytes));
});
