import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { AppSection } from '../../src/config/app-schema.ts';
import type { InstanceRecord, RegistrySnapshot } from '../../src/supervisor/registry.ts';
import { TestCluster } from '../harness/cluster.ts';
import { freePortRange } from '../harness/ports.ts';
import { processRunning } from '../../src/process-state.ts';
import { waitFor } from '../harness/wait.ts';

const TEST_APP = fileURLToPath(new URL('../harness/test-app.ts', import.meta.url));
const clusters: TestCluster[] = [];
after(async () => Promise.all(clusters.map((c) => c.destroy())));

async function poolCluster(app: AppSection): Promise<TestCluster> {
  const basePort = await freePortRange(app.portSpan ?? 10);
  const c = await TestCluster.create([{ id: 'A', role: 'access', app: { command: [process.execPath, TEST_APP], basePort, portSpan: 10, health: { intervalMs: 200, timeoutMs: 200, fails: 2 }, backoff: { minMs: 200, maxMs: 1000 }, stableMs: 1000, killTimeoutMs: 2000, ...app } }]);
  clusters.push(c);
  await c.start('A');
  return c;
}

async function registry(c: TestCluster, id = 'A'): Promise<RegistrySnapshot> {
  return (await (await c.client(id)).call(id, 'app.registry')) as RegistrySnapshot;
}

const ready = (r: RegistrySnapshot) => r.instances.filter((i) => i.state === 'ready');
const alive = processRunning;
const get = async (i: InstanceRecord, path = '/') => (await fetch(`http://${i.host}:${i.port}${path}`)).text();
const post = async (i: InstanceRecord, path: string) => (await fetch(`http://${i.host}:${i.port}${path}`, { method: 'POST' })).text();

test('the pool starts on successive ports, and an instance killed with -9 is replaced', async () => {
  const c = await poolCluster({ instances: 2 });
  const r = await waitFor('two ready instances', async () => {
    const r = await registry(c);
    return ready(r).length === 2 ? r : undefined;
  });
  const base = c.table.nodes[0].app!.basePort!;
  assert.deepEqual(ready(r).map((i) => i.port).sort(), [base, base + 1]);
  for (const i of ready(r)) assert.match(await get(i), new RegExp(`^${i.id.replace(/\./g, '\\.')} ${i.pid}`));
  const victim = ready(r)[0];
  process.kill(victim.pid!, 'SIGKILL');
  const after = await waitFor('a replacement in the victim slot', async () => {
    const r = await registry(c);
    const i = r.instances.find((x) => x.slot === victim.slot && x.state === 'ready');
    return i && i.pid !== victim.pid ? i : undefined;
  });
  assert.equal(after.restarts, 1);
  assert.equal(after.port, victim.port, 'the slot keeps its port when it is free');
  assert.match(await get(after), /\d+/);
  await waitFor('app_exited (killed by SIGKILL) in the log', () => /"event":"app_exited".*killed by SIGKILL/.test(c.log('A')));
});

test('kill -9 of the node leaves no app process behind', async () => {
  const c = await poolCluster({ instances: 3 });
  const r = await waitFor('three ready instances', async () => {
    const r = await registry(c);
    return ready(r).length === 3 ? r : undefined;
  });
  const pids = ready(r).map((i) => i.pid!);
  assert.ok(pids.every(alive));
  await c.kill('A', 'SIGKILL');
  await waitFor('every app process to be gone', () => pids.every((p) => !alive(p)), 5000);
});

test('what an app forks goes with it: when it exits, and (left by a node killed with -9) when the node is back', async () => {
  // sh is the instance; the server is its child, which the kernel's pdeathsig does not reach.
  const c = await poolCluster({ instances: 2, command: ['/bin/sh', '-c', `"${process.execPath}" "${TEST_APP}" & wait`] });
  const r = await waitFor('two ready instances', async () => {
    const r = await registry(c);
    return ready(r).length === 2 ? r : undefined;
  });
  const servers = await Promise.all(ready(r).map(async (i) => Number((await get(i)).split(' ')[1])));
  assert.ok(servers.every(alive) && !servers.some((p) => ready(r).some((i) => i.pid === p)), 'the servers are grandchildren');
  process.kill(ready(r)[0].pid!, 'SIGKILL');
  await waitFor('the first one\'s server to go with its shell', () => !alive(servers[0]), 5000);
  await c.kill('A', 'SIGKILL');
  assert.ok(alive(servers[1]), 'the kernel does not reach a grandchild');
  await c.start('A');
  await waitFor('the orphan to be killed when the node is back', () => !alive(servers[1]), 5000);
  await waitFor('app_orphan_killed in the log', () => /"event":"app_orphan_killed"/.test(c.log('A')));
});

test('a replacement takes the slot even when its predecessor went away while it started (DYING, or killed)', async () => {
  // Each instance answers its probes only after 1.5 s: there is time to act while one starts.
  const c = await poolCluster({ instances: 1, env: { TEST_APP_MODE: 'slow-start' }, recycle: { maxRequests: 10 } });
  const client = await c.client('A');
  for (const act of ['dying', 'kill'] as const) {
    const old = await waitFor('one ready', async () => {
      const r = await registry(c);
      return ready(r).length === 1 && r.instances.length === 1 ? ready(r)[0] : undefined;
    }, 15_000);
    await client.call('A', 'app.served', { counts: { [old.id]: 10 } });
    const next = await waitFor('its replacement starting', async () => (await registry(c)).instances.find((i) => i.state === 'starting'));
    if (act === 'dying') await post(old, '/dying?sessions=0');
    else process.kill(old.pid!, 'SIGKILL');
    await waitFor('the replacement to serve the slot, alone', async () => {
      const r = await registry(c);
      return r.instances.length === 1 && r.instances[0].id === next.id && r.instances[0].state === 'ready';
    }, 15_000);
    assert.ok(!alive(old.pid!) || act === 'dying', 'the killed one is gone');
    await waitFor('the old one to be gone', () => !alive(old.pid!), 10_000);
  }
  // No instance was started beside them: one start per replacement.
  assert.equal(c.log('A').match(/"event":"app_started"/g)?.length, 3);
});

test('two fronts reporting the request limit at once start one replacement, not two', async () => {
  const c = await poolCluster({ instances: 1, recycle: { maxRequests: 10 } });
  const old = await waitFor('one ready', async () => ready(await registry(c))[0]);
  const client = await c.client('A');
  await Promise.all([client.call('A', 'app.served', { counts: { [old.id]: 10 } }), client.call('A', 'app.served', { counts: { [old.id]: 5 } })]);
  await waitFor('the replacement alone, and the old one gone', async () => {
    const r = await registry(c);
    return r.instances.length === 1 && r.instances[0].id !== old.id && r.instances[0].state === 'ready' && !alive(old.pid!);
  }, 10_000);
  assert.equal(c.log('A').match(/"event":"app_started"/g)?.length, 2, 'one start for the pool, one for the replacement');
});

test('a command that cannot start is reported with back-off, and the node keeps serving', async () => {
  const c = await poolCluster({ instances: 1, command: ['/nonexistent/app-server'] });
  const r = await waitFor('the problem reported', async () => {
    const r = await registry(c);
    return r.problem ? r : undefined;
  });
  assert.match(r.problem!, /nonexistent|No such file/);
  assert.equal(r.instances[0].state, 'stopped');
  assert.match(r.instances[0].lastError!, /No such file|nonexistent/);
  assert.ok(await (await c.client('A')).ping('A'));
  await waitFor('app_crash_loop in the log', () => /"event":"app_crash_loop"/.test(c.log('A')));
});

test('an app that exits at once backs off: fewer starts than a tight loop would make', async () => {
  const c = await poolCluster({ instances: 1, env: { TEST_APP_MODE: 'exit' }, backoff: { minMs: 400, maxMs: 800 } });
  await waitFor('the problem reported', async () => (await registry(c)).problem);
  const t0 = Date.now();
  const r0 = (await registry(c)).instances[0].restarts;
  await waitFor('2 s to pass', () => Date.now() - t0 > 2000, 3000, 100);
  const r1 = await registry(c);
  // With back-off capped at 800 ms, 2 s allow about 3 more starts; a tight loop would make dozens.
  assert.ok(r1.instances[0].restarts - r0 <= 5, `restarts in 2 s: ${r1.instances[0].restarts - r0}`);
  assert.match(r1.instances[0].lastError!, /code 3: test-app: told to fail at start/);
  assert.ok(r1.instances[0].retryAt === null || r1.instances[0].retryAt > 0);
});

test('every port of the range taken: reported, and the pool starts once one frees up', async () => {
  const basePort = await freePortRange(2);
  const blockers: Server[] = [];
  for (const p of [basePort, basePort + 1]) {
    const s = createServer();
    await new Promise<void>((r) => s.listen(p, '127.0.0.1', r));
    blockers.push(s);
  }
  const c = await TestCluster.create([{ id: 'A', role: 'access', app: { command: [process.execPath, TEST_APP], instances: 1, basePort, portSpan: 2, backoff: { minMs: 100, maxMs: 300 }, health: { intervalMs: 200, timeoutMs: 200 } } }]);
  clusters.push(c);
  await c.start('A');
  const r = await waitFor('the problem reported', async () => (await registry(c)).problem);
  assert.match(r, new RegExp(`every port of 127.0.0.1:${basePort}-${basePort + 1} is taken`));
  await new Promise((r) => blockers[1].close(r));
  const inst = await waitFor('an instance on the freed port', async () => ready(await registry(c))[0]);
  assert.equal(inst.port, basePort + 1);
  await new Promise((r) => blockers[0].close(r));
});

test('an instance whose health endpoint hangs is killed and replaced', async () => {
  const c = await poolCluster({ instances: 1 });
  const first = await waitFor('ready', async () => ready(await registry(c))[0]);
  await post(first, '/hang');
  const next = await waitFor('a new instance', async () => {
    const i = ready(await registry(c))[0];
    return i && i.pid !== first.pid ? i : undefined;
  });
  assert.ok(!alive(first.pid!));
  assert.equal(next.restarts, 1);
  await waitFor('app_unresponsive in the log', () => /"event":"app_unresponsive"/.test(c.log('A')));
});

test('a slot whose port was taken while it was down moves to the next free port', async () => {
  const c = await poolCluster({ instances: 1 });
  const first = await waitFor('ready', async () => ready(await registry(c))[0]);
  // Stop it (SIGSTOP keeps the port), kill it, and take its port before the replacement binds.
  process.kill(first.pid!, 'SIGKILL');
  const squatter = createServer();
  await waitFor('its port to be free for the squatter', () => new Promise<boolean>((res) => {
    squatter.once('error', () => res(false));
    squatter.listen(first.port!, '127.0.0.1', () => res(true));
  }), 5000, 5);
  try {
    const moved = await waitFor('a replacement', async () => {
      const i = ready(await registry(c))[0];
      return i && i.pid !== first.pid ? i : undefined;
    });
    assert.notEqual(moved.port, first.port);
    assert.match(await get(moved), /\d+/);
  } finally {
    squatter.close();
  }
});

test('a node stopped with SIGTERM stops its instances gracefully', async () => {
  const c = await poolCluster({ instances: 2 });
  const pids = ready(await waitFor('ready', async () => {
    const r = await registry(c);
    return ready(r).length === 2 ? r : undefined;
  })).map((i) => i.pid!);
  await c.kill('A', 'SIGTERM');
  assert.ok(pids.every((p) => !alive(p)));
  assert.equal(c.log('A').match(/"event":"app_output".*"line":"test-app .* listening/g)?.length, 2, 'app output is in the node log');
  assert.equal(c.log('A').match(/"event":"node_stopped"/g)?.length, 1);
});

test('DYING: a fresh instance takes its place at once; the dying one is stopped only once its sessions end', async () => {
  const c = await poolCluster({ instances: 1, drainTimeoutMs: 60_000 });
  const first = await waitFor('ready', async () => ready(await registry(c))[0]);
  await post(first, '/dying?sessions=2');
  const r = await waitFor('dying, with a fresh ready instance beside it', async () => {
    const r = await registry(c);
    const dying = r.instances.find((i) => i.id === first.id && i.state === 'dying');
    return dying && dying.sessions === 2 && ready(r).length === 1 ? r : undefined;
  });
  assert.notEqual(ready(r)[0].pid, first.pid);
  // Its sessions are live: it keeps running and answering them.
  assert.match(await get(first), /\d+/);
  assert.ok(alive(first.pid!));
  await post(first, '/sessions?n=0');
  await waitFor('the dying instance to stop once its sessions ended', () => !alive(first.pid!), 10_000);
  await waitFor('app_stopping (its sessions ended) in the log', () => /"event":"app_stopping".*its sessions ended/.test(c.log('A')));
});

test('DYING past drainTimeoutMs is stopped although sessions remain', async () => {
  const c = await poolCluster({ instances: 1, drainTimeoutMs: 1500 });
  const first = await waitFor('ready', async () => ready(await registry(c))[0]);
  const t0 = Date.now();
  await post(first, '/dying?sessions=5');
  await waitFor('the dying instance to stop', () => !alive(first.pid!), 10_000);
  assert.ok(Date.now() - t0 >= 1400, `stopped after ${Date.now() - t0} ms`);
  // The node's log reaches its file a moment after the fact: wait for the line, not a sleep.
  await waitFor('the reason in the log', () => /"event":"app_stopping".*drain timeout \(5 sessions left\)/.test(c.log('A')));
});

test('memory recycling starts the replacement first and lets a request in flight finish', async () => {
  // Filling 200 MiB blocks the app's loop for a moment: health checks tolerant enough that a busy machine does not fail it for hanging.
  const c = await poolCluster({ instances: 1, recycle: { maxMemoryMb: 150 }, health: { intervalMs: 1000, timeoutMs: 1000, fails: 3 } });
  const first = await waitFor('ready', async () => ready(await registry(c))[0]);
  const slow = fetch(`http://127.0.0.1:${first.port}/?ms=1500`).then(async (r) => ({ status: r.status, body: await r.text() }));
  await post(first, '/alloc?mb=200');
  const answered = await slow;
  assert.equal(answered.status, 200);
  assert.match(answered.body, new RegExp(`^${first.id.replace(/\./g, '\\.')} `));
  await waitFor('the old instance to be gone', () => !alive(first.pid!), 10_000);
  await waitFor('the recycling in the log', () => /"event":"app_recycle"/.test(c.log('A')) && /"event":"app_dying"/.test(c.log('A')));
  const log = c.log('A');
  const readyAt = log.search(/"event":"app_ready","instance":"A\.1\.2"/);
  const dyingAt = log.search(new RegExp(`"event":"app_dying","instance":"${first.id.replace(/\./g, '\\.')}"`));
  assert.ok(readyAt > 0 && dyingAt > readyAt, 'the replacement was ready before the old one stopped taking sessions');
  assert.match(log, /"event":"app_recycle".*resident set \d+ MiB over 150 MiB/);
});

test('request-count recycling: the fronts\' reports add up to the limit', async () => {
  const c = await poolCluster({ instances: 1, recycle: { maxRequests: 100 } });
  const first = await waitFor('ready', async () => ready(await registry(c))[0]);
  const client = await c.client('A');
  await client.call('A', 'app.served', { counts: { [first.id]: 60, 'A.9.9': 5 } });
  assert.equal((await registry(c)).instances.find((i) => i.id === first.id)?.requests, 60);
  await client.call('A', 'app.served', { counts: { [first.id]: 40 } });
  await waitFor('a replacement', async () => {
    const i = ready(await registry(c))[0];
    return i && i.id !== first.id;
  });
  await waitFor('the old instance to be gone', () => !alive(first.pid!), 10_000);
  await assert.rejects(client.call('A', 'app.served', { counts: { x: -1 } }), (err: Error & { code?: string }) => err.code === 'bad_args');
});
