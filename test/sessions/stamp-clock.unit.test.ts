import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StampClock } from '../../src/sessions/commands.ts';
import { EMPTY, applyWrite, mergeStates, visible } from '../../src/sessions/session-state.ts';

// Session write stamps: always growing, and past every stamp the node has read (so a write
// after a read is newer, whatever the other node's clock).
test('stamps grow and move past what was read (not past a broken clock)', () => {
  const clock = new StampClock();
  const a = clock.next();
  const b = clock.next();
  assert.ok(b > a);
  const ahead = (Date.now() + 5000) * 1000 + 3; // a node whose clock runs 5 s ahead wrote this
  clock.observe(ahead);
  const c = clock.next();
  assert.ok(c > ahead, 'a write after reading it is newer');
  const broken = (Date.now() + 3_600_000) * 1000 + 3;
  clock.observe(broken);
  assert.ok(clock.next() < broken, 'an hour ahead is not followed');
});

// A busy node writes thousands of sessions a second: its stamps must stay near real time, or
// its peers refuse them as a clock more than a minute ahead (the old clock gained 1 ms a write).
test('a burst of writes does not run the clock ahead of real time', () => {
  const clock = new StampClock();
  let last = 0;
  for (let i = 0; i < 100_000; i++) last = clock.next();
  assert.ok(last <= (Date.now() + 1000) * 1000, `after 100,000 writes the clock is ${(last / 1000 - Date.now()).toFixed(0)} ms ahead`);
});

// Two nodes may stamp one key alike: every copy must still keep the same value.
test('a tie between two writes of one key resolves the same in either merge order', () => {
  const x = applyWrite(EMPTY, { at: 5_000_000, set: { k: 'from x' }, expires: Date.now() + 60_000 });
  const y = applyWrite(EMPTY, { at: 5_000_000, set: { k: 'from y' }, expires: Date.now() + 90_000 });
  const xy = mergeStates(x, y);
  const yx = mergeStates(y, x);
  assert.deepEqual(visible(xy, Date.now()), visible(yx, Date.now()));
  const removed = applyWrite(EMPTY, { at: 5_000_000, unset: ['k'] });
  assert.deepEqual(visible(mergeStates(x, removed), Date.now()), visible(mergeStates(removed, x), Date.now()));
});
