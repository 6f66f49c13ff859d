import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { CohortClient } from '../../src/client/client.ts';
import { runCli } from '../harness/cli.ts';
import { TestCluster } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait.ts';

// msu: library nodes A and E, access node J. rice: library node R, access node C.
// rice trusts msu (msu nodes may use rice users' records); msu does not trust rice.
describe('users and records on their home library nodes', () => {
  let cluster: TestCluster;
  const alice = { domain: 'msu', user: 'alice' };
  const carol = { domain: 'rice', user: 'carol' };
  const client = (id: string): Promise<CohortClient> => cluster.client(id);

  before(async () => {
    cluster = await TestCluster.create(
      [
        { id: 'A', domain: 'msu', role: 'library' },
        { id: 'E', domain: 'msu', role: 'library' },
        { id: 'J', domain: 'msu', role: 'access' },
        { id: 'R', domain: 'rice', role: 'library' },
        { id: 'C', domain: 'rice', role: 'access' },
      ],
      // requestTimeoutMs: sixteen adds at once hash sixteen passwords; with the load average at 20
      // here one waited past the default 10 s at J's link to A, an add that was still under way
      // counted as lost. A node that is down answers con_lost at once, whatever this is.
      { trust: { rice: ['msu'] }, critical: { waitMs: 500, retries: 1, retryDelayMs: 100 }, link: { backoffMinMs: 100, backoffMaxMs: 1000, requestTimeoutMs: 60_000 } },
    );
    await cluster.startAll();
    await waitFor('links up', () => cluster.linksUp());
  });
  after(() => cluster.destroy());

  function rowsOn(node: string, sql: string, ...params: string[]): Record<string, unknown>[] {
    const db = new DatabaseSync(join(cluster.table.dataDir, node, 'node.db'), { readOnly: true });
    try {
      return db.prepare(sql).all(...params).map((r) => ({ ...r }));
    } finally {
      db.close();
    }
  }

  it('creates users on their home node, once per domain; the password comes on stdin', async () => {
    const created = await runCli(['user', 'add', 'alice', '--domain', 'msu', '--home', 'E', '--config', cluster.config, '--from', 'J'], { input: 'wonderland\n' });
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /created alice@msu on E/);
    const again = await runCli(['user', 'add', 'alice', '--domain', 'msu', '--home', 'A', '--config', cluster.config, '--from', 'J'], { input: 'x\n' });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /refused: alice@msu exists already \(home E\)/);
    const noPassword = await runCli(['user', 'add', 'zed', '--domain', 'msu', '--home', 'A', '--config', cluster.config], { input: '' });
    assert.equal(noPassword.code, 2);
    assert.match(noPassword.stderr, /no password given/);
    await (await client('R')).auth.addUser(carol, 'R', 'rice-pw');
    assert.deepEqual(rowsOn('E', 'SELECT domain, name FROM users'), [{ domain: 'msu', name: 'alice' }]);
    assert.deepEqual(rowsOn('A', 'SELECT domain, name FROM users'), []);
    assert.match(String(rowsOn('E', 'SELECT password FROM users')[0].password), /^scrypt\$32768\$8\$1\$/);
    await assert.rejects((await client('J')).auth.addUser({ domain: 'msu', user: 'bob' }, 'J', 'x'), { code: 'bad_args', message: /home must be a library node of domain 'msu' \(A, E\)/ });
  });

  it('a record written through access node J lands on home node E', async () => {
    const j = await client('J');
    const put = await j.records.put(alice, 'hw1', { q1: 42, q2: { answer: 'x', tries: 2 } });
    assert.equal(put.status, 'ok');
    assert.deepEqual(rowsOn('E', 'SELECT ns, key, value FROM records ORDER BY key'), [
      { ns: 'hw1', key: 'q1', value: '42' },
      { ns: 'hw1', key: 'q2', value: '{"answer":"x","tries":2}' },
    ]);
    for (const other of ['A', 'J', 'R', 'C']) assert.deepEqual(rowsOn(other, 'SELECT * FROM records'), [], `nothing on ${other}`);
    assert.deepEqual(await j.records.get(alice, 'hw1', ['q1', 'missing']), { q1: 42 });
    assert.deepEqual(await j.records.keys(alice, 'hw1'), ['q1', 'q2']);
    assert.equal((await j.records.del(alice, 'hw1', ['q2'])).status, 'ok');
    assert.deepEqual(await j.records.dump(alice), { hw1: { q1: 42 } });
    assert.equal((await j.records.store(alice, 'hw1.submissions', { q1: 41 })).status, 'ok');
    assert.equal((await j.records.store(alice, 'hw1.submissions', { q1: 42 })).status, 'ok');
    assert.deepEqual((await j.records.restore(alice, 'hw1.submissions')).map((h) => [h.seq, h.data]), [[1, { q1: 41 }], [2, { q1: 42 }]]);
  });

  it("written while E is down, the record is there after E restarts; reads are answered from E's backup A meanwhile, which has not got it yet", async () => {
    const j = await client('J');
    await cluster.kill('E');
    const put = await j.records.put(alice, 'hw2', { q1: 'late' });
    assert.equal(put.status, 'delayed');
    const stored = await j.records.store(alice, 'hw2.submissions', { q1: 'late' });
    assert.equal(stored.status, 'delayed');
    assert.deepEqual(await j.records.get(alice, 'hw2', ['q1']), {}, 'the write waits in J\'s outbox for E');
    assert.deepEqual(await j.records.get(alice, 'hw1', ['q1']), { q1: 42 }, 'from A\'s copy of E');
    await cluster.start('E');
    await waitFor('the delayed write applied on E', async () => (await j.records.get(alice, 'hw2', ['q1'])).q1 === 'late');
    assert.deepEqual((await j.records.restore(alice, 'hw2.submissions')).map((h) => h.data), [{ q1: 'late' }]);
  });

  it('login on any node checks the password at her home node; failures do not tell whether she exists', async () => {
    for (const node of ['J', 'A', 'E']) assert.deepEqual(await (await client(node)).auth.login(alice, 'wonderland'), { ok: true, home: 'E' });
    const j = await client('J');
    await assert.rejects(j.auth.login(alice, 'wrong'), { code: 'refused', message: 'bad user name or password' });
    await assert.rejects(j.auth.login({ domain: 'msu', user: 'nobody' }, 'wrong'), { code: 'refused', message: 'bad user name or password' });
    await cluster.kill('E');
    assert.deepEqual(await j.auth.login(alice, 'wonderland'), { ok: true, home: 'E', copy: 'A' }, "with E down, E's backup A checks");
    await assert.rejects(j.auth.login(alice, 'wrong'), { code: 'refused', message: 'bad user name or password' });
    await cluster.kill('A');
    await assert.rejects(j.auth.login(alice, 'wonderland'), { code: 'con_lost', message: /E: .*its backup A: / }, 'both copies down');
    await cluster.start('A');
    await cluster.start('E');
    await waitFor('links up', () => cluster.linksUp());
    assert.equal((await j.auth.login(alice, 'wonderland')).ok, true);
  });

  it('repeated failures are rate-limited per user, even for the right password afterwards', async () => {
    const j = await client('J');
    const mallory = { domain: 'rice', user: 'carol' };
    for (let i = 0; i < 5; i++) await assert.rejects(j.auth.login(mallory, `guess${i}`), { code: 'refused' });
    await assert.rejects(j.auth.login(mallory, 'rice-pw'), { code: 'rate_limited', message: /try again in \d+ s/ });
    assert.equal((await j.auth.login(alice, 'wonderland')).ok, true, 'other users are not affected');
    await waitFor("R's login_failed line", () => /"event":"login_failed","domain":"rice","user":"carol","from":"J"/.test(cluster.log('R'))); // a node writes its log asynchronously: the line may come after the reply
    // Restarting her home node gives the guesser no fresh allowance.
    await cluster.kill('R');
    await cluster.start('R');
    await waitFor('links up', () => cluster.linksUp());
    await assert.rejects(j.auth.login(mallory, 'rice-pw'), { code: 'rate_limited' });
  });

  it('an unknown name is rate-limited like a real one: neither answers nor the limit tell which names exist', async () => {
    const j = await client('J');
    const answers = async (user: string) => {
      const codes: string[] = [];
      for (let i = 0; i < 6; i++) codes.push(await j.auth.login({ domain: 'rice', user }, `guess${i}`).then(() => 'ok', (err: { code: string }) => err.code));
      return codes;
    };
    await (await client('R')).auth.addUser({ domain: 'rice', user: 'dave' }, 'R', 'dave-pw');
    const real = await answers('dave');
    assert.deepEqual(real, ['refused', 'refused', 'refused', 'refused', 'refused', 'rate_limited']);
    assert.deepEqual(await answers('nobody-at-all'), real);
  });

  it('20 concurrent wrong passwords for one user: at most 5 (the limit) are evaluated, the rest are rate_limited', async () => {
    const dora = { domain: 'msu', user: 'dora' };
    await (await client('A')).auth.addUser(dora, 'A', 'explorer');
    const j = await client('J');
    const outcomes = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => j.auth.login(dora, `guess${i}`)));
    const codes = outcomes.map((o) => (o.status === 'rejected' ? String(o.reason.code) : 'ok'));
    const evaluated = codes.filter((c) => c === 'refused').length;
    assert.equal(codes.filter((c) => c === 'rate_limited').length, 20 - evaluated, `answers: ${codes.join(' ')}`);
    assert.ok(evaluated >= 1 && evaluated <= 5, `${evaluated} of 20 concurrent wrong passwords were evaluated (limit 5); answers: ${codes.join(' ')}`);
    // The home node logs every password it evaluated and found wrong: no more than the limit.
    const failedLines = () => cluster.events('A', 'login_failed').filter((e) => e.domain === 'msu' && e.user === 'dora').length;
    await waitFor('a login_failed line for each refused answer', () => failedLines() >= evaluated);
    assert.equal(failedLines(), evaluated);
    // Even her right password waits out the window now.
    await assert.rejects(j.auth.login(dora, 'explorer'), { code: 'rate_limited' });
  });

  it('a right password after 3 concurrent failures (or alongside 4 in flight) still logs in, and clears the count', async () => {
    const eve = { domain: 'msu', user: 'eve' };
    await (await client('A')).auth.addUser(eve, 'A', 'apple');
    const j = await client('J');
    const wrong = (n: number) => Promise.allSettled(Array.from({ length: n }, (_, i) => j.auth.login(eve, `nope${i}`)));
    for (const o of await wrong(3)) assert.equal(o.status === 'rejected' && o.reason.code, 'refused');
    assert.deepEqual(await j.auth.login(eve, 'apple'), { ok: true, home: 'A' });
    // 4 wrong ones in flight with the right one: 5 attempts, within the allowance.
    const [right, ...rest] = await Promise.allSettled([j.auth.login(eve, 'apple'), ...Array.from({ length: 4 }, (_, i) => j.auth.login(eve, `nope${i}`))]);
    assert.equal(right.status, 'fulfilled', right.status === 'rejected' ? String(right.reason) : '');
    for (const o of rest) assert.equal(o.status === 'rejected' && o.reason.code, 'refused');
    // Her success cleared what had failed before it; whatever failed after it still counts.
    assert.deepEqual(await j.auth.login(eve, 'apple'), { ok: true, home: 'A' });
  });

  it('a cross-domain read is refused unless the host table declares trust', async () => {
    // rice trusts msu: an msu node may use carol's records.
    const j = await client('J');
    assert.equal((await j.records.put(carol, 'profile', { lang: 'en' })).status, 'ok');
    assert.deepEqual(await j.records.get(carol, 'profile', ['lang']), { lang: 'en' });
    // msu does not trust rice: C may not read alice's records, nor write them.
    const c = await client('C');
    await assert.rejects(c.records.get(alice, 'hw1', ['q1']), { code: 'refused', message: /domain 'msu' does not share records with node C of domain 'rice'/ });
    await assert.rejects(c.records.put(alice, 'hw1', { q1: 0 }), { code: 'refused' });
    await assert.rejects(c.auth.login(alice, 'wonderland'), { code: 'refused' });
    // A record command sent straight to her home by a node of another domain: refused there, dead-lettered here.
    await assert.rejects(c.critical('E', 'rec.put', { ...alice, ns: 'hw1', values: { q1: 0 } }), { code: 'refused' });
    await assert.rejects(c.call('E', 'rec.get', { ...alice, ns: 'hw1', keys: ['q1'] }), { code: 'refused' });
    // A node writes its log asynchronously: the line may come after the reply.
    await waitFor("C's dead letter in its log", () => /"event":"critical_dead_letter".*"cmd":"rec.put","code":"refused"/.test(cluster.log('C')));
    await waitFor("E's refusal in its log", () => /"event":"domain_refused","from":"C","fromDomain":"rice","domain":"msu","what":"rec.put"/.test(cluster.log('E')));
    assert.deepEqual(await j.records.get(alice, 'hw1', ['q1']), { q1: 42 }, 'nothing changed');
  });

  it('the home lookup survives one library node down; no_such_user when no library node knows her', async () => {
    await (await client('E')).auth.addUser({ domain: 'msu', user: 'erin' }, 'E', 'pw');
    await cluster.kill('A');
    const j = await client('J');
    assert.equal(await j.auth.home({ domain: 'msu', user: 'erin' }), 'E');
    // Not even A's backup E: its copy of A may be behind (a user made while it was out of step).
    await assert.rejects(j.auth.home({ domain: 'msu', user: 'nobody' }), { code: 'con_lost', message: /A: / }, 'with A down nobody can say she does not exist');
    // A login tells nothing of it: a name nobody holds is checked as one, as when every node answers.
    await assert.rejects(j.auth.login({ domain: 'msu', user: 'nobody' }, 'x'), { code: 'refused', message: 'bad user name or password' });
    await cluster.start('A');
    await waitFor('links up', () => cluster.linksUp());
    await assert.rejects(j.auth.home({ domain: 'msu', user: 'nobody' }), { code: 'no_such_user' });
  });

  it('one name added at once on two library nodes (through two access points) exists on at most one; claims do not linger', async () => {
    // Sixteen adds at once, each hashing a password on its home: on a busy 2-core machine one
    // took longer than the harness client's 5 s, and a reply that comes late is not an add that
    // failed (it was counted as lost, and the name was on A). These clients wait a minute.
    const [j, e] = await Promise.all(['J', 'E'].map((id) => CohortClient.forNode(cluster.table, id, { timeoutMs: 60_000 })));
    try {
      const names = Array.from({ length: 8 }, (_, i) => `twin${i}`);
      const outcomes = await Promise.all(names.map((user) => Promise.allSettled([
        j.auth.addUser({ domain: 'msu', user }, 'A', 'pw-a'),
        e.auth.addUser({ domain: 'msu', user }, 'E', 'pw-e'),
      ])));
      for (const [i, user] of names.entries()) {
        const won = outcomes[i].filter((o) => o.status === 'fulfilled').length;
        const homes = ['A', 'E'].filter((id) => rowsOn(id, 'SELECT name FROM users WHERE domain = ? AND name = ?', 'msu', user).length > 0);
        assert.ok(won <= 1 && homes.length === won, `${user}: ${won} adds succeeded, stored on [${homes.join(', ')}]`);
        for (const o of outcomes[i]) if (o.status === 'rejected') assert.match(String(o.reason.message), /exists already|being created on/);
        // A name whose add lost both ways is free again at once.
        if (won === 0) assert.equal((await j.auth.addUser({ domain: 'msu', user }, 'A', 'pw-a')).home, 'A');
      }
    } finally {
      j.close();
      e.close();
    }
    // The unclaims go out after the answers, one hop each: on a loaded machine that is seconds.
    await waitFor('no claim of a finished add to linger', () => rowsOn('A', 'SELECT * FROM user_claims').length + rowsOn('E', 'SELECT * FROM user_claims').length === 0, 30_000, 100);
  });

  it('bad input: names with /, .., NUL or 10 KB; oversized keys and values; nothing stored', async () => {
    const j = await client('J');
    for (const user of ['a/b', '..', 'a..b', 'nul\u0000x', 'x'.repeat(10_240)]) {
      await assert.rejects(j.auth.addUser({ domain: 'msu', user }, 'E', 'pw'), { code: 'bad_args' }, JSON.stringify(user.slice(0, 20)));
      await assert.rejects(j.records.get({ domain: 'msu', user }, 'ns', ['k']), { code: 'bad_args' });
    }
    await assert.rejects(j.records.put(alice, '../etc', { k: 1 }), { code: 'bad_args' });
    await assert.rejects(j.records.put(alice, 'big', { ['k'.repeat(300)]: 1 }), { code: 'bad_args', message: /keys are 1-256 bytes/ });
    await assert.rejects(j.records.put(alice, 'big', { k: 'v'.repeat(70_000) }), { code: 'bad_args', message: /values are at most 65536 bytes/ });
    await assert.rejects(j.records.store(alice, 'big', 'v'.repeat(70_000)), { code: 'bad_args' });
    assert.deepEqual(await j.records.dump(alice, 'big'), {});
    assert.equal(rowsOn('E', "SELECT COUNT(*) AS n FROM users WHERE name LIKE '%/%' OR name LIKE '%..%'")[0].n, 0);
  });
});
