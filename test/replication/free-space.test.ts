import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse, stringify } from 'yaml';
import type { NodeSnapshot } from '../../src/admin/node-status.ts';
import type { CohortError } from '../../src/errors.ts';
import { runCli } from '../harness/cli.ts';
import { TestCluster } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait.ts';
import { blobFiles, nodeHttp } from './helpers.ts';

// The free-space floor: ann publishes on A; then both nodes restart with a floor above any
// disk's free space (resources.minFreeBytes 2^50). Publishes and first copies are refused with
// 507 and store nothing, what is here is still served, and each node's status says why.
let c: TestCluster;
const URL_1 = '/res/msu/ann/page.html';
const auth = `Basic ${Buffer.from('ann:ann password').toString('base64')}`;
type Listing = { published: { url: string; version: number; subscribers: { node: string }[] }[] };
const listA = async () => ((await (await c.client('A')).call('A', 'res.list', {})) as Listing).published;

before(async () => {
  c = await TestCluster.create([{ id: 'A', role: 'library' }, { id: 'C' }]);
  await c.startAll();
  await waitFor('links up', () => c.linksUp(), 15_000);
  await (await c.client('A')).auth.addUser({ domain: 'msu', user: 'ann' }, 'A', 'ann password');
  const file = join(c.dir, 'page.html');
  writeFileSync(file, 'version one\n');
  await (await c.client('A')).call('A', 'res.publish', { url: URL_1, file });
  const table = parse(readFileSync(c.config, 'utf8')) as { resources?: Record<string, number> };
  table.resources = { ...table.resources, minFreeBytes: 2 ** 50 };
  writeFileSync(c.config, stringify(table));
  for (const id of ['A', 'C']) {
    await c.kill(id);
    await c.start(id);
  }
  await waitFor('links up', () => c.linksUp(), 15_000);
});
after(async () => c?.destroy());

test('below the free-space floor a publish is 507 and stores nothing', async () => {
  const before = blobFiles(c, 'A');
  const r = await nodeHttp(c, 'A', URL_1, { method: 'PUT', body: 'version two\n', headers: { authorization: auth, 'content-type': 'text/html' } });
  assert.equal(r.status, 507);
  assert.equal(r.body.toString(), 'Insufficient Storage: this node cannot store it now\n', 'the reason (free bytes) is in the log, not told to the client');
  await waitFor('the reason in the log', () => c.events('A', 'resource_error').some((e) => /below its floor .*minFreeBytes/.test(String(e.err))));
  const file = join(c.dir, 'two.html');
  writeFileSync(file, 'version two\n');
  await assert.rejects((await c.client('A')).call('A', 'res.publish', { url: URL_1, file }), (err: CohortError) => err.code === 'insufficient_storage');
  // Relayed by another node (cohort publish --from C): the home's refusal, as it gave it.
  const relayed = await runCli(['publish', file, URL_1, '--as', 'ann', '--config', c.config, '--from', 'C']);
  assert.equal(relayed.code, 1);
  assert.match(relayed.stderr, /insufficient_storage: A: 507 a publish of \/res\/msu\/ann\/page\.html refused/);
  assert.deepEqual((await listA()).map((p) => p.version), [1]);
  assert.deepEqual(blobFiles(c, 'A'), before);
  // What is here is still served.
  assert.equal((await nodeHttp(c, 'A', URL_1)).body.toString(), 'version one\n');
});

test('below the floor a first access of a resource not copied here is 507, not subscribed', async () => {
  const r = await nodeHttp(c, 'C', URL_1);
  assert.equal(r.status, 507);
  assert.equal(r.body.toString(), 'Insufficient Storage: this node cannot store it now\n');
  await waitFor('the reason in the log', () => c.events('C', 'resource_error').some((e) => /a copy of \/res\/msu\/ann\/page\.html refused/.test(String(e.err))));
  assert.deepEqual((await listA()).find((p) => p.url === URL_1)!.subscribers, []);
  assert.deepEqual(blobFiles(c, 'C').files, []);
});

test("the node's status (dashboards) and cohort resources say why", async () => {
  for (const id of ['A', 'C']) {
    const snap = (await (await c.client(id)).call(id, 'status.snapshot', {})) as NodeSnapshot;
    assert.match(snap.resources.problem ?? '', /disk below its free-space floor: .* publishes and new copies are refused \(507\)/);
  }
  const text = await runCli(['resources', '--config', c.config, '--from', 'C']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^problem: disk below its free-space floor/m);
  const doctor = await runCli(['doctor', '--config', c.config, '--from', 'C', '--no-repair', '--json'], { timeoutMs: 60_000 });
  const row = (JSON.parse(doctor.stdout) as { rows: { check: string; status: string; detail: string }[] }).rows.find((r) => r.check === 'resources');
  assert.equal(row?.status, 'warn');
  assert.match(row.detail, /free-space floor/);
  assert.equal(doctor.code, 1);
});
