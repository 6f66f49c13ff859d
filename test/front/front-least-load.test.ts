import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { startBackendProcess } from '../harness/backend-process.ts';
import { TestCluster } from '../harness/cluster.ts';
import { FrontProcess } from '../harness/front-process.ts';
import { http } from '../harness/http-client.ts';
import { freePorts } from '../harness/ports.ts';
import { stopProcess } from '../harness/stop.ts';
import { waitFor } from '../harness/wait.ts';


// least_load with real nodes: the front asks node A (through its local socket) for the `load`
// of access nodes C and D, each back-end standing for its node (`node:` in the back-end list). D counts a tiny load
// average as 100% and C a huge one, so D always looks far busier.
describe('least_load through the node network', () => {
  let cluster: TestCluster;
  const procs: ChildProcess[] = [];
  let frontPort = 0;
  let adminPort = 0;

  before(async () => {
    cluster = await TestCluster.create([{ id: 'A', role: 'library' }, { id: 'C', role: 'access' }, { id: 'D', role: 'access' }]);
    let backendPorts: number[];
    [frontPort, adminPort, ...backendPorts] = await freePorts(4);
    const table = parse(readFileSync(cluster.config, 'utf8'));
    table.nodes.find((n: { id: string }) => n.id === 'C').loadFullAt = 1000;
    table.nodes.find((n: { id: string }) => n.id === 'D').loadFullAt = 0.0001;
    table.front = { listen: { port: frontPort }, admin: { port: adminPort }, backends: ['C', 'D'].map((id, i) => ({ id, host: '127.0.0.1', port: backendPorts[i], weight: 1, node: id })), policy: 'least_load', node: 'A', health: { intervalMs: 200 } };
    writeFileSync(cluster.config, stringify(table));
    await cluster.startAll();
    for (const [i, id] of ['C', 'D'].entries()) {
      procs.push(await startBackendProcess(id, backendPorts[i]));
    }
    procs.push(FrontProcess.start(cluster.config, { port: adminPort }).proc);
  });
  after(async () => {
    await Promise.all(procs.map((p) => stopProcess(p)));
    await cluster.destroy();
  });

  it('the front gets each back-end node\'s load figure and sends requests to the least loaded', async () => {
    const status = await waitFor('load figures in the front status', async () => {
      const s = (await (await fetch(`http://127.0.0.1:${adminPort}/status`)).json()) as { backends: { id: string; load: number | null; state: string }[] };
      return s.backends.every((b) => b.load !== null && b.state === 'ready') ? s : null;
    });
    const load = Object.fromEntries(status.backends.map((b) => [b.id, b.load!]));
    console.log(`least_load figures: ${JSON.stringify(load)}`);
    assert.ok(load.D >= load.C, `D's figure (${load.D}) is not below C's (${load.C})`);
    if (load.D - load.C <= 5) return; // an idle machine (load average 0.00) gives both 0%: nothing to tell apart
    for (let i = 0; i < 30; i++) assert.equal((await http(`http://127.0.0.1:${frontPort}/`)).json().backend, 'C');
  });
});
