import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { startBackendProcess } from '../harness/backend-process.ts';
import { TestCluster } from '../harness/cluster.ts';
import { FrontProcess } from '../harness/front-process.ts';
import { http, keepAliveAgent } from '../harness/http-client.ts';
import { freePorts } from '../harness/ports.ts';
import { stopProcess } from '../harness/stop.ts';
import { waitFor } from '../harness/wait.ts';

// Two fronts share one LARD dispatcher on node A (seed 003): front 1 reaches the network
// through node C, front 2 through node D. Both send /res/ by LARD/R over back-ends b1-b4 and
// everything else to a1. A target placed through one front goes to the same server through
// the other; with A killed (-9) both keep serving, deciding alone, and rejoin when it is back.
const TOKEN = 'shared-dispatcher-admin-token';
let c: TestCluster;
const procs: ChildProcess[] = [];
const fronts: { port: number; admin: number }[] = [];
const agent = keepAliveAgent();

type Status = { routes: { name: string; dispatcher: { state: string; shared: number; alone: number } | null }[] };
const status = async (i: number) => (await (await fetch(`http://127.0.0.1:${fronts[i].admin}/status`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as Status;
const resRoute = async (i: number) => (await status(i)).routes.find((r) => r.name === 'resources')!.dispatcher!;
const get = (i: number, path: string) => http(`http://127.0.0.1:${fronts[i].port}${path}`, { agent });

before(async () => {
  c = await TestCluster.create([{ id: 'A', role: 'library' }, { id: 'C' }, { id: 'D' }]);
  await c.startAll();
  await waitFor('links up', () => c.linksUp(), 15_000);
  const names = ['b1', 'b2', 'b3', 'b4', 'a1'];
  const ports = await freePorts(names.length + 4);
  const backendPort = new Map(names.map((n, i) => [n, ports[4 + i]]));
  for (const n of names) {
    procs.push(await startBackendProcess(n, backendPort.get(n)!));
  }
  const pool = (...ids: string[]) => ids.map((id) => ({ id, host: '127.0.0.1', port: backendPort.get(id)! }));
  const base = parse(readFileSync(c.config, 'utf8'));
  for (const [i, node] of ['C', 'D'].entries()) {
    fronts.push({ port: ports[2 * i], admin: ports[2 * i + 1] });
    const table = {
      ...base,
      front: {
        listen: { port: ports[2 * i] },
        admin: { port: ports[2 * i + 1], token: TOKEN },
        node,
        backends: pool('a1'),
        health: { intervalMs: 200, rise: 1, fall: 1, slowStartMs: 0 },
        routes: [
          { name: 'resources', match: { prefix: '/res/' }, backends: pool('b1', 'b2', 'b3', 'b4'), policy: 'lard_r', dispatcher: { node: 'A', timeoutMs: 250 } },
          { name: 'app', match: { prefix: '/' } },
        ],
      },
    };
    const file = join(c.dir, `front-${node}.yaml`);
    writeFileSync(file, stringify(table));
    procs.push(FrontProcess.start(file, { port: ports[2 * i + 1], token: TOKEN }).proc);
  }
  for (const i of [0, 1]) await waitFor(`front ${i + 1} ready`, async () => (await get(i, '/res/warm.html')).status === 200, 15_000);
});
after(async () => {
  agent.destroy();
  await Promise.all(procs.map((p) => stopProcess(p)));
  await c?.destroy();
});

test('a target placed through one front goes to the same server through the other', async () => {
  // Through front 1, 8 new targets at once, each held open a while: LARD places each on the
  // least loaded server then, so they spread. Front 2 carries none of that load itself: only a
  // shared table sends each target where front 1's request placed it.
  const paths = Array.from({ length: 8 }, (_, i) => `/res/t/${i}.html`);
  const first = await Promise.all(paths.map((p) => get(0, `${p}?ms=500`)));
  const placed = new Map(paths.map((p, i) => [p, first[i].json().backend as string]));
  assert.ok(new Set(placed.values()).size > 1, `the targets spread: ${[...placed.values()].join(' ')}`);
  // The same targets (a query is part of a target) through front 2, all at once too.
  const second = await Promise.all(paths.map((p) => get(1, `${p}?ms=500`)));
  paths.forEach((p, i) => assert.equal(second[i].json().backend, placed.get(p), `${p} through front 2`));
  // The app route is its own pool.
  assert.equal((await get(1, '/page')).json().backend, 'a1');
});

test('the dispatcher node killed (-9): both fronts keep serving with no failed request, and rejoin when it is back', async () => {
  let failures = 0;
  let served = 0;
  let running = true;
  const load = Promise.all([0, 1].map(async (i) => {
    for (let n = 0; running; n++) {
      const r = await get(i, `/res/load/${n % 20}.html`).catch(() => ({ status: 0 }));
      if (r.status === 200) served++;
      else failures++;
    }
  }));
  await c.kill('A');
  await waitFor('both fronts decide alone', async () => (await resRoute(0)).state === 'alone' && (await resRoute(1)).state === 'alone', 10_000);
  const aloneServed = served;
  await waitFor('requests keep being served meanwhile', () => served > aloneServed + 50, 10_000);
  await c.start('A');
  await waitFor('both fronts share the dispatcher again', async () => {
    const [s0, s1] = [await resRoute(0), await resRoute(1)];
    return s0.state === 'shared' && s1.state === 'shared';
  }, 15_000);
  const before = [(await resRoute(0)).shared, (await resRoute(1)).shared];
  await waitFor('decisions are shared again', async () => (await resRoute(0)).shared > before[0] && (await resRoute(1)).shared > before[1], 10_000);
  running = false;
  await load;
  assert.equal(failures, 0, `${failures} failed requests of ${served + failures}`);
});
