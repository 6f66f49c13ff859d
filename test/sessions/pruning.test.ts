import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, test } from 'node:test';
import pino from 'pino';
import { newSessionId } from '../../src/client/sessions.ts';
import { SessionPruner } from '../../src/sessions/pruner.ts';
import { SessionStore } from '../../src/sessions/session-store.ts';
import { TestCluster } from '../harness/cluster.ts';
import { waitFor } from '../harness/wait.ts';

// Expired sessions are all dropped (past the hour their tombstones are kept), however many
// expired since the last run, in short batches that let the node serve meanwhile.
let c: TestCluster | undefined;
const dir = mkdtempSync(join(tmpdir(), 'cohort-prune-'));
after(async () => {
  await c?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const TWO_HOURS_AGO = () => Date.now() - 7_200_000;

/** `expired` sessions that expired two hours ago and `live` ones, written as a node writes them. */
function fill(db: DatabaseSync, maker: string, expired: number, live: number): void {
  const store = new SessionStore(db);
  store.transaction(() => {
    for (let i = 0; i < expired; i++) store.apply(newSessionId(maker), { at: 1000 + i, set: { i }, expires: TWO_HOURS_AGO() });
    for (let i = 0; i < live; i++) store.apply(newSessionId(maker), { at: 1000 + i, set: { i }, expires: Date.now() + 3_600_000 });
  });
}

const count = (db: DatabaseSync) => (db.prepare('SELECT count(*) AS n FROM sessions').get() as { n: number }).n;

test('a run drops every expired session, several batches, with turns of the event loop between them', async () => {
  const db = new DatabaseSync(join(dir, 'unit.db'));
  fill(db, 'A', 2_600, 10);
  const pruner = new SessionPruner(new SessionStore(db), pino({ level: 'silent' }), { maxAnonymous: 1_000_000, batch: 500 });
  let turns = 0;
  const tick = () => {
    turns++;
    if (running) setImmediate(tick);
  };
  let running = true;
  setImmediate(tick);
  const dropped = await pruner.run();
  running = false;
  assert.equal(dropped, 2_600);
  assert.equal(count(db), 10, 'the live ones stay');
  assert.ok(turns >= 5, `other work ran between the batches (${turns} turns of the event loop)`);
  db.close();
});

test('past maxAnonymous, the least recently written sessions without a login go; logged-in and destroyed ones stay', async () => {
  const db = new DatabaseSync(join(dir, 'anonymous.db'));
  const store = new SessionStore(db);
  const later = Date.now() + 3_600_000;
  const loggedIn: string[] = [];
  const newest: string[] = [];
  store.transaction(() => {
    // Oldest first: 5 logged in, 5 destroyed, then 2,000 anonymous (the last 300 the newest).
    let t = 1_000;
    for (let i = 0; i < 5; i++) {
      const sid = newSessionId('A');
      store.apply(sid, { at: 1, set: { __login: { user: `u${i}` } }, expires: later }, t++);
      loggedIn.push(sid);
    }
    for (let i = 0; i < 5; i++) {
      const sid = newSessionId('A');
      store.apply(sid, { at: 1, set: { visits: 2 }, expires: later }, t++);
      store.apply(sid, { at: 2, destroy: true }, t++);
    }
    for (let i = 0; i < 2_000; i++) {
      const sid = newSessionId('A');
      store.apply(sid, { at: 1, set: { visits: 2 }, expires: later }, t++);
      if (i >= 1_700) newest.push(sid);
    }
    // A session that logged out (its login unset) is anonymous again, and the oldest of all.
    store.apply(loggedIn[0]!, { at: 2, unset: ['__login'] }, 0);
  });
  assert.equal(store.anonymousCount(), 2_001);
  const pruner = new SessionPruner(store, pino({ level: 'silent' }), { maxAnonymous: 300, batch: 500 });
  assert.equal(await pruner.run(), 1_701);
  assert.equal(store.anonymousCount(), 300);
  assert.equal(count(db), 300 + 4 + 5, 'the 300 newest anonymous, the 4 still logged in, the 5 destroyed');
  for (const sid of [...newest, ...loggedIn.slice(1)]) assert.notDeepEqual(store.state(sid).fields, {}, sid);
  db.close();
});

test('a node drops every expired session in its sessions.db soon after it starts, beyond one batch', async () => {
  c = await TestCluster.create([{ id: 'A', role: 'access' }]);
  await c.start('A');
  await c.kill('A', 'SIGTERM');
  const file = join(c.table.dataDir, 'A', 'sessions.db');
  const db = new DatabaseSync(file);
  fill(db, 'A', 3_000, 20);
  db.close();
  await c.start('A');
  const reader = new DatabaseSync(file, { readOnly: true });
  try {
    await waitFor('the expired sessions to be gone', () => count(reader) === 20, 30_000);
  } finally {
    reader.close();
  }
});
