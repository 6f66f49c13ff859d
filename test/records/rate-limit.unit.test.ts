import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import { FailureLimiter, type Attempt } from '../../src/records/rate-limit.ts';

function let_(r: ReturnType<FailureLimiter['reserve']>): Attempt {
  assert.ok(r.ok, 'the attempt should be let through');
  return r.attempt;
}

describe('FailureLimiter', () => {
  it('counts an attempt when it is let through, before it ends', () => {
    const limiter = new FailureLimiter(new DatabaseSync(':memory:'), 3, 60_000);
    const inFlight = [0, 1, 2].map(() => let_(limiter.reserve('msu/u', 1000)));
    const fourth = limiter.reserve('msu/u', 1001);
    assert.ok(!fourth.ok && fourth.retryAfterMs === 59_999, 'three in flight use up the allowance');
    assert.ok(limiter.reserve('msu/other', 1001).ok, 'other keys are not affected');
    for (const a of inFlight) a.fail();
    assert.ok(!limiter.reserve('msu/u', 1002).ok);
    assert.ok(limiter.reserve('msu/u', 61_001).ok, 'the window slides');
  });

  it("a success forgets the key's finished failures, not the attempts still in flight", () => {
    const limiter = new FailureLimiter(new DatabaseSync(':memory:'), 3, 60_000);
    let_(limiter.reserve('k', 1)).fail();
    const slow = let_(limiter.reserve('k', 2));
    let_(limiter.reserve('k', 3)).succeed();
    assert.ok(limiter.reserve('k', 4).ok && limiter.reserve('k', 5).ok, 'the failure before the success is gone');
    assert.ok(!limiter.reserve('k', 6).ok, 'the one still in flight counts: 1 + 2 new');
    slow.fail();
  });

  it('a success does not forgive guesses made while it was being checked', () => {
    const limiter = new FailureLimiter(new DatabaseSync(':memory:'), 3, 60_000);
    const right = let_(limiter.reserve('k', 1));
    let_(limiter.reserve('k', 2)).fail();
    let_(limiter.reserve('k', 3)).fail();
    right.succeed();
    assert.ok(limiter.reserve('k', 4).ok, 'one more is allowed: the two later failures still count');
    assert.ok(!limiter.reserve('k', 5).ok);
  });

  it('a clock set back does not lock a key out for longer than one window', () => {
    const limiter = new FailureLimiter(new DatabaseSync(':memory:'), 2, 60_000);
    const dayAhead = 86_400_000 + 1_000_000;
    let_(limiter.reserve('k', dayAhead)).fail();
    let_(limiter.reserve('k', dayAhead)).fail();
    const blocked = limiter.reserve('k', 1_000_000);
    assert.ok(!blocked.ok && blocked.retryAfterMs <= 60_000, `waits at most a window (${JSON.stringify(blocked)})`);
    assert.ok(limiter.reserve('other', 1_000_000).ok, 'and the first reservation after the step prunes the future rows');
    assert.ok(limiter.reserve('k', 1_000_001).ok);
  });

  it('keeps at most maxRows rows, however many distinct keys come, oldest out', () => {
    const db = new DatabaseSync(':memory:');
    const limiter = new FailureLimiter(db, 5, 60_000, { maxRows: 100 });
    for (let i = 0; i < 1000; i++) let_(limiter.reserve(`msu/nobody${i}`, 1000 + i)).fail();
    const rows = db.prepare('SELECT COUNT(*) AS n FROM login_failures').get() as { n: number };
    assert.equal(rows.n, 100);
    assert.equal((db.prepare('SELECT COUNT(*) AS n FROM login_failures WHERE key = ?').get('msu/nobody999') as { n: number }).n, 1, 'the newest stay');
    assert.equal((db.prepare('SELECT COUNT(*) AS n FROM login_failures WHERE key = ?').get('msu/nobody0') as { n: number }).n, 0, 'the oldest went');
  });
});
