import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { nodeDataDir } from '../../src/config/host-table.ts';
import { TestCluster } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait.ts';
import { copyStored, nodeHttp } from './helpers.ts';

// A compromised library node F of domain evil (a real process holding F's cluster certificate,
// test/harness/fake-library-node.ts) claims its domain's authors and lies in its answers. The
// access node A must refuse each lie, log it, and keep nothing of it; its copy of ann's page
// (home L) stays as L published it, and L's next version still reaches it.
const FAKE = fileURLToPath(new URL('../harness/fake-library-node.ts', import.meta.url));
const VICTIM = '/res/msu/ann/page.html';
const page = 'the page ann published\n';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
let c: TestCluster;
let fake: ChildProcess;

interface Copy {
  url: string;
  version: number;
  digest: string;
}
const copiesOn = async (id: string) => ((await (await c.client(id)).call(id, 'res.list', {})) as { copies: Copy[] }).copies;
const blobsOf = (id: string) => readdirSync(join(nodeDataDir(c.table, id), 'blobs')).filter((f) => f !== 'tmp').sort();

before(async () => {
  // A copy budget of 1,000 bytes on A: ann's page (24 bytes) and a copy of 990 would not both fit.
  c = await TestCluster.create([{ id: 'L', role: 'library' }, { id: 'A' }, { id: 'F', domain: 'evil', role: 'library' }], { resources: { maxBytes: 1_000, copyBudgetBytes: 1_000 } });
  fake = spawn(process.execPath, [FAKE, '--config', c.config, '--id', 'F', '--victim', VICTIM], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  fake.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor('the fake node F to listen', () => {
    if (fake.exitCode !== null) throw new Error(`the fake node exited (${fake.exitCode})`);
    return out.includes('ready');
  }, 15_000);
  await Promise.all([c.start('L'), c.start('A')]);
  await waitFor('links up: L and A, and A to F', async () => (await c.linksUp(['L', 'A'])) && (await c.peers('A')).find((p) => p.id === 'F')?.state === 'up', 15_000);
  await (await c.client('L')).auth.addUser({ domain: 'msu', user: 'ann' }, 'L', 'ann password');
  const file = join(c.dir, 'page.html');
  writeFileSync(file, page);
  await (await c.client('L')).call('L', 'res.publish', { url: VICTIM, file });
  assert.equal((await nodeHttp(c, 'A', VICTIM)).body.toString(), page, 'A holds a copy of ann\'s page');
  await copyStored(c, 'A', VICTIM);
});
after(async () => {
  fake?.kill('SIGTERM');
  await c?.destroy();
});

test("an answer to res.subscribe that names another resource is refused, logged, and nothing is stored; the real copy is untouched", async () => {
  const blobsBefore = blobsOf('A');
  const r = await nodeHttp(c, 'A', '/res/evil/mallory/other-url');
  assert.equal(r.status, 503, r.body.toString());
  // The node's logger writes asynchronously (pino's sonic-boom): the line may land just after the answer.
  await waitFor('the answer logged as refused', () => c.events('A', 'resource_answer_refused').some((e) => e.from === 'F' && e.url === '/res/evil/mallory/other-url' && /another resource/.test(String(e.why))));
  assert.deepEqual((await copiesOn('A')).map((x) => [x.url, x.version, x.digest]), [[VICTIM, 1, sha(page)]], "A's only copy is ann's page, as L published it");
  assert.deepEqual(blobsOf('A'), blobsBefore, 'no file was stored');
  assert.equal((await nodeHttp(c, 'A', VICTIM)).body.toString(), page);
  // Updates from the real home still reach the copy.
  const file = join(c.dir, 'page2.html');
  writeFileSync(file, 'version 2 from ann\n');
  await (await c.client('L')).call('L', 'res.publish', { url: VICTIM, file });
  await waitFor("A has L's version 2", async () => (await copiesOn('A')).some((x) => x.url === VICTIM && x.version === 2 && x.digest === sha('version 2 from ann\n')), 10_000);
  assert.equal((await nodeHttp(c, 'A', VICTIM)).body.toString(), 'version 2 from ann\n');
});

test('an answer naming another version than the one asked, or not a version at all, is refused and nothing is stored', async () => {
  const blobsBefore = blobsOf('A');
  for (const [path, why] of [['/res/evil/mallory/other-version?version=3', /version 3 was asked for, it names version 4/], ['/res/evil/mallory/malformed', /malformed/]] as const) {
    const r = await nodeHttp(c, 'A', path);
    assert.equal(r.status, 503, `${path}: ${r.status} ${r.body}`);
    const url = path.split('?')[0];
    await waitFor(`${path} refused in the log`, () => c.events('A', 'resource_answer_refused').some((e) => e.url === url && why.test(String(e.why))));
  }
  assert.deepEqual((await copiesOn('A')).map((x) => x.url), [VICTIM]);
  assert.deepEqual(blobsOf('A'), blobsBefore);
});

test("bytes that do not hash to the announced digest are not kept; a malformed res.author answer is not taken as a yes", async () => {
  const blobsBefore = blobsOf('A');
  const r = await nodeHttp(c, 'A', '/res/evil/mallory/bad-digest');
  assert.equal(r.status, 503);
  await waitFor('the transfer logged as failed', () => c.events('A', 'resource_transfer_failed').some((e) => e.url === '/res/evil/mallory/bad-digest' && /digest mismatch/.test(String(e.err))));
  assert.deepEqual((await copiesOn('A')).map((x) => x.url), [VICTIM]);
  assert.deepEqual(blobsOf('A'), blobsBefore);
  assert.deepEqual(readdirSync(join(nodeDataDir(c.table, 'A'), 'blobs', 'tmp')), [], 'no temporary file left');
  // F answers res.author for 'garbled' with { home: 'yes' }: no home is found, nothing is asked or stored.
  const g = await nodeHttp(c, 'A', '/res/evil/garbled/page.html');
  assert.equal(g.status, 503, g.body.toString());
  await waitFor('the answer logged as refused', () => c.events('A', 'home_answer_refused').some((e) => e.from === 'F' && e.who === 'garbled@evil'));
  assert.deepEqual((await copiesOn('A')).map((x) => x.url), [VICTIM]);
});

test('a copy announced to need the room of others drops none of them when its transfer fails', async () => {
  // F announces 990 bytes (so ann's page would have to go for it), then sends other bytes.
  const r = await nodeHttp(c, 'A', '/res/evil/mallory/fill-budget');
  assert.equal(r.status, 503);
  await waitFor('the transfer logged as failed', () => c.events('A', 'resource_transfer_failed').some((e) => e.url === '/res/evil/mallory/fill-budget'));
  assert.deepEqual(c.events('A', 'resource_evicted'), [], 'no copy dropped for a transfer that failed');
  assert.deepEqual((await copiesOn('A')).map((x) => x.url), [VICTIM]);
  const again = await nodeHttp(c, 'A', VICTIM);
  assert.equal(again.headers['x-cohort-source'], 'copy');
});
