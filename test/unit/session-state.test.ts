import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyWrite, EMPTY, MAX_SESSION_BYTES, mergeStates, visible, type SessionWrite } from '../../src/sessions/session-state.ts';

// The rule the copies follow: each key's newest write wins, a destroy wins over older writes,
// and copies that saw the same writes in any order hold the same session.
const T = Date.now() + 60_000;
const writes: SessionWrite[] = [
  { at: 1001, set: { user: 'ann', cart: [1] }, expires: T },
  { at: 2002, set: { cart: [1, 2] } },
  { at: 3001, unset: ['user'] },
  { at: 2501, set: { theme: 'dark' }, expires: T + 5 },
];

test('any order of the same writes gives the same session', () => {
  const orders = [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1], [1, 3, 0, 2]];
  const results = orders.map((o) => o.reduce((s, i) => applyWrite(s, writes[i]), EMPTY));
  for (const r of results) assert.deepEqual(r, results[0]);
  assert.deepEqual(visible(results[0], Date.now()), { data: { cart: [1, 2], theme: 'dark' }, expires: T + 5 });
});

test('two writers of different keys keep both; of the same key, the newer', () => {
  const base = applyWrite(EMPTY, { at: 1000, set: { a: 0, b: 0 }, expires: T });
  const one = applyWrite(base, { at: 2001, set: { a: 1 } });
  const both = applyWrite(one, { at: 2002, set: { b: 2 } });
  assert.deepEqual(visible(both, Date.now())?.data, { a: 1, b: 2 });
  assert.deepEqual(visible(applyWrite(both, { at: 1500, set: { a: 'old' } }), Date.now())?.data, { a: 1, b: 2 }, 'an older write of a key loses');
});

test('replace removes what it does not name; destroy wins over older writes, not newer ones', () => {
  const s = applyWrite(EMPTY, { at: 1000, set: { a: 1, b: 2 }, expires: T });
  assert.deepEqual(visible(applyWrite(s, { at: 2000, set: { a: 3 }, replace: true }), Date.now())?.data, { a: 3 });
  const gone = applyWrite(s, { at: 3000, destroy: true });
  assert.equal(visible(gone, Date.now()), null);
  assert.equal(visible(applyWrite(gone, { at: 2500, set: { late: 1 } }), Date.now()), null, 'a write older than the destroy stays dead');
  assert.deepEqual(visible(applyWrite(gone, { at: 3500, set: { fresh: 1 }, expires: T }), Date.now())?.data, { fresh: 1 });
});

test('copies merge to what one copy that saw every write holds', () => {
  const a = [writes[0], writes[2]].reduce(applyWrite, EMPTY);
  const b = [writes[1], writes[3]].reduce(applyWrite, EMPTY);
  const all = writes.reduce(applyWrite, EMPTY);
  assert.deepEqual(mergeStates(a, b), all);
  assert.deepEqual(mergeStates(b, a), all);
});

test('expired is gone; past the size bound is refused and changes nothing', () => {
  const s = applyWrite(EMPTY, { at: 1000, set: { a: 1 }, expires: Date.now() - 1 });
  assert.equal(visible(s, Date.now()), null);
  const big = 'x'.repeat(MAX_SESSION_BYTES);
  assert.throws(() => applyWrite(s, { at: 2000, set: { big } }), (e: Error & { code?: string }) => e.code === 'too_large');
});
