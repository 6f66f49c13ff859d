import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { initClusterCerts } from '../../src/certs/cluster-certs.ts';
import { loadTlsMaterial } from '../../src/net/tls-material.ts';
import { RawClient } from '../../src/replication/raw-client.ts';
import { TestCluster } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait.ts';
import { nodeHttp } from './helpers.ts';

// Hostile input to the resource space: paths that try to climb out or confuse, raw fetches
// by nodes that are not subscribed or not of the cluster, publishes by someone else.
let c: TestCluster;
const URL_1 = '/res/msu/ann/page.html';
const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

before(async () => {
  c = await TestCluster.create([{ id: 'A', role: 'library' }, { id: 'C' }, { id: 'D' }, { id: 'R', domain: 'rice' }]);
  await c.startAll();
  await waitFor('links up', () => c.linksUp(), 15_000);
  const a = await c.client('A');
  await a.auth.addUser({ domain: 'msu', user: 'ann' }, 'A', 'ann password');
  await a.auth.addUser({ domain: 'msu', user: 'bob' }, 'A', 'bob password');
  const file = join(c.dir, 'page.html');
  writeFileSync(file, 'ann page\n');
  await a.call('A', 'res.publish', { url: URL_1, file });
});
after(async () => c?.destroy());

test('paths with .., %2e%2e, NUL, backslashes, encoded slashes, empty segments or bad escapes: 400, and nothing else happens', async () => {
  for (const path of ['/res/msu/ann/../ann/page.html', '/res/msu/ann/%2e%2e/ann/page.html', '/res/msu/ann/%2E%2E/%2E%2E/etc/passwd', '/res/msu/ann/./page.html', '/res/msu/ann/page%00.html', '/res/msu/ann/a%5cpage.html', '/res/msu/ann/a\\page.html', '/res//etc/passwd', '/res/msu/ann//page.html', '/res/msu/ann/%2fetc%2fpasswd', '/res/msu/ann/%zz', '/res/msu/ann/%c0%ae%c0%ae/x', '/res/msu', `/res/msu/ann/${'a'.repeat(300)}`, '/res/msu/ann/page.html?version=0', '/res/msu/ann/page.html?version=1&version=2', '/res/msu/ann/page.html?version=x']) {
    const r = await nodeHttp(c, 'C', path);
    assert.equal(r.status, 400, `${path}: ${r.status} ${r.body}`);
  }
  assert.equal((await nodeHttp(c, 'C', '/etc/passwd')).status, 404);
  assert.equal((await nodeHttp(c, 'C', URL_1, { method: 'DELETE' })).status, 405);
  assert.equal((await nodeHttp(c, 'C', '/res/msu/ann/missing.html')).status, 404);
  assert.equal((await nodeHttp(c, 'C', '/res/msu/nobody/page.html')).status, 404);
  // None of it made a copy or a subscription.
  assert.deepEqual(((await (await c.client('C')).call('C', 'res.list', {})) as { copies: unknown[] }).copies, []);
});

test('a resource limited to its domain is refused to a node of another domain (403), and the refusal is logged', async () => {
  const r = await nodeHttp(c, 'C', URL_1);
  assert.equal(r.status, 200);
  const file = join(c.dir, 'private.html');
  writeFileSync(file, 'msu only\n');
  await (await c.client('A')).call('A', 'res.publish', { url: '/res/msu/ann/private.html', file, access: 'domain' });
  assert.equal((await nodeHttp(c, 'C', '/res/msu/ann/private.html')).status, 200, 'C is of msu');
  const refused = await nodeHttp(c, 'R', '/res/msu/ann/private.html');
  assert.equal(refused.status, 403);
  assert.match(refused.body.toString(), /^Access Denied/);
  await waitFor('the refusal in the log', () => c.log('A').includes('"event":"domain_refused"')); // a node writes its log asynchronously: the line may come after the reply
  assert.equal((await nodeHttp(c, 'R', URL_1)).status, 200, 'open to the cluster');
  // A later version limited to msu: R is not sent it, its subscription ends, and its bytes are refused to R.
  const NARROW = '/res/msu/ann/narrow.html';
  const v = join(c.dir, 'narrowed.html');
  writeFileSync(v, 'open to all\n');
  await (await c.client('A')).call('A', 'res.publish', { url: NARROW, file: v });
  assert.equal((await nodeHttp(c, 'R', NARROW)).status, 200);
  writeFileSync(v, 'msu only from now on\n');
  const out = (await (await c.client('A')).call('A', 'res.publish', { url: NARROW, file: v, access: 'domain' })) as { version: number; notified: { node: string }[] };
  assert.ok(!out.notified.some((n) => n.node === 'R'));
  const subs = ((await (await c.client('A')).call('A', 'res.list', {})) as { published: { url: string; subscribers: { node: string }[] }[] }).published.find((p) => p.url === NARROW)!.subscribers.map((s) => s.node);
  assert.ok(!subs.includes('R'));
  assert.equal((await nodeHttp(c, 'R', `${NARROW}?version=${out.version}`)).status, 403);
});

test('raw bytes go only to a subscribed node of the cluster', async () => {
  const path = `/raw${URL_1}?version=1`;
  // D is of the cluster but not subscribed.
  const asD = new RawClient(c.table, loadTlsMaterial(c.table.tlsDir, 'test', 'D'));
  await assert.rejects(asD.request('A', 'GET', path, { idleMs: 5000 }), (e: Error & { code?: string }) => e.code === 'refused' && /not subscribed/.test(e.message));
  asD.close();
  // A certificate from the cluster's CA for a node the host table does not list.
  initClusterCerts(c.table.tlsDir, 'test', ['Z']);
  const asZ = new RawClient(c.table, loadTlsMaterial(c.table.tlsDir, 'test', 'Z'));
  await assert.rejects(asZ.request('A', 'GET', path, { idleMs: 5000 }));
  asZ.close();
  await waitFor('A logs the refusal', () => /"event":"raw_refused".*not a peer in the host table/.test(c.log('A')), 5000);
  // A stranger that trusts the cluster's CA but holds a certificate of another, claiming to be C.
  const other = mkdtempSync(join(tmpdir(), 'cohort-other-'));
  initClusterCerts(other, 'test', ['C']);
  const foreign = loadTlsMaterial(other, 'test', 'C');
  const stranger = new RawClient(c.table, { ...foreign, ca: loadTlsMaterial(c.table.tlsDir, 'test', 'C').ca });
  await assert.rejects(stranger.request('A', 'GET', path, { idleMs: 5000 }));
  stranger.close();
  await waitFor('A logs the foreign certificate', () => /"event":"link_rejected".*client certificate not accepted/.test(c.log('A')), 5000);
});

test('a publish by someone who is not the author is refused; the author publishes with her password at home', async () => {
  const put = (node: string, auth: string | undefined, body = 'new page\n') => nodeHttp(c, node, URL_1, { method: 'PUT', body, headers: { ...(auth ? { authorization: auth } : {}), 'content-type': 'text/html' } });
  assert.equal((await put('A', undefined)).status, 401);
  assert.equal((await put('A', basic('bob', 'bob password'))).status, 401, 'bob is not the author (the same 401 as any failed author check)');
  assert.equal((await put('A', basic('ann', 'wrong'))).status, 401);
  assert.equal((await put('C', basic('ann', 'ann password'))).status, 421, 'not her home node');
  assert.equal((await nodeHttp(c, 'A', URL_1)).body.toString(), 'ann page\n', 'nothing changed');
  const ok = await put('A', basic('ann', 'ann password'));
  assert.equal(ok.status, 201);
  assert.equal((JSON.parse(ok.body.toString()) as { version: number }).version, 2);
  assert.equal((await nodeHttp(c, 'A', URL_1)).body.toString(), 'new page\n');
  // The CLI: --as must be the URL's author; a relative URL or a missing file is a usage error.
  const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args, '--config', c.config, '--from', 'C'], { encoding: 'utf8' });
  const file = join(c.dir, 'cli.html');
  writeFileSync(file, 'from the CLI\n');
  const notAuthor = cli('publish', file, URL_1, '--as', 'bob');
  assert.equal(notAuthor.status, 2);
  assert.match(notAuthor.stderr, /belongs to ann, not bob/);
  assert.equal(cli('publish', file, '/res/msu/ann/../x', '--as', 'ann').status, 2);
  assert.equal(cli('publish', join(c.dir, 'missing'), URL_1, '--as', 'ann').status, 2);
  // Relayed from C (not her home) to A over a raw connection.
  const relayed = cli('publish', file, URL_1, '--as', 'ann', '--json');
  assert.equal(relayed.status, 0, relayed.stderr);
  assert.equal((JSON.parse(relayed.stdout) as { version: number }).version, 3);
  const listed = cli('resources', '--json');
  assert.equal(listed.status, 0, listed.stderr);
  assert.ok(Array.isArray((JSON.parse(listed.stdout) as { copies: unknown[] }).copies));
  await waitFor('C gets version 3', async () => (await nodeHttp(c, 'C', URL_1)).body.toString() === 'from the CLI\n', 10_000);
});

test('PUT with If-Match / If-None-Match (RFC 9110 §13.1): a stale or wrong one is 412 and stores nothing; the current ETag publishes', async () => {
  const url = '/res/msu/ann/conditional.html';
  const put = (body: string, headers: Record<string, string>) => nodeHttp(c, 'A', url, { method: 'PUT', body, headers: { authorization: basic('ann', 'ann password'), 'content-type': 'text/html', ...headers } });
  // Nothing there yet: If-Match fails, If-None-Match: * creates.
  assert.equal((await put('x', { 'if-match': '*' })).status, 412);
  const first = await put('one\n', { 'if-none-match': '*' });
  assert.equal(first.status, 201, first.body.toString());
  const etag1 = String(first.headers.etag);
  assert.equal((await nodeHttp(c, 'A', url)).headers.etag, etag1, 'the ETag a GET shows');
  assert.equal((await put('again', { 'if-none-match': '*' })).status, 412, 'exists already');
  // An edit from the current version passes; one from the version it replaced does not.
  const second = await put('two\n', { 'if-match': etag1 });
  assert.equal(second.status, 201, second.body.toString());
  const stale = await put('lost update\n', { 'if-match': etag1 });
  assert.equal(stale.status, 412);
  assert.match(stale.body.toString(), /Precondition Failed/);
  assert.equal((await put('weak\n', { 'if-match': `W/${String(second.headers.etag)}` })).status, 412, 'If-Match compares strongly');
  assert.equal((await put('listed\n', { 'if-none-match': `"0", ${String(second.headers.etag)}` })).status, 412);
  for (const bad of ['abc', '"unterminated', '"a" "b"', '*, "a"']) assert.equal((await put('bad\n', { 'if-match': bad })).status, 400, `If-Match: ${bad}`);
  // Well-formed lists that name no current version (a comma inside a tag, empty elements, none at all): 412.
  for (const none of ['"a,b"', '"a", , "b"', '']) assert.equal((await put('none\n', { 'if-match': none })).status, 412, `If-Match: ${none}`);
  const current = await nodeHttp(c, 'A', url);
  assert.equal(current.body.toString(), 'two\n', 'nothing the refused requests sent was stored');
  assert.equal((JSON.parse((await put('three\n', { 'if-match': `"0", ${String(current.headers.etag)}` })).body.toString()) as { version: number }).version, 3);
});

test('a publish refused after its bytes came (another got in first) leaves no file behind', async () => {
  const url = '/res/msu/ann/race.html';
  const auth = basic('ann', 'ann password');
  const put = (body: string, headers: Record<string, string> = {}) => nodeHttp(c, 'A', url, { method: 'PUT', body, headers: { authorization: auth, 'content-type': 'text/html', ...headers } });
  const base = await put('base\n');
  assert.equal(base.status, 201);
  const etag = String(base.headers.etag);
  // The slow one: its precondition holds when it starts, its body comes after the fast one's.
  const slowBody = `slow edit ${Date.now()}\n`;
  const node = c.table.nodes.find((n) => n.id === 'A')!;
  const slow = request({ host: '127.0.0.1', port: node.httpPort, path: url, method: 'PUT', agent: false, headers: { authorization: auth, 'content-type': 'text/html', 'if-match': etag, 'content-length': Buffer.byteLength(slowBody) } });
  const answered = new Promise<number>((resolve, reject) => {
    slow.on('response', (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    slow.on('error', reject);
  });
  slow.write(slowBody.slice(0, 4));
  slow.flushHeaders();
  // The fast one publishes from the same version once A receives the slow one's bytes (its temporary file is there).
  const tmp = join(c.table.dataDir, 'A', 'blobs', 'tmp');
  await waitFor('A to receive the slow edit', () => readdirSync(tmp).length > 0, 5000, 10);
  assert.equal((await put('fast edit\n', { 'if-match': etag })).status, 201);
  slow.end(slowBody.slice(4));
  assert.equal(await answered, 412);
  const digest = createHash('sha256').update(slowBody).digest('hex');
  assert.equal(existsSync(join(c.table.dataDir, 'A', 'blobs', digest)), false, 'the refused bytes were removed');
  assert.equal((await nodeHttp(c, 'A', url)).body.toString(), 'fast edit\n');
});
