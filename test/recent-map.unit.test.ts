import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecentMap } from '../src/recent-map.ts';

// The one bounded map for keys a client controls: at most `limit` entries, the least recently set go first.
test('holds at most its limit; setting a key makes it the newest; the oldest go and are counted', () => {
  const m = new RecentMap<string, number>(3);
  for (const k of ['a', 'b', 'c']) m.set(k, 1);
  m.set('a', 2); // a is now the newest
  m.set('d', 1);
  assert.deepEqual([...m.keys()], ['c', 'a', 'd']);
  assert.equal(m.evicted, 1);
  m.delete('c');
  assert.equal(m.evicted, 1, 'a delete is not an eviction');
});

test('resize: a smaller limit drops the oldest at once; a limit that is not a count is refused', () => {
  const m = new RecentMap<number, number>(10);
  for (let i = 0; i < 10; i++) m.set(i, i);
  m.resize(4);
  assert.deepEqual([...m.keys()], [6, 7, 8, 9]);
  assert.equal(m.evicted, 6);
  assert.throws(() => m.resize(Number.NaN), /limit is a count/);
  assert.throws(() => new RecentMap(-1), /limit is a count/);
  assert.equal(m.size, 4, 'a refused resize changes nothing');
});
