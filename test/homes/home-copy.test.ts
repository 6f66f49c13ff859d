import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import type { BackupStatus } from '../../src/homes/home-shipper.ts';
import { runCli } from '../harness/cli.ts';
import type { TestCluster } from '../harness/cluster.ts';
import { homePairCluster } from '../harness/home-pair.ts';
import { waitFor } from '../harness/wait.ts';

// Issue 27, reads and logins while a home is down: msu's library nodes A and E back each other
// up; J and K are msu's access nodes (K never looks ann up before A dies); R is a library node
// of rice, a domain msu does not share records with. A is killed with -9. The copy commands'
// refusals and the login asked of the home first: copy-commands.unit.test.ts.
describe("a home's users while it is down: reads and logins at its backup", () => {
  let c: TestCluster;
  const ann = { domain: 'msu', user: 'ann' };
  const bob = { domain: 'msu', user: 'bob' };
  const cat = { domain: 'msu', user: 'cat' };

  before(async () => {
    c = await homePairCluster([
      { id: 'J', domain: 'msu', role: 'access' },
      { id: 'K', domain: 'msu', role: 'access' },
      { id: 'R', domain: 'rice', role: 'library' },
    ]);
  });
  after(() => c?.destroy());

  const inStep = async () => ((await (await c.client('A')).call('A', 'home.backup', {})) as { home: BackupStatus }).home.inSync;
  const failuresOnCopy = (user: string, domain = 'msu'): number => failuresOn(join(c.table.dataDir, 'E', 'replicas', 'A.db'), user, domain);
  const failuresOn = (file: string, user: string, domain = 'msu'): number => {
    const db = new DatabaseSync(file, { readOnly: true });
    try {
      return Number((db.prepare('SELECT count(*) AS n FROM login_failures WHERE key = ?').get(`${domain}/${user}`) as { n: number }).n);
    } finally {
      db.close();
    }
  };
  const metricsOf = async (id: string) => (await fetch(`http://127.0.0.1:${c.table.nodes.find((n) => n.id === id)!.httpPort}/metrics`)).text();

  it("the copy commands are for nodes only; a name of another domain checked at A is not told to E", async () => {
    await waitFor("A's backup E in step", inStep, 15_000);
    const j = await c.client('J');
    await j.auth.addUser(ann, 'A', 'ann password');
    await j.auth.addUser(bob, 'A', 'bob password');
    await j.auth.addUser(cat, 'A', 'cat password');
    // An app (or anyone on a local socket) cannot ask a backup for its copy: its node asks, only when the home cannot be reached.
    await assert.rejects(j.call('E', 'home.copy.auth', { home: 'A', ...ann, password: 'x' }), { code: 'refused', message: /sent by nodes only/ });
    await assert.rejects(j.call('E', 'home.copy.read', { home: 'A', op: 'dump', ...ann }), { code: 'refused', message: /sent by nodes only/ });
    await assert.rejects(j.call('E', 'home.logins', { home: 'A', events: [['fail', 'ann', 1]] }), { code: 'refused', message: /sent by nodes only/ });
    // R (rice) may ask A about a rice name; A's failure is counted at A, and not told to E (which takes msu's only).
    await assert.rejects((await c.client('R')).call('A', 'auth.check', { domain: 'rice', user: 'rita', password: 'x' }), { code: 'refused' });
    await assert.rejects(j.auth.login(ann, 'wrong'), { code: 'refused' });
    await waitFor("ann's failure told to E", () => failuresOnCopy('ann') === 1, 10_000);
    assert.equal(failuresOnCopy('rita', 'rice'), 0);
    assert.equal(await inStep(), true, 'A stays in step with E');
  });

  it('A killed: its users log in at E, her records are read from E, a new password works and the old does not, failures count across both copies', async () => {
    const j = await c.client('J');
    await waitFor("A's backup E in step", inStep, 15_000);
    assert.equal((await j.records.put(ann, 'grades', { q1: 'A+', q2: 'B' })).status, 'ok');
    assert.equal((await j.records.store(ann, 'answers', { answer: 42 })).status, 'ok');
    // bob's password is reset (both copies, or refused), then A dies.
    const reset = await runCli(['user', 'passwd', 'bob', '--domain', 'msu', '--config', c.config, '--from', 'J'], { input: 'bob new password\n' });
    assert.equal(reset.code, 0, reset.stderr);
    // cat fails 3 times at A; E's copy counts them too. ann's failure of the first test is forgiven by her login.
    assert.deepEqual(await j.auth.login(ann, 'ann password'), { ok: true, home: 'A' });
    for (let i = 0; i < 3; i++) await assert.rejects(j.auth.login(cat, `guess ${i}`), { code: 'refused' });
    await waitFor("A's failed logins on E's copy", () => failuresOnCopy('cat') === 3 && failuresOnCopy('ann') === 0, 10_000);
    await c.kill('A');

    assert.deepEqual(await j.auth.login(ann, 'ann password'), { ok: true, home: 'A', copy: 'E' });
    assert.deepEqual(await j.records.get(ann, 'grades', ['q1', 'q2']), { q1: 'A+', q2: 'B' });
    assert.deepEqual((await j.records.restore(ann, 'answers')).map((h) => h.data), [{ answer: 42 }]);
    assert.deepEqual(await j.auth.login(bob, 'bob new password'), { ok: true, home: 'A', copy: 'E' });
    await assert.rejects(j.auth.login(bob, 'bob password'), { code: 'refused' }, 'the old password is refused at the copy');
    // K never asked where ann lives: E's answer to home.query names A's copy.
    const k = await c.client('K');
    assert.deepEqual(await k.call('K', 'home.find', ann), { home: 'A' });
    assert.deepEqual(await k.auth.login(ann, 'ann password'), { ok: true, home: 'A', copy: 'E' });
    // A name nobody holds is refused as a wrong password, not con_lost (A cannot say it does not
    // hold her, but a con_lost would tell her from A's users, whom E's copy finds).
    await assert.rejects(k.auth.login({ domain: 'msu', user: 'nobody' }, 'x'), { code: 'refused' });
    // cat's 3 failures at A and 2 at E reach the limit of 5: the right password is then refused too.
    for (let i = 0; i < 2; i++) await assert.rejects(j.auth.login(cat, `more ${i}`), { code: 'refused' });
    await assert.rejects(j.auth.login(cat, 'cat password'), { code: 'rate_limited' });
    // Writes wait for A (delayed), as before.
    assert.equal((await j.records.put(ann, 'grades', { q3: 'C' })).status, 'delayed');
    assert.match(await metricsOf('E'), /^cohort_home_copy_answers_total\{(?=[^}]*use="login")[^}]*\} [1-9]\d*$/m);
    assert.match(await metricsOf('E'), /^cohort_home_copy_answers_total\{(?=[^}]*use="read")[^}]*\} [1-9]\d*$/m);
    assert.equal(c.events('E', 'home_copy_answering').length >= 1, true);

    await c.start('A');
    await waitFor('links up again', () => c.linksUp());
    // E tells A the failures it counted on its copy: A's return is no fresh allowance for cat's guesser.
    await waitFor("cat's 5 failures on A", () => failuresOn(join(c.table.dataDir, 'A', 'node.db'), 'cat') === 5, 10_000);
    await assert.rejects(j.auth.login(cat, 'cat password'), { code: 'rate_limited' });
    await waitFor('the delayed write reached A', async () => (await j.records.get(ann, 'grades', ['q3'])).q3 === 'C', 15_000);
    assert.deepEqual(await j.auth.login(bob, 'bob new password'), { ok: true, home: 'A' }, 'A answers again');
  });
});
