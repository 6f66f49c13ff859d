import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../harness/cli.ts';
import { TestCluster } from '../harness/cluster.ts';
import { ADMIN_TOKEN, FrontCluster } from '../harness/front-cluster.ts';
import { http } from '../harness/http-client.ts';
import { nodeHttp } from '../replication/helpers.ts';

// Admin listeners against a page the operator opens in a browser: a cross-site request (its
// Origin) and DNS rebinding (a Host that is the attacker's name) are refused; what changes
// something needs the token or X-Cohort-Admin; a configured token is asked for on loopback too.
// All real: `cohort front` processes with back-end processes, and a node.

describe("a tokenless loopback front admin listener", () => {
  let fc: FrontCluster;
  const admin = (path: string, opts: Parameters<typeof http>[1] = {}) => http(`http://127.0.0.1:${fc.adminPort}${path}`, opts);
  const stateOf = async (id: string) => (await fc.status()).backends.find((b) => b.id === id)!.admin;

  before(async () => {
    fc = await FrontCluster.create(['a', 'b']);
    fc.writeConfig({ admin: { host: '127.0.0.1', port: fc.adminPort } });
    await fc.startFront();
  });
  after(() => fc?.destroy());

  it('refuses a cross-site POST (drain), and nothing changes', async () => {
    const cases: Record<string, string>[] = [{ origin: 'http://evil.example' }, { origin: 'null' }, { 'sec-fetch-site': 'cross-site' }, { origin: 'http://evil.example', 'x-cohort-admin': '1' }, {}];
    for (const headers of cases) {
      const r = await admin('/backends/a/drain', { method: 'POST', headers });
      assert.equal(r.status, 403, `${JSON.stringify(headers)}: ${r.body}`);
      assert.equal(await stateOf('a'), 'ready', `${JSON.stringify(headers)}: not drained`);
    }
    const reload = await admin('/reload', { method: 'POST', headers: { origin: 'http://localhost:3000' } });
    assert.equal(reload.status, 403, 'another origin on the same machine (another port) is another site too');
    assert.equal((await fc.status()).reloads, 0);
  });

  it('refuses a request whose Host is not its own (DNS rebinding), GETs included', async () => {
    for (const host of ['evil.example', `evil.example:${fc.adminPort}`, '127.0.0.1.evil.example', `127.0.0.1:${fc.adminPort + 1}`]) {
      const r = await admin('/status', { headers: { host } });
      assert.equal(r.status, 403, host);
      assert.match(r.json().error, /Invalid Host header/);
      assert.equal((await admin('/metrics', { headers: { host } })).status, 403, host);
    }
    for (const host of [`127.0.0.1:${fc.adminPort}`, `localhost:${fc.adminPort}`, `LOCALHOST:${fc.adminPort}`]) {
      assert.equal((await admin('/status', { headers: { host } })).status, 200, host);
    }
    // Its own page's same-origin requests are welcome.
    assert.equal((await admin('/status', { headers: { origin: `http://127.0.0.1:${fc.adminPort}`, 'sec-fetch-site': 'same-origin' } })).status, 200);
  });

  it('the CLI still drains and readies (it sends X-Cohort-Admin)', async () => {
    const drain = await runCli(['front', 'drain', 'a', '--config', fc.config]);
    assert.equal(drain.code, 0, drain.stderr);
    assert.equal(await stateOf('a'), 'draining');
    const ready = await runCli(['front', 'ready', 'a', '--config', fc.config]);
    assert.equal(ready.code, 0, ready.stderr);
    assert.equal(await stateOf('a'), 'ready');
    const status = await runCli(['front', 'status', '--config', fc.config]);
    assert.equal(status.code, 0, status.stderr);
  });
});

describe('a front admin listener with a token', () => {
  let fc: FrontCluster;
  before(async () => {
    fc = await FrontCluster.create(['a']);
    await fc.startFront();
  });
  after(() => fc?.destroy());

  it('asks for it on loopback, and the CLI shows it', async () => {
    const url = `http://127.0.0.1:${fc.adminPort}`;
    assert.equal((await http(`${url}/status`)).status, 401);
    assert.equal((await http(`${url}/backends/a/drain`, { method: 'POST', headers: { 'x-cohort-admin': '1' } })).status, 401);
    assert.equal((await http(`${url}/status`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status, 200);
    assert.equal((await http(`${url}/status`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}`, host: 'evil.example' } })).status, 403, 'the token does not make a rebound name ours');
    const drain = await runCli(['front', 'drain', 'a', '--config', fc.config]);
    assert.equal(drain.code, 0, drain.stderr);
  });
});

describe("a node's admin paths (/metrics, /dashboard)", () => {
  const NODE_TOKEN = 'node-admin-guard-token-0123456';
  let open: TestCluster;
  let locked: TestCluster;
  before(async () => {
    [open, locked] = await Promise.all([TestCluster.create([{ id: 'A', role: 'library' }]), TestCluster.create([{ id: 'A', role: 'library' }], { admin: { token: NODE_TOKEN } })]);
    await Promise.all([open.startAll(), locked.startAll()]);
  });
  after(async () => {
    await open?.destroy();
    await locked?.destroy();
  });

  it('tokenless on loopback: open to its own Host, refused to a rebound name or another site', async () => {
    assert.equal((await nodeHttp(open, 'A', '/metrics')).status, 200);
    assert.equal((await nodeHttp(open, 'A', '/dashboard')).status, 200);
    for (const path of ['/metrics', '/dashboard', '/dashboard/events']) {
      assert.equal((await nodeHttp(open, 'A', path, { headers: { host: 'evil.example' } })).status, 403, path);
      assert.equal((await nodeHttp(open, 'A', path, { headers: { origin: 'http://evil.example' } })).status, 403, path);
    }
    // The resource space is not an admin path: any Host (a front's site name) reaches it.
    assert.equal((await nodeHttp(open, 'A', '/healthz', { headers: { host: 'www.example.org' } })).status, 200);
  });

  it('with the admin token, loopback without it is 401, /metrics included', async () => {
    for (const path of ['/metrics', '/dashboard']) {
      const r = await nodeHttp(locked, 'A', path);
      assert.equal(r.status, 401, path);
      assert.equal(r.headers['www-authenticate'], 'Bearer');
      assert.equal((await nodeHttp(locked, 'A', path, { headers: { authorization: `Bearer ${NODE_TOKEN}` } })).status, 200, path);
    }
  });
});
