import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StampClock } from '../../src/sessions/commands.ts';

// Session write stamps: this node's index in the low digits, always growing, and past every
// stamp the node has read (so a write after a read is newer, whatever the other node's clock).
test('stamps grow, carry the node index, and move past what was read (not past a broken clock)', () => {
  const clock = new StampClock(7);
  const a = clock.next();
  const b = clock.next();
  assert.ok(b > a);
  assert.equal(a % 1000, 7);
  assert.equal(b % 1000, 7);
  const ahead = (Date.now() + 5000) * 1000 + 3; // a node whose clock runs 5 s ahead wrote this
  clock.observe(ahead);
  const c = clock.next();
  assert.ok(c > ahead, 'a write after reading it is newer');
  assert.equal(c % 1000, 7);
  const broken = (Date.now() + 3_600_000) * 1000 + 3;
  clock.observe(broken);
  assert.ok(clock.next() < broken, 'an hour ahead is not followed');
});
