import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkHome } from '../../src/admin/doctor.ts';
import type { CohortClient } from '../../src/client/client.ts';
import type { HostTable } from '../../src/config/host-table.ts';

// cohort doctor's home backup row (issue 27), from what home.backup answers.
const table = { nodes: [{ id: 'L', role: 'library', domain: 'd' }, { id: 'M', role: 'library', domain: 'd' }, { id: 'A', role: 'access', domain: 'd' }] } as unknown as HostTable;
const answering = (home: unknown) => ({ call: async (_node: string, cmd: string) => (assert.equal(cmd, 'home.backup'), { home }) }) as unknown as CohortClient;
const status = (over: object) => ({ backup: 'M', inSync: true, acked: 7, lsn: 7, outOfSyncSince: null, why: null, lag: 0, copyRefused: false, ...over });

test("cohort doctor's home backup: in step ok; out of step a warning; a copy refused fails; no backup said; no home no row", async () => {
  assert.deepEqual((await checkHome(answering(status({})), table, 'L')).map((r) => [r.status, r.detail]), [['ok', 'M in step (log 7)'], ['ok', 'not told (a node of an earlier version)']]);
  // Its lease: held ok; not held fails (it takes nothing); no terms (fewer than 3 voters) warns.
  const term = { epoch: 4, leaseHeld: true, leaseLeftMs: 5000, inSyncRecorded: true, votersAnswered: ['A', 'L', 'M'], voters: ['A', 'L', 'M'], heldBy: null };
  assert.deepEqual((await checkHome(answering(status({ term })), table, 'L'))[1], { check: 'home lease', node: 'L', status: 'ok', detail: 'held at epoch 4 (3 of 3 voters answered)' });
  const lost = (await checkHome(answering(status({ term: { ...term, leaseHeld: false, votersAnswered: ['L'], heldBy: { epoch: 5, primary: 'M' } } })), table, 'L'))[1];
  assert.equal(lost.status, 'fail');
  assert.match(lost.detail, /^not held \(1 of 3 voters answered; M holds epoch 5\): L takes no reads or writes of its users$/);
  const none = (await checkHome(answering(status({ term: null })), table, 'L'))[1];
  assert.equal(none.status, 'warn');
  assert.match(none.detail, /fewer than 3 voters in domain d/);
  const behind = await checkHome(answering(status({ inSync: false, acked: 3, outOfSyncSince: Date.now() - 5000, why: 'M cannot be reached (link down)' })), table, 'L');
  assert.equal(behind[0].status, 'warn');
  assert.match(behind[0].detail, /^M out of step for 5 s \(holds 3 of 7\): M cannot be reached \(link down\); writes are on L alone$/);
  const refused = await checkHome(answering(status({ inSync: false, acked: -1, copyRefused: true, outOfSyncSince: Date.now(), why: 'M holds a copy of L from a log this node never had (x, up to 9): this node\'s database was replaced. Not overwritten; ...' })), table, 'L');
  assert.equal(refused[0].status, 'fail');
  const alone = await checkHome(answering(null), table, 'L');
  assert.deepEqual(alone.map((r) => r.status), ['ok'], 'no backup is the host table\'s choice, not a warning raised forever');
  assert.match(alone[0].detail, /no other library node in domain d/);
  assert.deepEqual(await checkHome(answering(null), table, 'A'), []);
});
