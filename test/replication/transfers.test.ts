import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readdirSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TestCluster } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait.ts';
import { nodeHttp, nodeHttpDigest, peakRssMb, rssMb } from './helpers.ts';

// Transfers under faults: a big resource streams with bounded memory; the home killed in the
// middle of a transfer leaves nothing served; a copy whose bytes do not match the announced
// digest is discarded. A: library, home of ann; C, D: access nodes.
const BIG_MB = Number(process.env.REPLICATION_BIG_MB ?? 200);
let c: TestCluster;
let bigDigest = '';
const BIG = '/res/msu/ann/video/lecture.bin';
const blobsOf = (id: string) => join(c.table.dataDir, id, 'blobs');

before(async () => {
  c = await TestCluster.create([{ id: 'A', role: 'library' }, { id: 'C' }, { id: 'D' }, { id: 'E' }], { resources: { maxWaiting: 3 } });
  await c.startAll();
  await waitFor('links up', () => c.linksUp(), 15_000);
  await (await c.client('A')).auth.addUser({ domain: 'msu', user: 'ann' }, 'A', 'ann password');
  const file = join(c.dir, 'lecture.bin');
  const fd = openSync(file, 'w');
  const chunk = randomBytes(1024 * 1024);
  const hash = createHash('sha256');
  for (let i = 0; i < BIG_MB; i++) {
    chunk.writeUInt32BE(i, 0);
    writeSync(fd, chunk);
    hash.update(chunk);
  }
  closeSync(fd);
  bigDigest = hash.digest('hex');
  const out = (await (await c.client('A')).call('A', 'res.publish', { url: BIG, file })) as { digest: string };
  assert.equal(out.digest, bigDigest);
});
after(async () => c?.destroy());

test(`the home killed in the middle of a transfer: no partial copy is served or kept; later the copy is made cleanly`, async () => {
  const tmp = join(blobsOf('D'), 'tmp');
  const pending = nodeHttp(c, 'D', BIG).catch((err: Error) => ({ status: 0, err }));
  await waitFor('the transfer to D is under way', () => readdirSync(tmp).length > 0, 10_000, 5);
  await c.kill('A');
  const r = (await pending) as { status: number };
  assert.equal(r.status, 503);
  await waitFor('the temporary file is gone', () => readdirSync(tmp).length === 0, 5000);
  assert.deepEqual(((await (await c.client('D')).call('D', 'res.list', {})) as { copies: unknown[] }).copies, []);
  assert.ok(!readdirSync(blobsOf('D')).includes(bigDigest), 'no file under the digest');
  await c.start('A');
  await waitFor('links up', () => c.linksUp(), 15_000);
  const again = await nodeHttpDigest(c, 'D', BIG);
  assert.equal(again.status, 200);
  assert.equal(again.digest, bigDigest);
});

// The bytes stream through (a copy held whole would take BIG_MB MiB and more); what the RSS grows
// by is mostly the heap's garbage before a collection, 81-109 MiB for 200 MB in CI runs on 2 cores
// (100 was too tight): three quarters of the size leaves that room and still fails a buffered copy.
const RSS_GROWTH_MIB = Math.round(BIG_MB * 0.75);

test(`a ${BIG_MB} MB resource replicates with the node's peak memory bounded (its RSS grows by less than ${RSS_GROWTH_MIB} MiB)`, async () => {
  const pid = c.pid('C')!;
  const before = rssMb(pid);
  const r = await nodeHttpDigest(c, 'C', BIG);
  assert.equal(r.status, 200);
  assert.equal(r.bytes, BIG_MB * 1024 * 1024);
  assert.equal(r.digest, bigDigest);
  const peak = peakRssMb(pid);
  console.log(`replication: ${BIG_MB} MB copied; node C's RSS ${before.toFixed(0)} MiB before, peak ${peak.toFixed(0)} MiB`);
  assert.ok(peak - before < RSS_GROWTH_MIB, `peak RSS ${peak.toFixed(0)} MiB, ${(peak - before).toFixed(0)} MiB over the ${before.toFixed(0)} MiB before`);
});

test('past maxWaiting requests waiting on a transfer, the rest are told to come back (503, Retry-After)', async () => {
  const replies = await Promise.all(Array.from({ length: 12 }, () => nodeHttpDigest(c, 'E', BIG)));
  const ok = replies.filter((r) => r.status === 200);
  const busy = replies.filter((r) => r.status === 503);
  assert.equal(ok.length + busy.length, replies.length);
  assert.ok(busy.length >= 1, `no request was turned away (${replies.map((r) => r.status).join(' ')})`);
  assert.ok(ok.length >= 2, 'the transfer and its waiters were served');
  for (const r of ok) assert.equal(r.digest, bigDigest);
  await waitFor('the copy in the log', () => c.events('E', 'resource_replicated').length > 0);
  assert.equal(c.events('E', 'resource_replicated').length, 1);
});

for (const repeat of [1, 70_000]) test(`a copy whose bytes do not match the announced digest is discarded, logged and not served (${repeat === 1 ? 'small' : 'larger than memory holds'})`, async () => {
  const url = `/res/msu/ann/notes-${repeat}.txt`;
  const file = join(c.dir, 'notes.txt');
  const text = 'the right bytes\n'.repeat(repeat);
  writeFileSync(file, text);
  const { digest } = (await (await c.client('A')).call('A', 'res.publish', { url, file })) as { digest: string };
  if (repeat === 1) {
    // Held in memory since its publish: A starts again with nothing in memory, so the file is read.
    await c.kill('A');
    await c.start('A');
    await waitFor('links up', () => c.linksUp(), 15_000);
  }
  // The home's file is damaged (same length, other bytes).
  writeFileSync(join(blobsOf('A'), digest), 'the wrong bytes\n'.repeat(repeat));
  const r = await nodeHttp(c, 'C', url);
  assert.equal(r.status, 503);
  assert.ok(!r.body.includes('wrong'));
  await waitFor('the failed transfer in the log', () => c.events('C', 'resource_transfer_failed').some((e) => /digest mismatch/.test(String(e.err))));
  assert.ok(!readdirSync(blobsOf('C')).includes(digest));
  assert.equal((await nodeHttp(c, 'C', url)).status, 503, 'still not served');
  writeFileSync(join(blobsOf('A'), digest), text);
  assert.equal((await nodeHttp(c, 'C', url)).body.toString(), text);
  if (repeat === 1) await waitFor('A to log its damaged file', () => c.events('A', 'resource_file_unreadable').some((e) => e.url === url));
});
