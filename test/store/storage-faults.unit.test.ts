import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import { CohortError } from '../../src/errors.ts';
import { isStorageFault } from '../../src/store/storage-faults.ts';

// The inbox keeps a message (con_lost) on a storage fault and rejects it for good on any
// other error, so the classifier is checked against errors real node:sqlite throws.
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  assert.fail('expected a throw');
}

describe('isStorageFault', () => {
  it('a full disk (SQLITE_FULL) and a locked database (SQLITE_BUSY) are storage faults', () => {
    const db = new DatabaseSync(':memory:');
    db.exec('CREATE TABLE t (x); PRAGMA max_page_count = 2');
    const full = thrown(() => db.prepare('INSERT INTO t VALUES (?)').run('x'.repeat(100_000)));
    assert.ok(isStorageFault(full), String(full));

    const dir = mkdtempSync(join(tmpdir(), 'cohort-sqlite-'));
    try {
      const a = new DatabaseSync(join(dir, 'x.db'));
      const b = new DatabaseSync(join(dir, 'x.db'), { timeout: 0 });
      a.exec('BEGIN IMMEDIATE');
      const busy = thrown(() => b.exec('BEGIN IMMEDIATE'));
      assert.ok(isStorageFault(busy), String(busy));
      a.exec('ROLLBACK');
      a.close();
      b.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the command's own errors are not: constraints, SQL mistakes, CohortErrors, bugs", () => {
    const db = new DatabaseSync(':memory:');
    db.exec('CREATE TABLE t (k PRIMARY KEY); INSERT INTO t VALUES (1)');
    assert.equal(isStorageFault(thrown(() => db.prepare('INSERT INTO t VALUES (1)').run())), false);
    assert.equal(isStorageFault(thrown(() => db.prepare('SELECT * FROM nope'))), false);
    assert.equal(isStorageFault(new CohortError('bad_args', 'no')), false);
    assert.equal(isStorageFault(new TypeError('x is undefined')), false);
    assert.equal(isStorageFault('database or disk is full'), false);
  });
});
