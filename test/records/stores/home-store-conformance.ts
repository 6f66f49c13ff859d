import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { HomeStore } from '../../../src/records/stores/home-store.ts';

/**
 * What every home store answers the same way (issue 27: the same suite on SQLite and on
 * PostgreSQL). `open` gives a fresh, empty store and what removes it.
 */
export function homeStoreConformance(name: string, open: () => Promise<{ store: HomeStore; remove: () => Promise<void> }>): void {
  describe(`home store conformance: ${name}`, () => {
    let store: HomeStore;
    let remove: () => Promise<void>;
    before(async () => ({ store, remove } = await open()));
    after(async () => remove());

    const put = (user: string, ns: string, values: Record<string, unknown>) => store.write(() => store.records.put('msu', user, ns, values));
    const storeData = (user: string, ns: string, data: unknown) => store.write(() => store.records.store('msu', user, ns, data));

    it('creates a user once, keeps her hash, changes it only for a user who exists', async () => {
      assert.equal(await store.write(() => store.users.create('msu', 'ann', 'hash-1')), true);
      assert.equal(await store.write(() => store.users.create('msu', 'ann', 'hash-2')), false, 'a second create of the same name');
      assert.equal(await store.users.passwordHash('msu', 'ann'), 'hash-1', 'the second create changed nothing');
      assert.equal(await store.users.exists('msu', 'ann'), true);
      assert.equal(await store.users.exists('rice', 'ann'), false, 'the same name in another domain is another user');
      assert.equal(await store.users.passwordHash('msu', 'nobody'), undefined);
      assert.equal(await store.write(() => store.users.setPassword('msu', 'ann', 'hash-3')), true);
      assert.equal(await store.users.passwordHash('msu', 'ann'), 'hash-3');
      assert.equal(await store.write(() => store.users.setPassword('msu', 'nobody', 'x')), false);
      assert.equal(await store.users.exists('msu', 'nobody'), false, 'a password set for nobody made nobody');
    });

    it('lists users by domain, then name, in byte order', async () => {
      for (const [d, n] of [['rice', 'zed'], ['msu', 'Bob'], ['msu', 'bob'], ['msu', '_x'], ['msu', 'é']] as const) await store.write(() => store.users.create(d, n, 'h'));
      const listed = (await store.users.list()).map((u) => `${u.domain}/${u.name}`);
      assert.deepEqual(listed, ['msu/Bob', 'msu/_x', 'msu/ann', 'msu/bob', 'msu/é', 'rice/zed']);
      const ann = (await store.users.list()).find((u) => u.name === 'ann')!;
      assert.ok(Number.isSafeInteger(ann.created) && Math.abs(ann.created - Date.now()) < 600_000, 'created is a time in ms');
    });

    it('puts, gets and overwrites values of every JSON type, byte for byte', async () => {
      const values = { s: 'héllo "quoted" \\ back', n: -1.5e-7, big: 2 ** 53 - 1, t: true, f: false, z: null, a: [1, 'two', { three: 3 }], o: { nested: { deep: ['x'] } }, empty: '' };
      assert.equal(await put('ann', 'prefs', values), Object.keys(values).length);
      assert.deepEqual(await store.records.get('msu', 'ann', 'prefs', Object.keys(values)), values);
      assert.equal(await put('ann', 'prefs', { s: 'changed' }), 1);
      assert.deepEqual(await store.records.get('msu', 'ann', 'prefs', ['s', 'n']), { s: 'changed', n: -1.5e-7 }, 'one key changed, the others kept');
    });

    it('leaves out keys that are not set, and keeps users, namespaces and domains apart', async () => {
      await put('ann', 'a', { k: 1 });
      await put('bob', 'a', { k: 2 });
      await put('ann', 'b', { k: 3 });
      await store.write(() => store.records.put('rice', 'ann', 'a', { k: 4 }));
      assert.deepEqual(await store.records.get('msu', 'ann', 'a', ['k', 'missing']), { k: 1 });
      assert.deepEqual(await store.records.get('msu', 'bob', 'a', ['k']), { k: 2 });
      assert.deepEqual(await store.records.get('msu', 'ann', 'b', ['k']), { k: 3 });
      assert.deepEqual(await store.records.get('rice', 'ann', 'a', ['k']), { k: 4 });
      assert.deepEqual(await store.records.get('msu', 'nobody', 'a', ['k']), {});
    });

    it('deletes and counts only the keys that were there', async () => {
      await put('ann', 'del', { x: 1, y: 2, z: 3 });
      assert.equal(await store.write(() => store.records.del('msu', 'ann', 'del', ['x', 'y', 'never', 'x'])), 2);
      assert.deepEqual(await store.records.keys('msu', 'ann', 'del'), ['z']);
      assert.equal(await store.write(() => store.records.del('msu', 'ann', 'del', ['x'])), 0, 'gone already');
    });

    it('lists keys in byte order of their UTF-8, and dumps every namespace or one', async () => {
      const keys = ['b', 'B', 'a', '_', 'é', 'Z9', 'a b', 'a%', "it's"];
      await put('cy', 'order', Object.fromEntries(keys.map((k, i) => [k, i])));
      const bytewise = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      assert.deepEqual(await store.records.keys('msu', 'cy', 'order'), bytewise);
      await put('cy', 'Other', { one: 1 });
      const all = await store.records.dump('msu', 'cy');
      assert.deepEqual(Object.keys(all), ['Other', 'order'], 'namespaces in byte order');
      assert.deepEqual(Object.keys(all.order), bytewise);
      assert.deepEqual(await store.records.dump('msu', 'cy', 'Other'), { Other: { one: 1 } });
      assert.deepEqual(await store.records.dump('msu', 'cy', 'none'), {});
      assert.deepEqual(await store.records.dump('msu', 'nobody'), {});
    });

    it('takes keys that mean something to SQL or to an array literal as plain text', async () => {
      const keys = ['NULL', '{a,b}', ',', '\\', '"q"', "'; DROP TABLE records; --", '%_', 'a'.repeat(256)];
      await put('eve', 'odd', Object.fromEntries(keys.map((k, i) => [k, i])));
      assert.deepEqual(await store.records.get('msu', 'eve', 'odd', keys), Object.fromEntries(keys.map((k, i) => [k, i])));
      assert.deepEqual(await store.records.keys('msu', 'eve', 'odd'), [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
      assert.equal(await store.write(() => store.records.del('msu', 'eve', 'odd', ['NULL', '{a,b}'])), 2);
      assert.equal((await store.records.keys('msu', 'eve', 'odd')).length, keys.length - 2);
    });

    it('keeps a value of 64 KiB of JSON whole', async () => {
      const big = 'x'.repeat(64 * 1024 - 2);
      await put('ann', 'big', { v: big });
      assert.equal(((await store.records.get('msu', 'ann', 'big', ['v'])) as { v: string }).v.length, big.length);
    });

    it('numbers each namespace\'s history 1, 2, 3 and restores it after a number, at most a limit', async () => {
      assert.equal(await storeData('ann', 'quiz', { try: 1 }), 1);
      assert.equal(await storeData('ann', 'quiz', { try: 2 }), 2);
      assert.equal(await storeData('ann', 'other', 'x'), 1, 'each namespace counts on its own');
      assert.equal(await storeData('bob', 'quiz', 'y'), 1, 'each user counts on her own');
      assert.equal(await storeData('ann', 'quiz', [3]), 3);
      const all = await store.records.restore('msu', 'ann', 'quiz', 0, 100);
      assert.deepEqual(all.map((e) => [e.seq, e.data]), [[1, { try: 1 }], [2, { try: 2 }], [3, [3]]]);
      assert.ok(all.every((e) => Number.isSafeInteger(e.at) && e.at > 0), 'each entry has its time');
      assert.deepEqual((await store.records.restore('msu', 'ann', 'quiz', 1, 1)).map((e) => e.seq), [2]);
      assert.deepEqual(await store.records.restore('msu', 'ann', 'quiz', 3, 10), []);
      assert.deepEqual(await store.records.restore('msu', 'nobody', 'quiz', 0, 10), []);
    });

    it('gives stores to one namespace made at once distinct numbers with no gap', async () => {
      const seqs = await Promise.all(Array.from({ length: 25 }, (_, i) => storeData('dee', 'race', i)));
      assert.deepEqual([...seqs].sort((a, b) => a - b), Array.from({ length: 25 }, (_, i) => i + 1));
      const restored = await store.records.restore('msu', 'dee', 'race', 0, 100);
      assert.deepEqual(restored.map((e) => e.seq), Array.from({ length: 25 }, (_, i) => i + 1));
      for (const e of restored) assert.equal(e.data, seqs.indexOf(e.seq), 'each number holds the data stored with it');
    });
  });
}
