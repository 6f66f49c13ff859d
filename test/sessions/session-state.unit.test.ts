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

test('replace removes what it does not name, also a key older than it that arrives later; destroy is final', () => {
  const s = applyWrite(EMPTY, { at: 1000, set: { a: 1, b: 2 }, expires: T });
  assert.deepEqual(visible(applyWrite(s, { at: 3000, set: { a: 3 }, replace: true }), Date.now())?.data, { a: 3 });
  // A key written at 2000 reaches one copy, the replace at 3000 the other: merged, the key is gone.
  const one = applyWrite(s, { at: 2000, set: { k: 'secret' } });
  const two = applyWrite(s, { at: 3000, set: { a: 2 }, replace: true });
  assert.deepEqual(visible(mergeStates(one, two), Date.now())?.data, { a: 2 });
  assert.deepEqual(visible(applyWrite(two, { at: 2000, set: { k: 'late' } }), Date.now())?.data, { a: 2 });
  const gone = applyWrite(s, { at: 3000, destroy: true });
  assert.equal(visible(gone, Date.now()), null);
  assert.equal(visible(applyWrite(gone, { at: 2500, set: { late: 1 } }), Date.now()), null, 'a write older than the destroy stays dead');
  assert.equal(visible(applyWrite(gone, { at: 3500, set: { fresh: 1 }, expires: T }), Date.now()), null, 'and a newer one too: ids are not reused');
});

test('a merge never throws, is one pass, and keys named like Object.prototype members are kept', () => {
  const a = applyWrite(EMPTY, { at: 1000, set: { x: 'a'.repeat(40_000) }, expires: T });
  const b = applyWrite(EMPTY, { at: 1001, set: { y: 'b'.repeat(40_000) }, expires: T });
  assert.equal(Object.keys(visible(mergeStates(a, b), Date.now())!.data).length, 2, 'over the bound together: merged anyway');
  const many: Record<string, number> = {};
  for (let i = 0; i < 5000; i++) many[`k${i}`] = i;
  const big = applyWrite(EMPTY, { at: 1, set: many, expires: T });
  const t = performance.now();
  for (let i = 0; i < 20; i++) mergeStates(big, big);
  assert.ok(performance.now() - t < 1000, `20 merges of 5000 keys took ${performance.now() - t} ms`);
  const odd = applyWrite(EMPTY, { at: 1, set: { constructor: 1, toString: 2, __proto__x: 3 }, expires: T });
  assert.deepEqual(Object.keys(visible(odd, Date.now())!.data).sort(), ['__proto__x', 'constructor', 'toString']);
});

test('removed keys do not count toward the bound, and are kept a thousand at most', () => {
  let s = applyWrite(EMPTY, { at: 1, set: { keep: 1 }, expires: T });
  for (let i = 0; i < 1200; i++) s = applyWrite(applyWrite(s, { at: 10 + 2 * i, set: { [`flash-${'x'.repeat(60)}-${i}`]: 'x' } }), { at: 11 + 2 * i, unset: [`flash-${'x'.repeat(60)}-${i}`] });
  assert.doesNotThrow(() => applyWrite(s, { at: 1e6, set: { keep: 2 } }));
  assert.equal(Object.keys(s.fields).length, 1001);
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
