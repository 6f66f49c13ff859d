import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, test } from 'node:test';
import pino from 'pino';
import { newSessionId } from '../../src/client/sessions.ts';
import { loadHostTable } from '../../src/config/host-table.ts';
import { SessionCopies } from '../../src/sessions/copies.ts';
import { visible } from '../../src/sessions/session-state.ts';
import { SessionStore } from '../../src/sessions/session-store.ts';
import { waitFor } from '../harness/wait.ts';

// A peer's `session.read` answer, merged into this node's own copy by a catch-up or into what a
// read returns, is input: parsed, and refused when stamped ahead, as `session.merge` is. Real
// SQLite; the peer is scripted (its answers are what a broken or hostile node could send).
const dir = mkdtempSync(join(tmpdir(), 'cohort-peer-state-'));
after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'hosts.yaml'), [
  'cluster: t',
  'dataDir: ./data',
  'tls: { dir: ./tls }',
  'domains: [msu]',
  'nodes:',
  '  - { id: A, domain: msu, role: access, host: 127.0.0.1, linkPort: 7001, httpPort: 7002 }',
  '  - { id: B, domain: msu, role: access, host: 127.0.0.1, linkPort: 7003, httpPort: 7004 }',
  '',
].join('\n'));
const table = loadHostTable(join(dir, 'hosts.yaml'));
const log = pino({ level: 'silent' });

const now = () => Date.now() * 1000;
const expires = () => Date.now() + 3_600_000;
/** Answers a well-formed peer could not give: stamps missing, a key's stamp not a number, a clear an hour ahead. */
const badAnswers = () => [
  { fields: { visits: [now() - 5_000_000, 1] }, expires: expires() },
  { fields: { visits: ['9'.repeat(20), 1] }, expires: expires(), expiresAt: 1, clearedAt: 0, destroyedAt: 0 },
  { fields: {}, expires: expires(), expiresAt: 1, clearedAt: now() + 3_600_000_000, destroyedAt: 0 },
];

function storeAt(name: string): SessionStore {
  return new SessionStore(new DatabaseSync(join(dir, `${name}.db`)));
}

test("a catch-up of this node's own copy keeps its newer keys against an older, malformed or far-ahead answer", async () => {
  const olderAnswer = { fields: { visits: [now() - 5_000_000, 1] }, expires: expires(), expiresAt: now() - 5_000_000, clearedAt: 0, destroyedAt: 0 };
  for (const answer of [olderAnswer, ...badAnswers()]) {
    const store = storeAt(`catch-up-${Math.random().toString(36).slice(2)}`);
    const sid = newSessionId('A');
    store.apply(sid, { at: now(), set: { visits: 5 }, expires: expires() });
    store.missed(sid, 'A'); // A's own copy is owed a catch-up from B's
    let asked = 0;
    const copies = new SessionCopies({
      self: 'A', table, store, log, observe: () => {},
      call: async (to, cmd) => {
        assert.deepEqual([to, cmd], ['B', 'session.read']);
        asked++;
        return structuredClone(answer);
      },
    });
    copies.start();
    try {
      // A's copy caught up (the older answer), or B asked in a second round (the first one's refusal is done).
      await waitFor("A's catch-up", () => asked >= 2 || !store.missedList(0, 10).some((r) => r.node === 'A'), 20_000);
    } finally {
      copies.stop();
    }
    assert.deepEqual(visible(store.state(sid), Date.now())?.data, { visits: 5 }, `after ${JSON.stringify(answer).slice(0, 120)}`);
  }
});

test('a read that merges both copies keeps the good copy when the other answers malformed or far ahead', async () => {
  for (const answer of badAnswers()) {
    const store = storeAt(`read-${Math.random().toString(36).slice(2)}`);
    const sid = newSessionId('B'); // first copy on B, the second here on A
    store.apply(sid, { at: now(), set: { visits: 7 }, expires: expires() });
    const copies = new SessionCopies({ self: 'A', table, store, log, observe: () => {}, call: async () => structuredClone(answer) });
    const seen = await copies.read(sid);
    assert.deepEqual(seen?.data, { visits: 7 }, `with B answering ${JSON.stringify(answer).slice(0, 120)}`);
  }
});
