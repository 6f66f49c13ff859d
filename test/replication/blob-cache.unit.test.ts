import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { after, test } from 'node:test';
import { pino } from 'pino';
import { BlobCache } from '../../src/replication/blob-cache.ts';

const silent = pino({ enabled: false });

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const dir = mkdtempSync(join(tmpdir(), 'cohort-blob-cache-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, bytes: Buffer) => {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
};

test('holds resources up to its largest file size, none when either bound is 0', () => {
  assert.equal(new BlobCache(1000, 100, silent).holds(100), true);
  assert.equal(new BlobCache(1000, 100, silent).holds(101), false);
  assert.equal(new BlobCache(50, 100, silent).holds(51), false, 'no file larger than the whole cache');
  assert.equal(new BlobCache(0, 100, silent).holds(1), false);
  assert.equal(new BlobCache(1000, 0, silent).holds(1), false);
});

test('bounded in bytes: the least recently served go first', async () => {
  const cache = new BlobCache(3 * 1024, 1024, silent);
  for (const d of ['a', 'b', 'c']) cache.put(d, Buffer.alloc(1024, d));
  assert.ok(cache.get('a', '/nonexistent') instanceof Buffer, 'a served: now the most recent');
  cache.put('d', Buffer.alloc(1024, 'd'));
  assert.deepEqual(cache.stats, { bytes: 3 * 1024, entries: 3 });
  const b = cache.get('b', join(dir, 'absent'));
  assert.ok(b instanceof Promise, 'b, the least recently served, went: its file is read again');
  await assert.rejects(b);
  assert.ok(cache.get('a', '/nonexistent') instanceof Buffer);
  cache.put('big', Buffer.alloc(1025));
  assert.equal(cache.stats.entries, 3, 'a file past the largest size is not held');
});

test('a file is read once for concurrent requests, then served from memory; drop forgets it', async () => {
  const cache = new BlobCache(1 << 20, 1 << 16, silent);
  const path = file('one', Buffer.from('the bytes'));
  const one = sha('the bytes');
  const first = cache.get(one, path);
  const second = cache.get(one, path);
  assert.ok(first instanceof Promise);
  assert.equal(second, first, 'one read for both');
  assert.equal((await first).toString(), 'the bytes');
  const held = cache.get(one, path);
  assert.ok(held instanceof Buffer && held.toString() === 'the bytes');
  cache.drop(one);
  const again = cache.get(one, path);
  assert.ok(again instanceof Promise, 'read again after a drop');
  await again;
});

test('a file whose bytes are not what its digest names is refused (its caller serves the file as it is) and not held', async () => {
  const cache = new BlobCache(1 << 20, 1 << 16, silent);
  const path = file('damaged', Buffer.from('the wrong bytes'));
  await assert.rejects(Promise.resolve(cache.get(sha('the right bytes'), path)), /does not hash to its name/);
  assert.equal(cache.stats.entries, 0);
});

test('a file removed while it is read is not held once the read ends', async () => {
  const cache = new BlobCache(1 << 20, 1 << 16, silent);
  const path = file('removed', Buffer.from('soon gone'));
  const digest = sha('soon gone');
  const read = cache.get(digest, path);
  cache.drop(digest);
  assert.equal((await read)!.toString(), 'soon gone');
  assert.equal(cache.stats.entries, 0);
});

test('a missing file rejects and is not held; past 64 reads at once, the caller serves from the file', async () => {
  const cache = new BlobCache(1 << 20, 1 << 16, silent);
  await assert.rejects(Promise.resolve(cache.get('gone', join(dir, 'gone'))));
  assert.equal(cache.stats.entries, 0);
  const path = file('many', Buffer.from('x'));
  const reads = Array.from({ length: 64 }, (_, i) => cache.get(`d${i}`, path));
  assert.equal(cache.get('d64', path), undefined);
  // ('x' hashes to none of these names: each read is refused.)
  await Promise.allSettled(reads);
  const again = cache.get('d64', path);
  assert.ok(again instanceof Promise, 'reads are possible again once those ended');
  await assert.rejects(again);
});
