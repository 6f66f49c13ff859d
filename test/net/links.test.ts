import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { statSync } from 'node:fs';
import { localSocketPath } from '../../src/config/host-table.ts';
import { CohortError } from '../../src/errors.ts';
import { TestCluster } from '../harness/cluster.ts';
import { timed, waitFor } from '../harness/wait.ts';

// Four real node processes. The back-off is long on purpose (10-20 s after a failed
// dial), so links that come back within a second prove the announcement, not a timer.
describe('links between real node processes', () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.create([{ id: 'A' }, { id: 'B' }, { id: 'C' }, { id: 'D', domain: 'rice', role: 'library' }], {
      link: { backoffMinMs: 20_000, backoffMaxMs: 60_000, heartbeatMs: 500, deadAfterMs: 1500 },
    });
    await cluster.startAll();
    await waitFor('every link up', () => cluster.linksUp(), 10_000);
  });
  after(() => cluster.destroy());

  it('every pair pings through local sockets', async () => {
    for (const from of cluster.ids) {
      const client = await cluster.client(from);
      for (const to of cluster.ids) {
        assert.deepEqual(await client.ping(to), { node: to }, `${from} -> ${to}`);
      }
    }
  });

  it('each local socket lives in its node\'s data folder with mode 0600', () => {
    for (const id of cluster.ids) {
      const st = statSync(localSocketPath(cluster.table, id));
      assert.ok(st.isSocket());
      assert.equal(st.mode & 0o777, 0o600, id);
    }
  });

  it('many requests in flight on one link all get their own reply', async () => {
    const client = await cluster.client('A');
    const replies = await Promise.all(Array.from({ length: 2000 }, (_, i) => client.call(['B', 'C', 'D'][i % 3], 'ping')));
    replies.forEach((r, i) => assert.deepEqual(r, { node: ['B', 'C', 'D'][i % 3] }));
  });

  it('answers load as a percentage and peers with link states', async () => {
    const client = await cluster.client('B');
    const load = (await client.call('A', 'load')) as { node: string; percent: number; fullAt: number };
    assert.equal(load.node, 'A');
    assert.ok(load.percent >= 0 && load.fullAt > 0);
    const peers = (await client.call('C', 'peers')) as { node: string; peers: { id: string; state: string; inbound: boolean }[] };
    assert.deepEqual(peers.peers.map((p) => [p.id, p.state, p.inbound]), [['A', 'up', true], ['B', 'up', true], ['D', 'up', true]]);
  });

  it('distinct error codes: unknown_cmd, no_such_host, bad_args, refused', async () => {
    const client = await cluster.client('A');
    await assert.rejects(client.call('B', 'no-such-command'), { code: 'unknown_cmd' });
    await assert.rejects(client.call('Z', 'ping'), { code: 'no_such_host' });
    await assert.rejects(client.call('B', 'ping', { extra: 1 }), { code: 'bad_args' });
    await assert.rejects(client.call('B', 'reconnect'), { code: 'refused' });
    assert.deepEqual(await client.ping('B'), { node: 'B' }, 'the link survives error replies');
  });

  it('kill -9 of a node: commands to it answer con_lost within 2 s; restarted, all links are back within 1 s of its start', async () => {
    await cluster.kill('C');
    const client = await cluster.client('A');
    const { value: err, ms } = await timed(() => client.ping('C').then(() => null, (e: CohortError) => e));
    assert.ok(err instanceof CohortError, 'ping to a dead node must fail');
    assert.equal(err.code, 'con_lost');
    assert.ok(ms < 2000, `con_lost took ${ms} ms`);
    // Every survivor has tried and is now backing off for 10-20 s.
    await waitFor('survivors back off from C', async () => {
      for (const id of ['A', 'B', 'D']) {
        const c = (await cluster.peers(id)).find((p) => p.id === 'C');
        if (c?.state !== 'down' || c.attempts < 1) return false;
      }
      return true;
    });
    const survivors = await cluster.client('B');
    assert.deepEqual(await survivors.ping('D'), { node: 'D' }, 'the rest of the cluster keeps working');

    const startedAt = Date.now();
    await cluster.start('C'); // resolves when C's local socket answers
    await waitFor('every link up again', () => cluster.linksUp(), 5000, 10);
    const sinceStart = Date.now() - startedAt;
    const nodeUp = Date.parse(cluster.events('C', 'node_ready').at(-1)!.time as string);
    const allUpAt = Date.now();
    assert.ok(allUpAt - nodeUp < 1000, `links back ${allUpAt - nodeUp} ms after C was ready (${sinceStart} ms after spawn)`);
    for (const from of cluster.ids) assert.deepEqual(await (await cluster.client(from)).ping('C'), { node: 'C' });
  });

  it('`reconnect` redials a peer that is down at once, skipping the back-off', async () => {
    await cluster.kill('D');
    await waitFor('A backs off from D', async () => {
      const d = (await cluster.peers('A')).find((p) => p.id === 'D');
      return d?.state === 'down' && d.attempts >= 1 ? d : null;
    });
    const downSince = (await cluster.peers('A')).find((p) => p.id === 'D')!.since;
    const reply = (await (await cluster.client('A')).call('A', 'reconnect')) as { redialed: string[] };
    assert.deepEqual(reply.redialed, ['D']);
    // A new dial was made and failed at once (the back-off alone would wait 10-20 s).
    await waitFor('an immediate redial', async () => {
      const d = (await cluster.peers('A')).find((p) => p.id === 'D')!;
      return d.state === 'down' && d.since > downSince;
    }, 1000);
    await cluster.start('D');
    await waitFor('every link up again', () => cluster.linksUp(), 2000);
  });

  it('a peer that stops answering (SIGSTOP) is noticed by heartbeat within seconds, and heals on SIGCONT', async () => {
    cluster.signal('D', 'SIGSTOP');
    const { ms } = await timed(() => waitFor('A to mark D down', async () => (await cluster.peers('A')).find((p) => p.id === 'D')!.state !== 'up', 5000));
    assert.ok(ms < 2500, `dead link noticed after ${ms} ms (deadAfterMs is 1500)`);
    await assert.rejects((await cluster.client('A')).ping('D'), { code: 'con_lost' });
    cluster.signal('D', 'SIGCONT');
    await waitFor('every link up again', () => cluster.linksUp(), 5000);
    assert.deepEqual(await (await cluster.client('A')).ping('D'), { node: 'D' });
  });

  it('every node frozen at once (a paused machine) for longer than deadAfterMs: no link is declared dead, and a request in flight gets its reply', async () => {
    await waitFor('every link up', () => cluster.linksUp(), 5000);
    const upSince = new Map<string, number[]>();
    for (const id of cluster.ids) upSince.set(id, (await cluster.peers(id)).map((p) => p.since));
    const client = await cluster.client('A');
    const logBefore = cluster.log('A').length;
    for (const id of cluster.ids) cluster.signal(id, 'SIGSTOP');
    const inFlight = client.ping('C');
    await new Promise((r) => setTimeout(r, 2500)); // the freeze itself (deadAfterMs is 1500): nothing to wait on
    for (const id of cluster.ids) cluster.signal(id, 'SIGCONT');
    assert.deepEqual(await inFlight, { node: 'C' });
    // What must not happen has deadAfterMs (1500) after the thaw to happen in.
    await new Promise((r) => setTimeout(r, 2000));
    for (const id of cluster.ids) {
      assert.deepEqual((await cluster.peers(id)).map((p) => p.since), upSince.get(id), `${id}'s links went down: ${JSON.stringify(await cluster.peers(id))}`);
    }
    assert.doesNotMatch(cluster.log('A').slice(logBefore), /link_down/);
  });

  it('stops cleanly on SIGTERM: exit code 0 and a stop record in its log', async () => {
    await cluster.kill('B', 'SIGTERM');
    assert.equal(cluster.exitCode('B'), 0);
    assert.match(cluster.log('B'), /"event":"node_stopped"/);
    await assert.rejects((await cluster.client('A')).ping('B'), { code: 'con_lost' });
  });
});
