import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CohortClient } from '../../src/client/client.ts';
import { runCli } from '../harness/cli.ts';
import type { TestCluster } from '../harness/cluster.ts';
import { homePairCluster, sqlRows } from '../harness/home-pair.ts';
import { waitFor } from '../harness/wait.ts';

// Issue 28, `cohort user move`: msu's library nodes A and E back each other up; access nodes J
// and K write to a user as critical messages, without pause, while she moves from A to E. Every
// write answered ok or delayed must be on her new home once the outboxes drain, once each, and
// each sender's last write to a key must be the value that key ends with (their order kept).
describe('a user moved between library nodes', () => {
  let c: TestCluster;

  before(async () => {
    c = await homePairCluster([
      { id: 'J', domain: 'msu', role: 'access' },
      { id: 'K', domain: 'msu', role: 'access' },
    ]);
  });
  after(() => c?.destroy());

  const rows = sqlRows;
  const nodeDb = (id: string) => join(c.table.dataDir, id, 'node.db');
  const copyDb = (backup: string, home: string) => join(c.table.dataDir, backup, 'replicas', `${home}.db`);
  const move = (user: string, to: string, from = 'J') => runCli(['user', 'move', user, '--domain', 'msu', '--to', to, '--config', c.config, '--from', from, '--json']);

  /** Writes to `user` from one access node until told to stop: each a put of its own key and of the sender's last key, and a history entry. */
  function writer(client: CohortClient, node: string, user: string) {
    const who = { domain: 'msu', user };
    const acked: number[] = [];
    const failed: string[] = [];
    let stop = false;
    const done = (async () => {
      for (let i = 1; !stop; i++) {
        try {
          const put = await client.records.put(who, 'w', { [`${node}-${i}`]: i, [`last-${node}`]: i });
          const stored = await client.records.store(who, `h-${node}`, { i });
          if (put.status && stored.status) acked.push(i);
        } catch (err) {
          failed.push(`${i}: ${(err as Error).message}`);
        }
      }
    })();
    return {
      acked,
      failed,
      stop: async () => {
        stop = true;
        await done;
      },
    };
  }

  /** Everything each writer had answered is on `home` (once each), and each one's last key holds its last write. */
  function allThere(home: string, user: string, writers: Record<string, { acked: number[] }>): boolean {
    for (const [node, w] of Object.entries(writers)) {
      const keys = new Set(rows(nodeDb(home), `SELECT key FROM records WHERE user = '${user}' AND ns = 'w' AND key LIKE '${node}-%'`).map((r) => String(r.key)));
      if (w.acked.some((i) => !keys.has(`${node}-${i}`))) return false;
      const history = rows(nodeDb(home), `SELECT data FROM history WHERE user = '${user}' AND ns = 'h-${node}' ORDER BY seq`).map((r) => JSON.parse(String(r.data)).i as number);
      if (history.length < w.acked.length) return false;
      assert.deepEqual(history, [...new Set(history)], `${node}'s history entries are each there once`);
      assert.deepEqual(history, [...history].sort((a, b) => a - b), `${node}'s history entries are in its order`);
      const last = rows(nodeDb(home), `SELECT value FROM records WHERE user = '${user}' AND ns = 'w' AND key = 'last-${node}'`)[0]?.value;
      if (Number(last) !== Math.max(...w.acked)) return false;
    }
    return true;
  }

  it('under writes from two access nodes, no write is lost, none applied twice, and each sender keeps its order; she then lives on E', async () => {
    const j = await c.client('J');
    const k = await c.client('K');
    await j.auth.addUser({ domain: 'msu', user: 'ann' }, 'A', 'ann password');
    const writers = { J: writer(j, 'J', 'ann'), K: writer(k, 'K', 'ann') };
    try {
      await waitFor('writes flowing', () => writers.J.acked.length > 20 && writers.K.acked.length > 20);
      const moved = await move('ann', 'E');
      assert.equal(moved.code, 0, moved.stderr);
      const outcome = JSON.parse(moved.stdout) as { moved: boolean; from: string; to: string; rows: number };
      assert.deepEqual([outcome.moved, outcome.from, outcome.to], [true, 'A', 'E']);
      assert.ok(outcome.rows > 40, `${outcome.rows} rows moved`);
      const atMove = { J: writers.J.acked.length, K: writers.K.acked.length };
      await waitFor('writes flowing after the move', () => writers.J.acked.length > atMove.J + 20 && writers.K.acked.length > atMove.K + 20, 20_000);
    } finally {
      await Promise.all([writers.J.stop(), writers.K.stop()]);
    }
    assert.deepEqual([writers.J.failed, writers.K.failed], [[], []], 'no write was refused');
    await waitFor('every answered write on E', () => allThere('E', 'ann', writers), 20_000);
    // Nothing of hers stays on A but where she went, and A's backup copy says the same; E's backup (A) holds her.
    // (A's copy on E is checked once it holds A's log: a backup out of step a moment gets it a little later.)
    const goneFrom = (file: string) =>
      rows(file, "SELECT count(*) AS n FROM records WHERE user = 'ann'")[0].n === 0 &&
      rows(file, "SELECT count(*) AS n FROM users WHERE name = 'ann'")[0].n === 0 &&
      JSON.stringify(rows(file, "SELECT to_node, state FROM moved_users WHERE user = 'ann'")) === JSON.stringify([{ to_node: 'E', state: 'gone' }]);
    assert.ok(goneFrom(nodeDb('A')), 'nothing of hers on A but where she went');
    await waitFor("A's copy on E saying the same", () => goneFrom(copyDb('E', 'A')), 10_000);
    await waitFor("E's backup holds her", () => rows(copyDb('A', 'E'), "SELECT count(*) AS n FROM users WHERE name = 'ann'")[0].n === 1);
    // Every node finds her on E, and she logs in there; a read from a node that still names A follows her.
    assert.equal(await j.auth.home({ domain: 'msu', user: 'ann' }), 'E');
    assert.deepEqual(await k.auth.login({ domain: 'msu', user: 'ann' }, 'ann password'), { ok: true, home: 'E' });
    assert.deepEqual(await k.records.get({ domain: 'msu', user: 'ann' }, 'w', ['J-1', 'K-1']), { 'J-1': 1, 'K-1': 1 });
    // Moving her again to where she is, or from A, is refused with the reason.
    const again = await move('ann', 'E');
    assert.equal(again.code, 1);
    assert.match(again.stderr, /must be a library node|another library node|lives on E already/);
  });

  it('a move whose new home is down waits with her writes, and finishes by itself once it is back', async () => {
    const j = await c.client('J');
    await j.auth.addUser({ domain: 'msu', user: 'bob' }, 'A', 'bob password');
    const first = await j.records.put({ domain: 'msu', user: 'bob' }, 'w', { before: 1 });
    assert.equal(first.status, 'ok');
    await c.kill('E');
    const moved = await move('bob', 'E');
    assert.equal(moved.code, 1);
    assert.match(moved.stderr, /finishes the move by itself/);
    // Her writes wait meanwhile (delayed, kept by their sender), her reads are still answered on A.
    // (each waits for its ack critical.waitMs, 2 s, then hears 'delayed').
    const w = writer(j, 'J', 'bob');
    try {
      await waitFor('writes taken while E is down', () => w.acked.length >= 2, 20_000);
      assert.deepEqual(await j.records.get({ domain: 'msu', user: 'bob' }, 'w', ['before']), { before: 1 });
      await c.start('E');
      await waitFor('bob on E', () => rows(nodeDb('E'), "SELECT count(*) AS n FROM users WHERE name = 'bob'")[0].n === 1, 30_000);
      const atMove = w.acked.length;
      await waitFor('writes after', () => w.acked.length >= atMove + 10, 20_000);
    } finally {
      await w.stop();
    }
    assert.deepEqual(w.failed, []);
    await waitFor('every answered write on E', () => allThere('E', 'bob', { J: w }), 30_000);
    assert.equal(await j.auth.home({ domain: 'msu', user: 'bob' }), 'E');
  });

  it('bad moves change nothing: an unknown node, an access node, a user who does not exist', async () => {
    const bad = await runCli(['user', 'move', 'ann', '--domain', 'msu', '--to', 'J', '--config', c.config, '--from', 'J']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--to must be a library node of domain 'msu'/);
    const nobody = await move('nobody', 'A');
    assert.equal(nobody.code, 1);
    assert.match(nobody.stderr, /no_such_user|knows nobody/);
  });
});
