import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pino from 'pino';
import { AcmeCache } from '../../../src/front/tls/acme/acme-cache.ts';

describe("a front's own copies of its ACME certificates", () => {
  it('keeps a copy a name, private (0600 in a 0700 folder), read back only for the same CA', () => {
    const root = mkdtempSync(join(tmpdir(), 'cohort-acme-cache-'));
    try {
      const dir = join(root, 'front-443', 'acme');
      const cache = new AcmeCache(dir, 'https://ca.example/dir', pino({ level: 'silent' }));
      assert.equal(cache.read('a.example'), undefined);
      cache.write('a.example', '{"cert":"c","key":"k"}');
      cache.write('a.example', '{"cert":"c2","key":"k2"}');
      assert.equal(cache.read('a.example'), '{"cert":"c2","key":"k2"}', 'the newest copy');
      assert.equal(statSync(dir).mode & 0o777, 0o700);
      const files = readdirSync(dir);
      assert.equal(files.length, 1, `one file, no leftovers: ${files.join(', ')}`);
      assert.equal(statSync(join(dir, files[0])).mode & 0o777, 0o600);
      assert.equal(new AcmeCache(dir, 'https://other-ca.example/dir', pino({ level: 'silent' })).read('a.example'), undefined, "another CA's directory reads nothing");
      // A name no longer served, and a half-written file, are removed; the served name's copy stays.
      cache.write('gone.example', '{"cert":"c","key":"k"}');
      writeFileSync(join(dir, `${files[0]}.123.new`), 'half');
      cache.prune((name) => name === 'a.example');
      assert.deepEqual(readdirSync(dir), files);
      assert.equal(cache.read('gone.example'), undefined);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
