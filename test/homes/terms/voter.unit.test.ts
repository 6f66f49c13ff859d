import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { TermStore } from '../../../src/homes/terms/term-store.ts';
import { Voter } from '../../../src/homes/terms/voter.ts';

// One voter's rules (issue 27) on a real terms.db, with a clock the test moves: H is the home,
// B its backup, X a node of neither.
const root = mkdtempSync(join(tmpdir(), 'cohort-voter-'));
after(() => rmSync(root, { recursive: true, force: true }));
const LEASE = 8000;
const PAIR = ['H', 'B'];
let n = 0;

function voter(dir = join(root, String(n++)), clock = { t: 1000 }) {
  mkdirSync(dir, { recursive: true });
  const store = new TermStore(dir);
  const v = new Voter({ store, leaseMs: LEASE, now: () => clock.t });
  after(() => store.close());
  return { v, store, clock, dir };
}

test('the home starts epoch after epoch at once; its backup gets one only after a whole lease without renewals, and only when it was in step', () => {
  const { v, clock } = voter();
  assert.equal(v.claim('H', 'H', { epoch: 1, inSync: false }, PAIR).ok, true, 'the primary it holds (the home, before anything) is granted at once');
  assert.equal(v.renew('H', 'H', { epoch: 1, version: 1, inSync: false }).ok, true);
  clock.t += LEASE + 1;
  const notInStep = v.claim('B', 'H', { epoch: 2, inSync: true }, PAIR);
  assert.equal(notInStep.ok, false, 'its backup was not in step: it may lack writes H answered alone');
  assert.match(notInStep.why!, /not in step/);
  assert.equal(v.renew('H', 'H', { epoch: 1, version: 2, inSync: true }).ok, true);
  clock.t += LEASE - 1;
  const early = v.claim('B', 'H', { epoch: 2, inSync: true }, PAIR);
  assert.equal(early.ok, false, 'one millisecond before the lease has run out here');
  assert.match(early.why!, /lease runs 1 ms more/);
  clock.t += 1;
  const granted = v.claim('B', 'H', { epoch: 2, inSync: false }, PAIR);
  assert.deepEqual(granted, { ok: true, epoch: 2, primary: 'B', inSync: true, version: 0 }, 'granted; nothing is acknowledged at epoch 2 yet, so its partner is in step');
  const old = v.renew('H', 'H', { epoch: 1, version: 3, inSync: true });
  assert.equal(old.ok, false, "the old primary's renewal is refused");
  assert.equal(old.primary, 'B');
  assert.equal(v.claim('H', 'H', { epoch: 2, inSync: true }, PAIR).ok, false, 'an epoch is granted once');
  assert.equal(v.claim('H', 'H', { epoch: 3, inSync: true }, PAIR).ok, false, "nor does the old primary get a later one while B's lease runs");
});

test('a grant and a recorded flag are on disk before the answer; a voter that restarts waits a whole lease before it grants the backup anything', () => {
  const first = voter();
  first.v.claim('H', 'H', { epoch: 4, inSync: false }, PAIR);
  first.v.renew('H', 'H', { epoch: 4, version: 1, inSync: true });
  first.store.close();
  const again = voter(first.dir, { t: 50 }); // a new process: its monotonic clock starts anew
  assert.deepEqual(again.v.term('H'), { epoch: 4, primary: 'H', inSync: true, version: 1 });
  assert.equal(again.v.claim('B', 'H', { epoch: 5, inSync: true }, PAIR).ok, false, 'it may have missed renewals while it was down');
  again.clock.t += LEASE;
  assert.equal(again.v.claim('B', 'H', { epoch: 5, inSync: true }, PAIR).ok, true);
});

test('a dry run changes nothing; a node outside the pair gets nothing; flags arrive out of order and the newer stays', () => {
  const { v, clock } = voter();
  v.claim('H', 'H', { epoch: 1, inSync: true }, PAIR);
  clock.t += LEASE;
  assert.equal(v.claim('B', 'H', { epoch: 2, inSync: true }, PAIR, true).ok, true);
  assert.equal(v.term('H').epoch, 1, 'a dry run grants nothing');
  assert.equal(v.claim('X', 'H', { epoch: 2, inSync: true }, PAIR).ok, false);
  assert.equal(v.renew('H', 'H', { epoch: 1, version: 5, inSync: false }).ok, true);
  assert.equal(v.renew('H', 'H', { epoch: 1, version: 4, inSync: true }).ok, true, 'a late renewal still renews the lease');
  assert.equal(v.term('H').inSync, false, 'but its older flag is not recorded');
  assert.equal(v.claim('B', 'H', { epoch: 2, inSync: true }, PAIR).ok, false, 'renewed just now');
});

test('a renewal at a later epoch than this voter holds is taken (a majority granted it elsewhere)', () => {
  const { v } = voter();
  v.claim('H', 'H', { epoch: 1, inSync: true }, PAIR);
  const vote = v.renew('B', 'H', { epoch: 3, version: 0, inSync: false });
  assert.deepEqual(vote, { ok: true, epoch: 3, primary: 'B', inSync: false, version: 0 });
  assert.equal(v.renew('H', 'H', { epoch: 1, version: 9, inSync: true }).ok, false);
});

test('a primary that releases its epoch (handing the writes back) ends its lease here at once: its partner, in step, may claim at once', () => {
  const { v, clock } = voter();
  clock.t += LEASE; // this voter has been up for a lease
  v.claim('H', 'H', { epoch: 1, inSync: true }, PAIR);
  clock.t += LEASE;
  assert.equal(v.claim('B', 'H', { epoch: 2, inSync: false }, PAIR).ok, true, 'B promoted');
  assert.equal(v.renew('B', 'H', { epoch: 2, version: 1, inSync: false }).ok, true);
  assert.equal(v.claim('H', 'H', { epoch: 3, inSync: false }, PAIR).ok, false, 'H back: B answered alone, H lacks its writes');
  assert.equal(v.renew('B', 'H', { epoch: 2, version: 2, inSync: true, release: true }).ok, true, 'B sent H its copy, then releases');
  assert.deepEqual(v.claim('H', 'H', { epoch: 3, inSync: false }, PAIR), { ok: true, epoch: 3, primary: 'H', inSync: true, version: 0 });
  assert.equal(v.renew('B', 'H', { epoch: 2, version: 3, inSync: true }).ok, false, "B's epoch is over");
});
