import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { recordArgs } from '../../src/records/names.ts';

describe('record arguments', () => {
  it('refuses keys with a lone surrogate (no UTF-8: each store would fold it into U+FFFD)', () => {
    const put = (key: string) => recordArgs.put.safeParse({ domain: 'msu', user: 'ann', ns: 'n', values: { [key]: 1 } });
    assert.equal(put('\ud800').success, false);
    assert.equal(put('x\udc00').success, false);
    assert.equal(put('\ud83d\ude00').success, true, 'a pair is one character');
    assert.equal(recordArgs.get.safeParse({ domain: 'msu', user: 'ann', ns: 'n', keys: ['\ud800'] }).success, false);
  });
});
