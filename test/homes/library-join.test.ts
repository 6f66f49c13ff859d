import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { laneKey } from '../../src/critical/home-lane.ts';
import { backupOf } from '../../src/homes/backup-of.ts';
import { loadHostTable } from '../../src/config/host-table.ts';
import type { HostsStatus } from '../../src/config/table-change.ts';
import { runCli } from '../harness/cli.ts';
import { TestCluster, type ClusterNodeSpec } from '../harness/cluster.ts';
import { freePorts } from '../harness/ports.ts';
import { historyIn, VOTING_LEASE_MS } from '../harness/voting-cluster.ts';
import { waitFor } from '../harness/wait.ts';

/** A cluster on signed host table versions (version 1), started with links up: homes keep short leases. */
async function signedCluster(nodes: ClusterNodeSpec[]): Promise<TestCluster> {
  const c = await TestCluster.create(nodes, { homes: { leaseMs: VOTING_LEASE_MS }, critical: { waitMs: 1500, retries: 1, retryDelayMs: 100 }, link: { backoffMinMs: 100, backoffMaxMs: 500 } });
  for (const args of [['hosts', 'keygen'], ['hosts', 'sign', '--bump']]) {
    const out = await runCli([...args, '-c', c.config]);
    assert.equal(out.code, 0, out.stderr);
  }
  await c.startAll();
  await waitFor('links up', () => c.linksUp());
  return c;
}

/** Library node N of msu, added joining with `cohort hosts add`, handed to J. */
async function addN(c: TestCluster): Promise<void> {
  const [linkPort, httpPort] = await freePorts(2);
  const added = await runCli(['hosts', 'add', 'N', '--role', 'library', '--domain', 'msu', '--host', '127.0.0.1', '--link-port', String(linkPort), '--http-port', String(httpPort), '--from', 'J', '-c', c.config]);
  assert.equal(added.code, 0, added.stderr);
}

const currentOf = async (c: TestCluster, id: string) => (await (await c.client(id)).call(id, 'hosts.current')) as HostsStatus;
const holderOfN = async (c: TestCluster, node: string) => (await (await c.client('J')).call(node, 'home.term.holder', { home: 'N' })) as { holds: boolean; epoch: number };

// Issue 28, item 5, with issue 27's terms: msu's voters are library nodes A and E and access
// node V; J is the client. Library node N joins while every node runs (no restart): its backup
// (A or E) opens its copy and its term at once, J opens a lane to it. N takes a new user; N is
// killed; its backup takes N's writes after a lease (J's lane follows), and hands them back when
// N is back: every write is on N once. The running homes' backups and voters do not change.
const ann = { domain: 'msu', user: 'ann' };

describe('a library node joining a running cluster with terms', () => {
  let c: TestCluster;
  let backup: string;

  before(async () => {
    c = await signedCluster([
      { id: 'A', role: 'library' },
      { id: 'E', role: 'library' },
      { id: 'V', role: 'access', voter: true },
      { id: 'J', role: 'access' },
    ]);
  });
  after(() => c?.destroy());

  const current = (id: string) => currentOf(c, id);
  const holder = (node: string) => holderOfN(c, node);

  it('joins at once: N holds its lease, its backup keeps its copy, a user made on N is written through a lane; killed, its backup takes its writes; back, it gets them all', async () => {
    await addN(c);
    const table = loadHostTable(c.config);
    backup = backupOf(table, 'N')!;
    assert.ok(['A', 'E'].includes(backup));
    assert.deepEqual([backupOf(table, 'A'), backupOf(table, 'E')], ['E', 'A'], 'the running homes keep their backups');
    await waitFor('every node running version 2', async () => (await Promise.all(c.ids.map(current))).every((st) => st.version === 2 && st.running === 2), 10_000);
    await c.start('N');
    await waitFor('N holding its lease (voters A, E and V)', async () => (await holder('N')).holds, 20_000);
    const j = await c.client('J');
    assert.deepEqual(await j.auth.addUser(ann, 'N', 'ann password'), { created: true, home: 'N' });
    for (let i = 0; i < 3; i++) assert.equal((await j.records.store(ann, 'h', { i })).status, 'ok');
    const copy = join(c.table.dataDir, backup, 'replicas', 'N.db');
    await waitFor(`${backup}'s copy of N holding her writes`, () => historyIn(copy, 'h').length === 3, 10_000);
    const lanes = ((await j.call('J', 'outbox.status', {})) as { peers: { peer: string }[] }).peers.map((p) => p.peer);
    assert.ok(lanes.includes(laneKey('N')), `J writes to N in a lane: ${lanes.join(', ')}`);

    await c.kill('N');
    let i = 3;
    await waitFor(`${backup} holding N's lease`, async () => {
      await j.records.store(ann, 'h', { i: i++ });
      return (await holder(backup)).holds;
    }, 30_000, 200);
    await waitFor(`a write answered ok by ${backup}`, async () => (await j.records.store(ann, 'h', { i: i++ })).status === 'ok', 15_000, 100);
    assert.deepEqual(await j.auth.login(ann, 'ann password'), { ok: true, home: 'N', copy: backup });
    const sent = i;
    await c.start('N');
    await waitFor('N holding its lease again', async () => (await holder('N')).holds && !(await holder(backup)).holds, 30_000);
    const onN = () => historyIn(join(c.table.dataDir, 'N', 'node.db'), 'h');
    await waitFor('every write on N', () => new Set(onN()).size === sent, 30_000);
    assert.equal(onN().length, sent, 'each once');
  });
});

// The same where the domain had one library node: no home kept terms before N (A has no backup),
// yet A, V1 and V2 vote on N's, and A keeps N's copy and term.
describe('a library node joining a domain that had one library node and two voters', () => {
  let c: TestCluster;
  before(async () => {
    c = await signedCluster([
      { id: 'A', role: 'library' },
      { id: 'V1', role: 'access', voter: true },
      { id: 'V2', role: 'access', voter: true },
      { id: 'J', role: 'access' },
    ]);
  });
  after(() => c?.destroy());

  it("N holds its lease, voted by A, V1 and V2; a write to N's user is on A's copy", async () => {
    await addN(c);
    await waitFor('every node running version 2', async () => (await Promise.all(c.ids.map((id) => currentOf(c, id)))).every((st) => st.version === 2 && st.running === 2), 10_000);
    await c.start('N');
    await waitFor('N holding its lease', async () => (await holderOfN(c, 'N')).holds, 20_000);
    const j = await c.client('J');
    assert.deepEqual(await j.auth.addUser(ann, 'N', 'ann password'), { created: true, home: 'N' });
    assert.equal((await j.records.store(ann, 'h', { i: 0 })).status, 'ok');
    await waitFor("A's copy of N holding her write", () => historyIn(join(c.table.dataDir, 'A', 'replicas', 'N.db'), 'h').length === 1, 10_000);
  });
});
