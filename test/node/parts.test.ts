import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import type { PartReport } from '../../src/node/lifecycle.ts';
import { TestCluster } from '../harness/cluster.ts';
import { freePortRange } from '../harness/ports.ts';
import { waitFor } from '../harness/wait.ts';
import { nodeHttp } from '../replication/helpers.ts';

// A node is its parts (src/node/lifecycle.ts). node.parts tells each one's state and what it says
// of itself; /healthz answers 200 only while every part runs, so a front's health check stops
// sending to a node that is stopping while it still answers (its apps drain first).
const TEST_APP = fileURLToPath(new URL('../harness/test-app.ts', import.meta.url));
let c: TestCluster | undefined;
after(async () => c?.destroy());

test("node.parts names every part in start order; /healthz is 503 while the node drains on SIGTERM", async () => {
  const basePort = await freePortRange(10);
  c = await TestCluster.create([
    { id: 'L', role: 'library' },
    // The app takes 3 s to stop after SIGTERM: the node's drain waits for it.
    { id: 'A', app: { command: [process.execPath, TEST_APP], instances: 1, basePort, portSpan: 10, env: { TEST_APP_MODE: 'slow-stop' }, health: { intervalMs: 500, timeoutMs: 500 }, killTimeoutMs: 10_000 } },
  ]);
  await c.startAll();
  const parts = async () => (await (await c!.client('A')).call('A', 'node.parts', {})) as PartReport[];
  await waitFor("A's instance ready", async () => (await parts()).find((p) => p.part === 'apps')?.detail === '1 of 1 instances ready');
  const running = await parts();
  assert.deepEqual(running.map((p) => p.part), ['database', 'hosts', 'homeStore', 'critical', 'sessions', 'terms', 'homes', 'linkListener', 'localSockets', 'replication', 'userMover', 'http', 'linkDialer', 'acmeCertificates', 'commitFaults', 'maintenance', 'apps']);
  assert.ok(running.every((p) => p.state === 'running' && p.ok), JSON.stringify(running));
  assert.equal(running.find((p) => p.part === 'database')!.detail, undefined);
  assert.equal((await nodeHttp(c, 'A', '/healthz')).status, 200);

  const stopping = c.kill('A', 'SIGTERM', 30_000); // a stop that outlasts this is a bug, not load
  const during = await waitFor('/healthz to turn 503 while A drains', async () => {
    const r = await nodeHttp(c!, 'A', '/healthz');
    return r.status === 503 ? r.body.toString() : undefined;
  });
  assert.match(during, /^not ready: .*apps draining/);
  await stopping;
  assert.match(c.log('A'), /"event":"node_stopped"/, 'A stopped by itself, after its app');
});
