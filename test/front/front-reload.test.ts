import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { loadHostTable, type HostTable } from '../../src/config/host-table.ts';
import { Front } from '../../src/front/front.ts';
import { FrontCluster } from '../harness/front-cluster.ts';
import { http } from '../harness/http-client.ts';
import { waitFor } from '../harness/wait.ts';

// Caddy's rule for a reload: the new configuration is built whole beside the one in service and
// swapped in one step; a reload that fails changes nothing that is live.
describe('front reload', () => {
  let fc: FrontCluster;
  const port = (n: string) => fc.backendPorts.get(n)!;

  before(async () => {
    fc = await FrontCluster.create(['a', 'b']);
  });
  after(async () => {
    await fc.destroy();
  });

  it('a reload that fails while building changes no live back-end', async () => {
    fc.writeConfig({
      backends: [{ id: 'a', host: '127.0.0.1', port: port('a') }],
      routes: [
        { name: 'one', match: { prefix: '/one/' }, backends: [{ id: 'a', host: '127.0.0.1', port: port('a'), weight: 1 }] },
        { name: 'two', match: { prefix: '/' }, backends: [{ id: 'b', host: '127.0.0.1', port: port('b') }], policy: 'lard' },
      ],
    });
    const table = loadHostTable(fc.config);
    const front = new Front(table, pino({ level: 'silent' }));
    try {
      const weightOfA = async () => ((await front.status()).backends.find((b) => b.id === 'a')!).weight;
      assert.equal(await weightOfA(), 1);
      // Route one raises a's weight; route two's LARD settings cannot be built (past the schema, as a
      // bug or a future check might let through): the build throws after route one was done.
      const next = structuredClone(table) as HostTable;
      const routes = next.front!.routes!;
      routes[0].backends = [{ id: 'a', host: '127.0.0.1', port: port('a'), weight: 5 }];
      routes[1].lard = { tLow: 9, tHigh: 3, kS: 20, maxTargets: 1000, query: true };
      assert.throws(() => front.reload(next), /LARD needs/);
      assert.equal(await weightOfA(), 1, 'a failed reload left the live back-end as it was');
      assert.equal(front.reloads, 0);
    } finally {
      await front.stop();
    }
  });

  it('a back-end shared by two routes is checked, and ready or not, by each route\'s own health settings', async () => {
    const a = { id: 'a', host: '127.0.0.1', port: port('a') };
    const quick = { intervalMs: 200, timeoutMs: 500, rise: 1, fall: 1, slowStartMs: 0 };
    fc.writeConfig({
      backends: [a],
      routes: [
        { name: 'one', match: { prefix: '/one/' }, backends: [a], health: { path: '/healthz', ...quick } },
        // The same back-end, whose health path on this route answers 503: down for this route only.
        { name: 'two', match: { prefix: '/' }, backends: [a], health: { path: '/status/503', ...quick } },
      ],
    });
    await fc.startFront();
    await waitFor('route two to see a down', async () => (await http(`${fc.url}/two`)).status === 503);
    const one = await http(`${fc.url}/one/x`);
    assert.equal(one.status, 200);
    assert.equal(one.json().backend, 'a');
    assert.equal((await http(`${fc.url}/two`)).status, 503);
  });

  // A back-end that two routes check by their own health settings is an object per route, one id.
  it("an app's X-Cohort-Drain through one route drains the back-end on every route that has it", async () => {
    const a = { id: 'a', host: '127.0.0.1', port: port('a') };
    const b = { id: 'b', host: '127.0.0.1', port: port('b') };
    const quick = { path: '/healthz', intervalMs: 200, timeoutMs: 500, rise: 1, fall: 1, slowStartMs: 0 };
    fc.writeConfig({
      backends: [a, b],
      routes: [
        { name: 'one', match: { prefix: '/drain' }, backends: [a], health: quick },
        // Other health settings: route two has its own object for a.
        { name: 'two', match: { prefix: '/' }, backends: [a, b], health: { ...quick, intervalMs: 300 } },
      ],
    });
    await fc.startFront();
    await waitFor('route two to use both', async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 6; i++) seen.add((await http(`${fc.url}/two/x`)).json().backend);
      return seen.size === 2;
    });
    assert.equal((await http(`${fc.url}/drain`)).json().backend, 'a'); // a's answer carries X-Cohort-Drain
    for (let i = 0; i < 10; i++) assert.equal((await http(`${fc.url}/two/x`)).json().backend, 'b', 'a drains on route two as well');
    // /status shows a once: what it served summed over both routes, and each route's own view.
    const status = (await fc.status()).backends.filter((x) => x.id === 'a') as unknown as { requests: number; state: string; routes: { route: string; state: string; requests: number }[] }[];
    assert.equal(status.length, 1);
    assert.deepEqual(status[0].routes.map((r) => [r.route, r.state]), [['one', 'draining'], ['two', 'draining']]);
    assert.ok(status[0].routes.every((r) => r.requests > 0), JSON.stringify(status[0].routes));
    assert.equal(status[0].requests, status[0].routes[0].requests + status[0].routes[1].requests);
  });
});
