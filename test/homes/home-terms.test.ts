import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Term } from '../../src/homes/terms/term-store.ts';
import { runCli } from '../harness/cli.ts';
import type { TestCluster } from '../harness/cluster.ts';
import { historyIn, homeStatusOf, votingCluster, VOTING_LEASE_MS as LEASE_MS } from '../harness/voting-cluster.ts';
import { waitFor } from '../harness/wait.ts';

// Issue 27, the homes' terms on real processes: msu's voters are library nodes A (ann's home)
// and E (its backup) and access node V (voter: true); J, an access node that does not vote,
// writes to ann as critical messages. A lease of 2 s.

describe("a home's terms with its domain's voters", () => {
  let c: TestCluster;
  const ann = { domain: 'msu', user: 'ann' };

  before(async () => {
    c = await votingCluster();
  });
  after(() => c?.destroy());

  const homeStatus = () => homeStatusOf(c);
  const termAt = async (voter: string) => ((await (await c.client('J')).call(voter, 'home.term.state', {})) as { homes: (Term & { home: string })[] }).homes.find((h) => h.home === 'A')!;
  const historyOf = (ns: string) => historyIn(join(c.table.dataDir, 'A', 'node.db'), ns);

  it('the home holds its lease at an epoch the voters granted; each voter keeps it, and that the backup is in step', async () => {
    await waitFor('A in step with E, and the voters told', async () => (await homeStatus()).inSync && (await termAt('V')).inSync, 20_000);
    const s = await homeStatus();
    assert.ok(s.term && s.term.leaseHeld && s.term.epoch >= 1, JSON.stringify(s.term));
    assert.deepEqual(s.term.voters, ['A', 'E', 'V']);
    for (const voter of ['A', 'E', 'V']) assert.deepEqual({ ...(await termAt(voter)), silentMs: 0 }, { home: 'A', epoch: s.term.epoch, primary: 'A', inSync: true, version: (await termAt(voter)).version, silentMs: 0 });
    await (await c.client('J')).auth.addUser(ann, 'A', 'ann password');
    const shown = await runCli(['homes', '--config', c.config, '--from', 'J']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, new RegExp(`\\nA\\s+E\\s+yes\\s+${s.term.epoch}\\s+held 3/3\\s`));
    assert.match(await (await fetch(`http://127.0.0.1:${c.table.nodes.find((n) => n.id === 'A')!.httpPort}/metrics`)).text(), /^cohort_home_lease_held(\{[^}]*\})? 1$/m);
  });

  it('its backup down, the home answers writes alone once a majority recorded it; without a majority it applies nothing, and every write is applied once when one is back', async () => {
    const j = await c.client('J');
    await c.kill('E');
    for (let i = 0; i < 5; i++) assert.equal((await j.records.store(ann, 'alone', { i })).status, 'ok');
    assert.equal((await termAt('V')).inSync, false, 'V recorded that E lacks writes before any was answered alone');
    assert.deepEqual(historyOf('alone'), [0, 1, 2, 3, 4]);
    // V frozen too: A has one voter of three, its lease lapses, and it applies nothing.
    c.signal('V', 'SIGSTOP');
    try {
      await waitFor('lease lapsed', async () => !(await homeStatus()).term!.leaseHeld, 10_000);
      const sent = [];
      for (let i = 0; i < 5; i++) sent.push(await j.records.store(ann, 'no-lease', { i }));
      assert.deepEqual(sent.map((r) => r.status), ['delayed', 'delayed', 'delayed', 'delayed', 'delayed'], 'not answered: kept in J\'s outbox');
      await new Promise((r) => setTimeout(r, LEASE_MS)); // outboxes send again meanwhile; nothing may be applied
      assert.deepEqual(historyOf('no-lease'), [], 'no write applied without the lease');
      const doctor = await runCli(['doctor', '--config', c.config, '--from', 'A', '--json', '--min-free-mb', '0', '--min-free-pct', '0'], { timeoutMs: 30_000 });
      const lease = (JSON.parse(doctor.stdout) as { rows: { check: string; node: string; status: string; detail: string }[] }).rows.find((r) => r.check === 'home lease' && r.node === 'A');
      assert.equal(lease?.status, 'fail', JSON.stringify(lease));
    } finally {
      c.signal('V', 'SIGCONT');
    }
    await waitFor('every delayed write applied', () => historyOf('no-lease').length >= 5, 20_000);
    assert.deepEqual(historyOf('no-lease').sort(), [0, 1, 2, 3, 4], 'each once');
    await c.start('E');
    await waitFor('E in step again, and the voters told', async () => (await homeStatus()).inSync && (await termAt('V')).inSync, 20_000);
    assert.deepEqual(historyOf('no-lease').sort(), [0, 1, 2, 3, 4]);
  });
});
