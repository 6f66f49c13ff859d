import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ApplyBatches, MAX_BATCH } from '../../src/sessions/apply-batches.ts';
import { MAX_SESSION_BYTES } from '../../src/sessions/session-state.ts';
import { SessionStore } from '../../src/sessions/session-store.ts';
import { openSessionsDatabase } from '../../src/store/database.ts';

// How session writes are gathered: to a peer, one batch in flight and the writes that arrive
// meanwhile in the next; to this node's own copies, one transaction a turn of the event loop.

const write = (n: number) => ({ at: 1_000 + n, set: { n } });
const turn = () => new Promise((resolve) => setImmediate(resolve));

/** A peer that answers each session.apply batch when the test says so. */
function slowPeer() {
  const batches: { writes: { id: string }[]; answer: (outcomes: unknown) => void; fail: (err: Error) => void }[] = [];
  const call = (_to: string, cmd: string, args: unknown) => {
    assert.equal(cmd, 'session.apply');
    return new Promise<unknown>((resolve, reject) => {
      const { writes } = args as { writes: { id: string }[] };
      batches.push({ writes, answer: (outcomes) => resolve({ outcomes }), fail: reject });
    });
  };
  return { batches, call };
}

test('writes to a peer: one batch in flight; those that arrive meanwhile leave together when it is answered', async () => {
  const peer = slowPeer();
  const batches = new ApplyBatches(peer.call, 16 * 1024 * 1024);
  const first = batches.apply('B', 'sid-0000000000000000', write(0));
  await turn();
  assert.equal(peer.batches.length, 1, 'a write to an idle peer leaves at the end of the turn');
  const later = Array.from({ length: 5 }, (_, i) => batches.apply('B', `sid-${i}000000000000000`, write(i + 1)));
  await turn();
  await turn();
  assert.equal(peer.batches.length, 1, 'nothing more is sent while the first batch is out');
  peer.batches[0].answer([null]);
  await first;
  await turn();
  assert.equal(peer.batches.length, 2);
  assert.equal(peer.batches[1].writes.length, 5, 'the writes that waited leave as one batch');
  peer.batches[1].answer([null, { code: 'too_large', message: 'over' }, null, null, null]);
  const outcomes = await Promise.allSettled(later);
  assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled'], 'each write hears its own outcome');
  assert.equal(((outcomes[1] as PromiseRejectedResult).reason as { code: string }).code, 'too_large');
});

test('writes to a peer: a failed batch fails its writes, and the next batch still leaves; a full batch does not wait', async () => {
  const peer = slowPeer();
  const batches = new ApplyBatches(peer.call, 16 * 1024 * 1024);
  const first = batches.apply('B', 'sid-0000000000000000', write(0));
  await turn();
  const waiting = batches.apply('B', 'sid-1000000000000000', write(1));
  peer.batches[0].fail(new Error('link down'));
  await assert.rejects(first, /link down/);
  await turn();
  assert.equal(peer.batches.length, 2, 'the write that waited is sent after the failure');
  peer.batches[1].answer([null]);
  await waiting;
  // A batch that holds MAX_BATCH writes leaves at once, even with one in flight.
  const blocker = batches.apply('B', 'sid-2000000000000000', write(2));
  await turn();
  const many = Array.from({ length: MAX_BATCH }, (_, i) => batches.apply('B', `sid-${String(i).padStart(16, '0')}`, write(i)));
  assert.equal(peer.batches.length, 4, 'a full batch is sent without waiting');
  assert.equal(peer.batches[3].writes.length, MAX_BATCH);
  peer.batches[2].answer([null]);
  peer.batches[3].answer(Array.from({ length: MAX_BATCH }, () => null));
  await Promise.all([blocker, ...many]);
  // Batches to different peers do not wait on each other.
  const toC = batches.apply('C', 'sid-3000000000000000', write(3));
  const toB = batches.apply('B', 'sid-3000000000000000', write(3));
  await turn();
  assert.deepEqual(peer.batches.slice(4).map((b) => b.writes.length), [1, 1]);
  for (const b of peer.batches.slice(4)) b.answer([null]);
  await Promise.all([toC, toB]);
});

test("writes to this node's copies: those of one turn commit in one transaction, each with its own outcome", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cohort-group-commit-'));
  const db = openSessionsDatabase(dir);
  try {
    let transactions = 0;
    const exec = db.exec.bind(db);
    db.exec = (sql: string) => {
      if (/^BEGIN/.test(sql)) transactions++;
      return exec(sql);
    };
    const store = new SessionStore(db);
    const big = 'x'.repeat(MAX_SESSION_BYTES);
    const ids = Array.from({ length: 20 }, (_, i) => `sid-${String(i).padStart(16, '0')}`);
    const outcomes = await Promise.allSettled(ids.map((id, i) => store.commit(id, i === 7 ? { at: 5_000, set: { big } } : { ...write(i), expires: Date.now() + 60_000 })));
    assert.equal(transactions, 1, '20 writes in one turn: one transaction');
    assert.deepEqual(outcomes.map((o, i) => (o.status === 'rejected' ? i : -1)).filter((i) => i >= 0), [7], 'the oversized write alone is refused');
    assert.equal(((outcomes[7] as PromiseRejectedResult).reason as { code: string }).code, 'too_large');
    for (const [i, id] of ids.entries()) assert.deepEqual(store.state(id).fields.n?.[1], i === 7 ? undefined : i, id);
    await store.commit(ids[0], write(100));
    assert.equal(transactions, 2, 'a later turn: a transaction of its own');
    // A commit that fails (here: the database is gone) fails every write of its turn.
    db.close();
    const failed = await Promise.allSettled([store.commit(ids[1], write(101)), store.commit(ids[2], write(102))]);
    assert.deepEqual(failed.map((o) => o.status), ['rejected', 'rejected']);
  } finally {
    if (db.isOpen) db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
