import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { MaintenanceWatch } from '../../src/front/maintenance-watch.ts';
import type { MaintenanceSnapshot } from '../../src/supervisor/maintenance.ts';
import { runCli } from '../harness/cli.ts';
import { TestCluster } from '../harness/cluster.ts';
import { timed, waitFor } from '../harness/wait.ts';

describe('cluster-wide maintenance mode across real node processes', () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.create([{ id: 'A' }, { id: 'B' }, { id: 'C' }], {
      link: { heartbeatMs: 300, deadAfterMs: 1000, backoffMinMs: 100, backoffMaxMs: 1000 },
      critical: { waitMs: 500, retries: 2, retryDelayMs: 100 },
    });
    await cluster.startAll();
    await waitFor('links up', () => cluster.linksUp());
  });
  after(() => cluster.destroy());

  const cli = (...args: string[]) => runCli(['maintenance', ...args, '--config', cluster.config, '--from', 'A']);
  const get = async (node: string, via = 'A') => (await (await cluster.client(via)).call(node, 'maintenance.get')) as MaintenanceSnapshot;

  it('`maintenance on --message` reaches every node; status --json shows it', async () => {
    const r = await cli('on', '--message', 'Upgrading <b>now</b>\nback at 10:00');
    assert.equal(r.code, 0, r.stderr);
    for (const id of ['A', 'B', 'C']) assert.match(r.stderr, new RegExp(`^${id}: ok \\(maintenance on\\)$`, 'm'));
    for (const id of ['A', 'B', 'C']) {
      const { state } = await get(id);
      assert.equal(state.on, true);
      assert.equal(state.message, 'Upgrading <b>now</b>\nback at 10:00');
      assert.equal(state.by, 'A');
    }
    const status = await cli('status', '--json');
    assert.equal(status.code, 0, status.stderr);
    const rows = JSON.parse(status.stdout) as MaintenanceSnapshot[];
    assert.deepEqual(rows.map((s) => [s.node, s.state.on]), [['A', true], ['B', true], ['C', true]]);
    const table = await cli('status');
    assert.match(table.stdout, /^B\s+on\s+\S+\s+A\s+Upgrading <b>now<\/b> back at 10:00$/m);
  });

  it('the setting survives a node restart', async () => {
    const before = await get('B');
    await cluster.kill('B');
    await cluster.start('B');
    const afterRestart = await get('B', 'B');
    assert.notEqual(afterRestart.boot, before.boot);
    assert.deepEqual(afterRestart.state, before.state);
    await waitFor('links up again', () => cluster.linksUp());
  });

  it('a node that is down gets `maintenance off` when it is back; a stale setting does not undo it', async () => {
    await cluster.kill('C');
    const r = await cli('off');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^C: delayed/m);
    assert.match(r.stdout, /2 nodes applied it, 1 get it when they are back/);
    assert.equal((await get('A')).state.on, false);
    assert.equal((await get('B')).state.on, false);
    // A late message with an older `at` (a node that was down, a slow sender): ok, changes nothing.
    const staleAt = (await get('A')).state.at - 1000;
    const a = await cluster.client('A');
    const stale = await a.critical('B', 'maintenance.set', { on: true, message: 'old', at: staleAt });
    assert.equal(stale.status, 'ok');
    assert.deepEqual((stale as { reply: { applied: boolean } }).reply.applied, false);
    assert.equal((await get('B')).state.on, false);
    // C restarts with its stored "on", and the delayed "off" (newer) arrives and wins.
    await cluster.start('C');
    await waitFor('C hears maintenance off', async () => (await get('C', 'C')).state.on === false);
    await waitFor('A drained', async () => ((await a.call('A', 'outbox.status')) as { peers: { depth: number }[] }).peers.every((p) => p.depth === 0));
  });

  it('status shows an unreachable node and exits 1', async () => {
    await cluster.kill('C');
    const r = await cli('status');
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^C\s+unreachable/m);
    assert.match(r.stdout, /^A\s+off/m);
    await cluster.start('C');
    await waitFor('links up again', () => cluster.linksUp());
  });

  it('a long poll answers at the change, not after its wait', async () => {
    const a = await cluster.client('A');
    const now = await get('B');
    const poll = timed(() => a.call('B', 'maintenance.get', { after: now.version, boot: now.boot, waitMs: 8000 }) as Promise<MaintenanceSnapshot>);
    // A ping on the same path is answered after B has taken the poll (one link, in order).
    await a.call('B', 'ping');
    const sent = await a.critical('B', 'maintenance.set', { on: true, message: 'poll', at: Date.now() });
    assert.equal(sent.status, 'ok');
    const { value, ms } = await poll;
    assert.equal(value.state.on, true);
    assert.equal(value.version, now.version + 1);
    assert.ok(ms < 4000, `the long poll answered after ${ms} ms (waitMs 8000)`);
  });

  it('bad input is refused and changes nothing', async () => {
    const a = await cluster.client('A');
    const before = await get('B');
    await assert.rejects(a.call('B', 'maintenance.set', { on: 'no', at: Date.now() }), { code: 'bad_args' });
    await assert.rejects(a.call('B', 'maintenance.set', { on: false, message: 'x'.repeat(2001), at: Date.now() }), { code: 'bad_args' });
    await assert.rejects(a.critical('B', 'maintenance.set', { on: false, message: 'x'.repeat(2001), at: Date.now() }), { code: 'bad_args' });
    await assert.rejects(a.call('B', 'maintenance.get', { waitMs: 60_000 }), { code: 'bad_args' });
    const long = await runCli(['maintenance', 'on', '--message', 'y'.repeat(2001), '--config', cluster.config, '--from', 'A']);
    assert.equal(long.code, 2, long.stderr);
    const bell = await runCli(['maintenance', 'on', '--message', 'ring\u0007', '--config', cluster.config, '--from', 'A']);
    assert.equal(bell.code, 2, bell.stderr);
    assert.match(bell.stderr, /plain text/);
    assert.deepEqual(await get('B'), before);
  });

  it('a MaintenanceWatch follows a real node, keeps its state while the node is down', async () => {
    const a = await cluster.client('A');
    const watch = new MaintenanceWatch((to, cmd, args) => a.call(to, cmd, args), 'B', pino({ level: 'silent' }));
    watch.start();
    try {
      await waitFor('the watch to read B', () => watch.state.on);
      await a.critical('B', 'maintenance.set', { on: false, message: '', at: Date.now() });
      await waitFor('the watch to see off', () => !watch.state.on);
      await cluster.kill('B');
      await a.critical('B', 'maintenance.set', { on: true, message: 'while down', at: Date.now() });
      assert.equal(watch.state.on, false, 'kept while B is down');
      await cluster.start('B');
      await waitFor('the watch to see the delayed setting', () => watch.state.on && watch.state.message === 'while down', 15_000);
    } finally {
      watch.stop();
    }
  });
});
