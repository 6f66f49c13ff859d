import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TestCluster } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait.ts';
import { copyStored, nodeHttp, nodeHttpDigest } from './helpers.ts';

// Seed 000's dynamic resource replication with real nodes: A (library, home of the author
// ann), access nodes C and D. A resource published on A is copied to an access node the
// first time it is asked for there, served from the copy after that, also while A is down.
let c: TestCluster;
const URL_1 = '/res/msu/ann/physics/lesson1.html';
const page = Buffer.from('<html><body><h1>Lesson 1</h1><p>' + 'x'.repeat(5000) + '</p></body></html>\n');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

before(async () => {
  c = await TestCluster.create([{ id: 'A', role: 'library' }, { id: 'C' }, { id: 'D' }]);
  await c.startAll();
  await waitFor('links up', () => c.linksUp(), 15_000);
  await (await c.client('A')).auth.addUser({ domain: 'msu', user: 'ann' }, 'A', 'ann password');
  const file = join(c.dir, 'lesson1.html');
  writeFileSync(file, page);
  const out = (await (await c.client('C')).call('C', 'res.publish', { url: URL_1, file })) as { version: number; digest: string };
  assert.equal(out.version, 1);
  assert.equal(out.digest, sha(page));
});
after(async () => c?.destroy());

test('first access replicates; then the copy is served with ETag, Last-Modified, conditional GET, Range and HEAD', async () => {
  const first = await nodeHttp(c, 'C', URL_1);
  assert.equal(first.status, 200);
  assert.ok(first.body.equals(page));
  assert.equal(first.headers['x-cohort-source'], 'replicated');
  assert.equal(first.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(first.headers.etag, `"${sha(page)}"`);
  assert.ok(first.headers['last-modified']);
  await copyStored(c, 'C', URL_1);
  const again = await nodeHttp(c, 'C', URL_1);
  assert.equal(again.headers['x-cohort-source'], 'copy');
  assert.equal((await nodeHttp(c, 'C', URL_1, { headers: { 'if-none-match': `"${sha(page)}"` } })).status, 304);
  const range = await nodeHttp(c, 'C', URL_1, { headers: { range: 'bytes=6-11' } });
  assert.equal(range.status, 206);
  assert.equal(range.body.toString(), '<body>');
  assert.equal(range.headers['content-range'], `bytes 6-11/${page.length}`);
  const head = await nodeHttp(c, 'C', URL_1, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], String(page.length));
  assert.equal(head.body.length, 0);
  // The home serves its own; the subscription is on record there.
  assert.equal((await nodeHttp(c, 'A', URL_1)).headers['x-cohort-source'], 'home');
  const listed = (await (await c.client('A')).call('A', 'res.list', {})) as { published: { url: string; subscribers: { node: string }[] }[] };
  assert.deepEqual(listed.published.find((p) => p.url === URL_1)!.subscribers.map((s) => s.node), ['C']);
  await waitFor('the copy in the log', () => c.events('C', 'resource_replicated').length > 0);
  assert.equal(c.events('C', 'resource_replicated').length, 1);
});

test('50 concurrent first requests make one transfer, and every one gets the whole resource', async () => {
  const replies = await Promise.all(Array.from({ length: 50 }, () => nodeHttp(c, 'D', URL_1)));
  for (const r of replies) {
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(page));
  }
  await waitFor('the copy in the log', () => c.events('D', 'resource_replicated').length > 0);
  assert.equal(c.events('D', 'resource_replicated').length, 1);
  assert.ok(replies.filter((r) => r.headers['x-cohort-source'] === 'replicated').length > 1, 'requests waited on the one transfer');
});

test('apps: client.resources.localPath and meta, replicating on first use', async () => {
  const client = await c.client('D');
  const meta = await client.resources.meta(URL_1);
  assert.equal(meta.version, 1);
  assert.equal(meta.size, page.length);
  const path = await client.resources.localPath(URL_1);
  const { readFileSync } = await import('node:fs');
  assert.ok(readFileSync(path).equals(page));
  await assert.rejects(client.resources.meta('/res/msu/ann/no-such-thing.html'), (e: Error & { code?: string }) => e.code === 'not_found');
  await assert.rejects(client.resources.meta('/res/msu/nobody/x.html'), (e: Error & { code?: string }) => e.code === 'not_found');
});

test('apps: client.resources.local gives a file and the version of that very file in one answer, also while new versions land', async () => {
  const url = '/res/msu/ann/physics/revised.html';
  const a = await c.client('A');
  const d = await c.client('D');
  const { readFileSync } = await import('node:fs');
  const publish = async (n: number) => {
    const file = join(c.dir, `revised-${n}.html`);
    writeFileSync(file, `<p>version ${n}</p>`);
    assert.equal(((await a.call('A', 'res.publish', { url, file })) as { version: number }).version, n);
  };
  await publish(1);
  assert.equal((await d.resources.local(url)).version, 1); // D copies it and subscribes: updates reach it by notice
  const seen: { version: number; text: string; digest: string; sha: string }[] = [];
  let publishing = true;
  const reading = (async () => {
    while (publishing || seen.length < 5) {
      const l = await d.resources.local(url);
      const bytes = readFileSync(l.path);
      seen.push({ version: l.version, text: bytes.toString(), digest: l.digest, sha: sha(bytes) });
    }
  })();
  for (let n = 2; n <= 6; n++) await publish(n);
  await waitFor("D's copy at version 6", async () => (await d.resources.local(url)).version === 6, 15_000);
  publishing = false;
  await reading;
  for (const s of seen) {
    assert.equal(s.text, `<p>version ${s.version}</p>`, 'the file answered is the version answered');
    assert.equal(s.sha, s.digest);
  }
  // A path answered stays readable a while after a newer version replaces its copy (an app opens it after the answer).
  const old = await d.resources.local(url);
  await publish(7);
  await waitFor("D's copy at version 7", async () => (await d.resources.local(url)).version === 7, 15_000);
  assert.equal(readFileSync(old.path, 'utf8'), '<p>version 6</p>', 'the replaced version\'s file is still there');
});

test("apps: localPath while a first access is under way gives a file in place (the requests were answered from the checked bytes before it was)", async () => {
  const url = '/res/msu/ann/physics/fresh.bin';
  const bytes = Buffer.alloc(1_000_000, 7); // as large as a copy answered from memory may be: its write and fsync take longest
  const file = join(c.dir, 'fresh.bin');
  writeFileSync(file, bytes);
  await (await c.client('A')).call('A', 'res.publish', { url, file });
  const client = await c.client('C');
  const { readFileSync } = await import('node:fs');
  // The file is read the moment localPath answers.
  const [read, ...replies] = await Promise.all([client.resources.localPath(url).then((path) => readFileSync(path)), ...Array.from({ length: 3 }, () => nodeHttp(c, 'C', url))]);
  assert.ok(read.equals(bytes), 'the file is whole and in place when localPath answers');
  for (const r of replies) assert.ok(r.status === 200 && r.body.equals(bytes));
});

test('a newer version stored while the first copy was on its way is what the bare URL serves once both are here', async () => {
  const url = '/res/msu/ann/physics/big-then-small.bin';
  const { randomBytes } = await import('node:crypto');
  const big = randomBytes(40_000_000); // a transfer long enough for the notice of version 2, and its fetch, to overtake it
  const file = join(c.dir, 'big.bin');
  writeFileSync(file, big);
  const a = await c.client('A');
  await a.call('A', 'res.publish', { url, file });
  const subscribers = async () => ((await a.call('A', 'res.list', {})) as { published: { url: string; subscribers: { node: string }[] }[] }).published.find((p) => p.url === url)!.subscribers.map((s) => s.node);
  const first = nodeHttpDigest(c, 'C', url);
  await waitFor('C subscribed (its transfer under way)', async () => (await subscribers()).includes('C'), 10_000, 5);
  writeFileSync(file, 'version two\n');
  await a.call('A', 'res.publish', { url, file });
  const v1 = await first;
  assert.equal(v1.status, 200);
  assert.equal(v1.digest, sha(big), 'the first request gets the version it asked for');
  const copies = async () => ((await (await c.client('C')).call('C', 'res.list', {})) as { copies: { url: string; version: number }[] }).copies.filter((x) => x.url === url).map((x) => x.version).sort();
  await waitFor('C holds version 2 and its first copy', async () => {
    const held = await copies();
    return held.includes(2) && c.events('C', 'resource_replicated').some((e) => e.url === url);
  }, 20_000);
  const now = await nodeHttp(c, 'C', url);
  assert.equal(now.headers['x-cohort-version'], '2');
  assert.equal(now.body.toString(), 'version two\n');
});
