import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { CohortClient } from '../../src/client/client.ts';
import { runCli } from '../harness/cli.ts';
import { TestCluster } from '../harness/cluster.ts';
import { FaultProxy } from '../harness/fault-proxy.ts';
import { freePorts } from '../harness/ports.ts';
import { TEST_PG_URL, testSchema } from '../harness/postgres.ts';
import { waitFor } from '../harness/wait.ts';

// Issue 27, "when a user outgrows this": msu's library node A keeps its users and records in
// PostgreSQL (through a fault proxy, so the test can cut it off); E is a library node on SQLite;
// J and K are access nodes. Critical writes to A record their ids in PostgreSQL with their effect.
describe('a home whose users and records are in PostgreSQL', () => {
  let c: TestCluster;
  let proxy: FaultProxy;
  let sql: pg.Client;
  let schema: string;
  let drop: () => Promise<void>;
  const ann = { domain: 'msu', user: 'ann' };
  const q = (text: string, values: unknown[] = []) => sql.query(text.replaceAll('$schema', pg.escapeIdentifier(schema)), values).then((r) => r.rows);

  before(async () => {
    ({ schema, drop } = testSchema());
    const [port] = await freePorts(1);
    const url = new URL(TEST_PG_URL);
    proxy = await FaultProxy.start(port, Number(url.port || 5432));
    url.port = String(port);
    c = await TestCluster.create(
      [
        { id: 'A', domain: 'msu', role: 'library', records: { postgres: { url: url.toString(), schema } } },
        { id: 'E', domain: 'msu', role: 'library' },
        { id: 'J', domain: 'msu', role: 'access' },
        { id: 'K', domain: 'msu', role: 'access' },
      ],
      { critical: { waitMs: 1000, retries: 1, retryDelayMs: 100 }, link: { backoffMinMs: 100, backoffMaxMs: 500 } },
    );
    await c.startAll();
    await waitFor('links up', () => c.linksUp(), 30_000);
    sql = new pg.Client({ connectionString: TEST_PG_URL });
    await sql.connect();
  });
  after(async () => {
    await sql?.end();
    await c?.destroy();
    await proxy?.close();
    await drop?.();
  });

  const outboxTo = async (senders: string[], peer: string) => {
    let depth = 0;
    for (const id of senders) depth += ((await (await c.client(id)).call(id, 'outbox.status', {})) as { peers: { peer: string; depth: number }[] }).peers.find((p) => p.peer === peer)?.depth ?? 0;
    return depth;
  };

  it("keeps her password hash and records in PostgreSQL, none in A's file, and no copy on E", async () => {
    const added = await runCli(['user', 'add', 'ann', '--domain', 'msu', '--home', 'A', '--config', c.config, '--from', 'J'], { input: 'ann password\n' });
    assert.equal(added.code, 0, added.stderr);
    const j = await c.client('J');
    assert.equal((await j.records.put(ann, 'hw1', { q1: 42, q2: { answer: 'x' } })).status, 'ok');
    assert.equal((await j.records.store(ann, 'hw1.submissions', { q1: 41 })).status, 'ok');
    assert.deepEqual(await j.records.get(ann, 'hw1', ['q1', 'q2', 'missing']), { q1: 42, q2: { answer: 'x' } });
    assert.equal((await j.records.del(ann, 'hw1', ['q2'])).status, 'ok');
    assert.deepEqual(await j.records.dump(ann), { hw1: { q1: 42 } });
    assert.deepEqual((await j.records.restore(ann, 'hw1.submissions')).map((h) => h.data), [{ q1: 41 }]);
    assert.match(String((await q('SELECT password FROM $schema.users WHERE name = $1', ['ann']))[0].password), /^scrypt\$/);
    assert.deepEqual(await q('SELECT ns, key, value FROM $schema.records'), [{ ns: 'hw1', key: 'q1', value: '42' }]);
    assert.equal((await q('SELECT count(*)::int AS n FROM $schema.applied'))[0].n, 3, "each write's message id is kept with it (put, store, del)");
    const db = new DatabaseSync(join(c.table.dataDir, 'A', 'node.db'), { readOnly: true });
    try {
      assert.deepEqual(db.prepare("SELECT name FROM sqlite_master WHERE name IN ('users', 'records', 'history')").all(), [], 'not even their tables');
    } finally {
      db.close();
    }
    assert.equal(existsSync(join(c.table.dataDir, 'E', 'replicas', 'A.db')), false, 'E keeps no copy of a home in PostgreSQL');
    const homes = await runCli(['homes', '--json', '--config', c.config, '--from', 'J']);
    assert.equal(homes.code, 0, homes.stderr);
    const a = (JSON.parse(homes.stdout) as { node: string; store: string; home: unknown }[]).find((r) => r.node === 'A')!;
    assert.deepEqual([a.store, a.home], ['postgres', null]);
  });

  it("publishes her resources on A (a home's authors are its users, asked of PostgreSQL); an author nobody holds is no_such_user", async () => {
    const file = join(c.dir, 'notes.txt');
    writeFileSync(file, 'her notes');
    const published = (await (await c.client('J')).call('J', 'res.publish', { url: '/res/msu/ann/notes.txt', file })) as { version: number };
    assert.equal(published.version, 1);
    const j = await c.client('J');
    assert.deepEqual(await j.call('A', 'res.author', { domain: 'msu', user: 'ann' }), { home: true });
    assert.deepEqual(await j.call('A', 'res.author', { domain: 'msu', user: 'nobody' }), { home: false });
    await assert.rejects(j.call('J', 'res.publish', { url: '/res/msu/nobody/notes.txt', file }), { code: 'no_such_user' });
  });

  it('logs her in with her password only, through any access node', async () => {
    assert.equal((await (await c.client('K')).auth.login(ann, 'ann password')).home, 'A');
    await assert.rejects((await c.client('J')).auth.login(ann, 'wrong'), { code: 'refused' });
  });

  it('while PostgreSQL cannot be reached, writes wait in the senders\' outboxes (delayed), and are applied once it can', async () => {
    const j = await c.client('J');
    proxy.refuse(true);
    proxy.cut();
    const put = await j.records.put(ann, 'offline', { k: 'while cut off' });
    assert.equal(put.status, 'delayed');
    await assert.rejects(j.records.get(ann, 'offline', ['k']), { code: 'con_lost' }, 'a read is con_lost, not an empty answer');
    proxy.refuse(false);
    await waitFor('the put delivered', async () => (await outboxTo(['J'], 'A')) === 0, 30_000, 100);
    assert.deepEqual(await j.records.get(ann, 'offline', ['k']), { k: 'while cut off' });
  });

  /** Stores of ann's from J and K by turns every 20 ms, each with its own id, until stopped. */
  function writeLoad(ns: string, clients: CohortClient[]) {
    const answers: { id: string; outcome: string }[] = [];
    let n = 0;
    const inFlight = new Set<Promise<void>>();
    const timer = setInterval(() => {
      const id = `${ns}.${n++}`;
      const p = clients[n % 2].records
        .store(ann, ns, { id })
        .then((r) => r.status, (err: { code?: string }) => `error ${err.code}`)
        .then((outcome) => void answers.push({ id, outcome }))
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    }, 20);
    const count = (outcome: string) => answers.filter((a) => a.outcome === outcome).length;
    const stop = async () => {
      clearInterval(timer);
      await Promise.all([...inFlight]);
      await waitFor('the outboxes for A drained', async () => (await outboxTo(['J', 'K'], 'A')) === 0, 60_000, 100);
    };
    return { answers, count, stop };
  }

  /** Every write answered ok or delayed is in PostgreSQL exactly once, and her history has no gap. */
  async function checkExactlyOnce(ns: string, answers: { id: string; outcome: string }[]): Promise<void> {
    const counts = new Map<string, number>();
    for (const row of await q('SELECT data FROM $schema.history WHERE "user" = $1 AND ns = $2', ['ann', ns])) {
      const id = (JSON.parse(String(row.data)) as { id: string }).id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    const acknowledged = answers.filter((a) => a.outcome === 'ok' || a.outcome === 'delayed');
    const lost = acknowledged.filter((a) => !counts.has(a.id)).map((a) => a.id);
    const twice = [...counts].filter(([, k]) => k > 1).map(([id]) => id);
    assert.deepEqual({ lost, twice }, { lost: [], twice: [] }, `outcomes: ${JSON.stringify(Object.groupBy(answers, (a) => a.outcome), (k, v) => (Array.isArray(v) ? v.length : v))}`);
    const seqs = (await q('SELECT seq FROM $schema.history WHERE "user" = $1 AND ns = $2 ORDER BY seq', ['ann', ns])).map((r) => Number(r.seq));
    assert.deepEqual(seqs, seqs.map((_, i) => i + 1), 'her history numbered without a gap');
  }

  // A dies (SIGKILL) right after a write committed in PostgreSQL, before its answer went back: its
  // sender sends it again once A is back, and PostgreSQL's record of the id answers it.
  it('applies every write answered ok or delayed exactly once when A dies between a commit and its answer, under writes from two access nodes', async () => {
    const load = writeLoad('fault', [await c.client('J'), await c.client('K')]);
    await waitFor('some writes answered ok', () => load.count('ok') >= 20, 30_000, 20);
    await c.kill('A');
    await c.start('A', { COHORT_CRASH_POINTS: 'applied:0.1' }, { mayDie: true });
    assert.ok(await c.exited('A', 30_000), 'A died at a crash point');
    assert.match(c.log('A'), /crash point applied: killing myself/);
    await waitFor('some writes delayed while A is down', () => load.count('delayed') >= 5, 30_000, 20);
    await c.start('A');
    await waitFor('writes answered ok again', () => load.answers.slice(-5).every((a) => a.outcome === 'ok'), 30_000, 50);
    await load.stop();
    await checkExactlyOnce('fault', load.answers);
  });

  // PostgreSQL goes away under load (its connections reset in the middle of batches, new ones
  // refused), then comes back: the runs that failed are sent again, those that committed are not
  // applied twice.
  it('applies every write answered ok or delayed exactly once when PostgreSQL is cut off under writes, then back', async () => {
    const load = writeLoad('cut', [await c.client('J'), await c.client('K')]);
    await waitFor('some writes answered ok', () => load.count('ok') >= 20, 30_000, 20);
    proxy.refuse(true);
    proxy.cut();
    await waitFor('some writes delayed while PostgreSQL is away', () => load.count('delayed') >= 5, 30_000, 20);
    proxy.refuse(false);
    await waitFor('writes answered ok again', () => load.answers.slice(-5).every((a) => a.outcome === 'ok'), 30_000, 50);
    // Once more, cutting its connections while batches are under way, without refusing new ones.
    for (let i = 0; i < 5; i++) {
      proxy.cut();
      await new Promise((r) => setTimeout(r, 100)); // a cut every 100 ms: the span between is what is tested
    }
    await waitFor('writes answered ok again', () => load.answers.slice(-5).every((a) => a.outcome === 'ok'), 30_000, 50);
    await load.stop();
    assert.ok(load.count('ok') > 20 && load.count('delayed') >= 5);
    await checkExactlyOnce('cut', load.answers);
  });
});
