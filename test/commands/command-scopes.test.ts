import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { RegistrySnapshot, InstanceRecord } from '../../src/supervisor/registry.ts';
import type { MaintenanceSnapshot } from '../../src/supervisor/maintenance.ts';
import { runCli } from '../harness/cli.ts';
import { TestCluster } from '../harness/cluster.ts';
import { freePortRange } from '../harness/ports.ts';
import { waitFor } from '../harness/wait.ts';

// Command scopes with real processes: an app instance started by node A's supervisor sends
// operator commands through its client library (the app socket its node gave it) and straight
// to A's operator socket: refused both ways, for A and for B, plain or critical, and nothing
// changes. The operator (the CLI, this test's own client) still can.
const CALLING_APP = fileURLToPath(new URL('../harness/calling-app.ts', import.meta.url));

type Answer = { ok: true; data: unknown } | { ok: false; code: string; message: string };

describe('command scopes: an app process is not the operator', () => {
  let cluster: TestCluster;
  let app: InstanceRecord;

  before(async () => {
    const basePort = await freePortRange(4);
    cluster = await TestCluster.create([
      { id: 'A', role: 'library', app: { command: [process.execPath, CALLING_APP], instances: 1, basePort, portSpan: 4, health: { intervalMs: 200, timeoutMs: 200, fails: 3 } } },
      { id: 'B', role: 'access' },
    ], { link: { heartbeatMs: 300, deadAfterMs: 1000, backoffMinMs: 100, backoffMaxMs: 1000 }, critical: { waitMs: 500, retries: 2, retryDelayMs: 100 } });
    await cluster.startAll();
    await waitFor('links up', () => cluster.linksUp());
    app = await waitFor('the app instance ready', async () => registryOf('A').then((r) => r.instances.find((i) => i.state === 'ready')), 20_000);
  });
  after(() => cluster.destroy());

  const registryOf = async (id: string) => (await (await cluster.client(id)).call(id, 'app.registry')) as RegistrySnapshot;
  const maintenanceOf = async (id: string) => ((await (await cluster.client('A')).call(id, 'maintenance.get')) as MaintenanceSnapshot).state;
  const fromApp = async (body: { to: string; cmd: string; args?: unknown; crit?: boolean; via?: string }): Promise<Answer> => {
    const res = await fetch(`http://${app.host}:${app.port}/call`, { method: 'POST', body: JSON.stringify(body) });
    assert.equal(res.status, 200);
    return (await res.json()) as Answer;
  };
  const refused = (a: Answer, what: string) => {
    assert.equal(a.ok, false, `${what}: ${JSON.stringify(a)}`);
    assert.equal((a as { code: string }).code, 'refused', `${what}: ${JSON.stringify(a)}`);
    assert.match((a as { message: string }).message, /operator command: refused from an app process/, what);
  };

  for (const via of ['client', 'operator-socket']) {
    it(`through ${via === 'client' ? 'its client library' : 'the operator socket path'}: maintenance.set, app.served, app.reload and lard.decide are refused; what apps may do still works`, async () => {
      const set = { on: true, message: 'hijacked', at: Date.now() + 50_000 };
      for (const to of ['A', 'B']) {
        refused(await fromApp({ via, to, cmd: 'maintenance.set', args: set }), `maintenance.set to ${to}`);
        refused(await fromApp({ via, to, cmd: 'maintenance.set', args: set, crit: true }), `critical maintenance.set to ${to}`);
      }
      refused(await fromApp({ via, to: 'A', cmd: 'app.served', args: { counts: {}, draining: [app.id] } }), 'app.served');
      refused(await fromApp({ via, to: 'A', cmd: 'app.reload', args: {} }), 'app.reload');
      refused(await fromApp({ via, to: 'B', cmd: 'lard.decide', args: { front: 'f', route: 'r', mode: 'lard', settings: { tLow: 2, tHigh: 4, kMs: 0, maxTargets: 10 }, servers: [{ id: 's', capacity: 1 }], items: [{ target: '/a' }], done: {} } }), 'lard.decide');
      refused(await fromApp({ via, to: 'A', cmd: 'outbox.retry', args: { id: 1 } }), 'outbox.retry');
      // An app may not set a user's password, at her home or through a node that finds it (issue 27's password reset).
      refused(await fromApp({ via, to: 'B', cmd: 'user.password', args: { domain: 'd', user: 'u', password: 'p' } }), 'user.password');
      refused(await fromApp({ via, to: 'A', cmd: 'user.password.reset', args: { domain: 'd', user: 'u', password: 'p' } }), 'user.password.reset');
      // On the app socket the node knows at once; on the operator socket it found the app's process.
      const why = ((await fromApp({ via, to: 'A', cmd: 'maintenance.set', args: set })) as { message: string }).message;
      if (via === 'client') assert.doesNotMatch(why, /counts as an app's/);
      else assert.match(why, /counts as an app's: process \d+ is app instance A\./, 'the refusal says why');
      // Nothing changed: maintenance off everywhere, the instance still serving.
      for (const id of ['A', 'B']) assert.equal((await maintenanceOf(id)).on, false);
      assert.equal((await registryOf('A')).instances.find((i) => i.id === app.id)?.state, 'ready');
      // What an app may do still works, on either socket.
      const ping = await fromApp({ via, to: 'B', cmd: 'ping' });
      assert.deepEqual(ping, { ok: true, data: { node: 'B' } });
    });
  }

  it('the operator still can: app.served from this test, `cohort maintenance on` from the CLI', async () => {
    const operator = await cluster.client('A');
    assert.deepEqual(await operator.call('A', 'app.served', { counts: { [app.id]: 1 } }), { ok: true });
    const on = await runCli(['maintenance', 'on', '--message', 'by the operator', '--config', cluster.config, '--from', 'A']);
    assert.equal(on.code, 0, on.stderr);
    for (const id of ['A', 'B']) assert.deepEqual([(await maintenanceOf(id)).on, (await maintenanceOf(id)).message], [true, 'by the operator']);
  });

  it('an `at` more than a minute ahead is refused; `--force` replaces a newer setting', async () => {
    const operator = await cluster.client('A');
    await assert.rejects(operator.call('B', 'maintenance.set', { on: true, at: Date.now() + 3_600_000 }), (e: Error & { code?: string }) => e.code === 'bad_args' && /ahead of this node's clock: at most 60 s/.test(e.message));
    // A setting stamped 50 s ahead (a clock that runs fast) outranks a plain `off`...
    for (const to of ['A', 'B']) await operator.critical(to, 'maintenance.set', { on: true, message: 'fast clock', at: Date.now() + 50_000 });
    const off = await runCli(['maintenance', 'off', '--config', cluster.config, '--from', 'A']);
    assert.equal(off.code, 1, 'a newer setting stays: the cluster is not as asked');
    assert.match(off.stderr, /^B: ok, but a newer setting stays \(on since .*; --force replaces it if it is stamped ahead of the node.s clock\)$/m);
    assert.equal((await maintenanceOf('B')).on, true);
    // ...and --force replaces it.
    const forced = await runCli(['maintenance', 'off', '--force', '--config', cluster.config, '--from', 'A']);
    assert.equal(forced.code, 0, forced.stderr);
    for (const id of ['A', 'B']) assert.equal((await maintenanceOf(id)).on, false);
  });
});
