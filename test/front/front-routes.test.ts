import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN_TOKEN, FrontCluster, STICKY_KEY } from '../harness/front-cluster.ts';
import { http, keepAliveAgent } from '../harness/http-client.ts';
import { waitFor } from '../harness/wait.ts';

// Routes: /res/ goes to its own pool (r1, r2) by LARD/R, everything else to the apps' pool
// (a1, a2) round robin with sticky cookies; a Host-bound route before both.
describe('front routes', () => {
  let fc: FrontCluster;
  const agent = keepAliveAgent();
  const port = (n: string) => fc.backendPorts.get(n)!;

  before(async () => {
    fc = await FrontCluster.create(['r1', 'r2', 'a1', 'a2', 'h1']);
    const pool = (...names: string[]) => names.map((id) => ({ id, host: '127.0.0.1', port: port(id) }));
    fc.writeConfig({
      backends: pool('a1'),
      routes: [
        { name: 'admin-host', match: { prefix: '/', host: 'admin.example' }, backends: pool('h1') },
        { name: 'resources', match: { prefix: '/res/' }, backends: pool('r1', 'r2'), policy: 'lard_r', lard: { tLow: 3, tHigh: 4, kS: 20 } },
        { name: 'app', match: { prefix: '/' }, backends: pool('a1', 'a2'), policy: 'round_robin', sticky: { mode: 'cookie', keys: [STICKY_KEY] } },
      ],
    });
    await fc.startFront();
    await waitFor('every back-end ready', () => fc.allReady());
  });
  after(async () => {
    agent.destroy();
    await fc.destroy();
  });

  it('sends each path to its own route, and a Host-bound route only that host', async () => {
    for (let i = 0; i < 10; i++) assert.match((await http(`${fc.url}/res/msu/ann/p${i}.html`, { agent })).json().backend, /^r[12]$/);
    const apps = new Set<string>();
    for (let i = 0; i < 10; i++) apps.add((await http(`${fc.url}/page${i}`, { agent })).json().backend);
    assert.deepEqual([...apps].sort(), ['a1', 'a2']);
    assert.equal((await http(`${fc.url}/res/x`, { agent, headers: { host: 'Admin.Example:80' } })).json().backend, 'h1');
    // The app route sets its sticky cookie; the resource route does not.
    assert.ok((await http(`${fc.url}/page`, { agent })).headers['set-cookie']);
    assert.equal((await http(`${fc.url}/res/msu/ann/p1.html`, { agent })).headers['set-cookie'], undefined);
  });

  it('LARD/R keeps a target on its server, and X-Cohort-Route explains the route and the decision', async () => {
    const first = (await http(`${fc.url}/res/msu/ann/lesson.html`, { agent })).json().backend;
    for (let i = 0; i < 20; i++) assert.equal((await http(`${fc.url}/res/msu/ann/lesson.html`, { agent })).json().backend, first);
    const r = await http(`${fc.url}/res/msu/ann/lesson.html`, { agent, headers: { 'x-cohort-explain': ADMIN_TOKEN } });
    const why = JSON.parse(String(r.headers['x-cohort-route'])) as { route: string; policy: string; reason: string; chose: string };
    assert.equal(why.route, 'resources');
    assert.equal(why.policy, 'lard_r');
    assert.equal(why.chose, first);
    assert.match(why.reason, /lard_r: \/res\/msu\/ann\/lesson\.html set \[/);
  });

  it('LARD/R replicates a hot target over a second server when its server is overloaded', async () => {
    // 12 slow requests at once on one target: over T_high (4) while the other server is under T_low (3); the
    // admission bound (S = T_high + T_low - 1 = 6) lets 6 in at a time.
    const replies = await Promise.all(Array.from({ length: 12 }, () => http(`${fc.url}/res/hot/page.html?ms=300`)));
    const served = new Set(replies.map((r) => r.json().backend));
    assert.deepEqual([...served].sort(), ['r1', 'r2']);
  });

  it('LARD/R places by the bytes whole GET answers tell; a query makes another target; HEAD and errors tell nothing', async () => {
    const lard = async () => ((await fc.status()) as unknown as { routes: { name: string; lard: { targets: number; placedBytes: Record<string, number> } | null }[] }).routes.find((r) => r.name === 'resources')!.lard!;
    const before = await lard();
    const got = await http(`${fc.url}/res/bytes/one.html`, { agent });
    assert.equal(got.status, 200);
    const bytes = got.body.length;
    const afterGet = await lard();
    assert.equal(afterGet.targets, before.targets + 1);
    const total = (l: typeof before) => Object.values(l.placedBytes).reduce((a, b) => a + b, 0);
    assert.equal(total(afterGet), total(before) + bytes, 'the target counts at its answer\'s bytes');
    // A HEAD of it (an empty 200) does not make it 0 bytes.
    assert.equal((await http(`${fc.url}/res/bytes/one.html`, { agent, method: 'HEAD' })).status, 200);
    assert.deepEqual((await lard()).placedBytes, afterGet.placedBytes);
    // The same path with a query is another target.
    assert.equal((await http(`${fc.url}/res/bytes/one.html?v=2`, { agent })).status, 200);
    assert.equal((await lard()).targets, afterGet.targets + 1);
  });

  it('status shows each route', async () => {
    const status = (await fc.status()) as unknown as { routes: { name: string; prefix: string; host: string | null; policy: string; backends: string[] }[] };
    assert.deepEqual(status.routes.map((r) => [r.name, r.prefix, r.host, r.policy, r.backends.join(',')]), [
      ['admin-host', '/', 'admin.example', 'round_robin', 'h1'],
      ['resources', '/res/', null, 'lard_r', 'r1,r2'],
      ['app', '/', null, 'round_robin', 'a1,a2'],
    ]);
  });
});

// LARD's admission bound holds requests in the front; a reload carries them to the new routes.
describe('admission waiters across a reload', () => {
  let fc: FrontCluster;
  const config = (queueTimeoutMs: number) => ({
    limits: { queueTimeoutMs },
    routes: [{ name: 'resources', match: { prefix: '/res/' }, backends: ['r1', 'r2'].map((id) => ({ id, host: '127.0.0.1', port: fc.backendPorts.get(id)! })), policy: 'lard', lard: { tLow: 1, tHigh: 2 } }],
  });
  const count = async (id: string) => (await http(`http://127.0.0.1:${fc.backendPorts.get(id)!}/count`)).json().requests as number;
  const reload = async () => assert.equal((await fetch(`http://127.0.0.1:${fc.adminPort}/reload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status, 200);
  const waiting = async () => ((await fc.status()) as unknown as { routes: { waiting: number }[] }).routes[0].waiting;

  before(async () => {
    fc = await FrontCluster.create(['r1', 'r2']);
    fc.writeConfig(config(1500));
    await fc.startFront();
    await waitFor('every back-end ready', () => fc.allReady());
  });
  after(async () => fc.destroy());

  it('a reload lets no waiter past the bound, and one that timed out is never sent on', async () => {
    // S = T_high + T_low - 1 = 2: two requests go in, four wait; the reload moves the four to the new route.
    const replies = Array.from({ length: 6 }, () => http(`${fc.url}/res/hot.html?ms=4000`));
    await waitFor('four requests wait for admission', async () => (await waiting()) === 4);
    await reload();
    assert.deepEqual((await Promise.all(replies)).map((r) => r.status).sort(), [200, 200, 503, 503, 503, 503]);
    // The completions of later requests admit none of the four (a waiter wrongly resumed would be
    // sent as the first of these ends, before the second is made).
    for (let i = 0; i < 2; i++) assert.equal((await http(`${fc.url}/res/hot.html`)).status, 200);
    const sent = (await count('r1')) + (await count('r2'));
    assert.equal(sent, 2 + 2 + 2, 'only the admitted requests, the two after and the two /count calls reached a back-end');
  });

  it('waiters carried by a reload are admitted as the requests let in before it end', async () => {
    fc.writeConfig(config(10_000));
    await reload();
    const replies = Array.from({ length: 6 }, () => http(`${fc.url}/res/hot.html?ms=500`));
    await waitFor('four requests wait for admission', async () => (await waiting()) === 4);
    await reload();
    const started = Date.now();
    assert.deepEqual((await Promise.all(replies)).map((r) => r.status), [200, 200, 200, 200, 200, 200]);
    assert.ok(Date.now() - started < 5000, `the waiters were admitted by completions, not left to their timeout (${Date.now() - started} ms)`);
  });

  it('a reload that raises the bound lets carried waiters in at once, not after requests that came later', async () => {
    fc.writeConfig(config(10_000));
    await reload();
    const replies = Array.from({ length: 6 }, () => http(`${fc.url}/res/hot.html?ms=3000`));
    await waitFor('four requests wait for admission', async () => (await waiting()) === 4);
    // T_low 5, T_high 10: S = 14, room for the four at once.
    fc.writeConfig({ ...config(10_000), routes: config(10_000).routes.map((r) => ({ ...r, lard: { tLow: 5, tHigh: 10 } })) });
    await reload();
    await waitFor('the four carried waiters let in', async () => (await waiting()) === 0, 1500);
    assert.deepEqual((await Promise.all(replies)).map((r) => r.status), [200, 200, 200, 200, 200, 200]);
  });
});
