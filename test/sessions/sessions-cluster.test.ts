import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { CohortClient } from '../../src/client/client.ts';
import { MAX_SESSION_BYTES, newSessionId } from '../../src/client/sessions.ts';
import { TestCluster } from '../harness/cluster.ts';
import { copyAt as copyIn } from '../harness/session-copy.ts';
import { waitFor } from '../harness/wait.ts';

// Sessions across real node processes: L (library), A and B (access: the session nodes).
let c: TestCluster;
const copyAt = (id: string, sid: string) => copyIn(c, id, sid);
const client = (id: string): Promise<CohortClient> => c.client(id);
const soon = () => Date.now() + 3_600_000;

before(async () => {
  c = await TestCluster.create([{ id: 'L', role: 'library' }, { id: 'A' }, { id: 'B' }]);
  await c.startAll();
  await waitFor('links up', () => c.linksUp());
});
after(async () => c?.destroy());

test('a session written on A is read on B and on L (from both copies)', async () => {
  const sid = newSessionId('A');
  await (await client('A')).sessions.write(sid, { set: { user: 'ann', n: 1 }, expires: soon() });
  for (const node of ['A', 'B', 'L']) assert.deepEqual((await (await client(node)).sessions.get(sid))?.data, { user: 'ann', n: 1 }, node);
});

test('A killed with -9: B serves its sessions, takes writes; A back: it has them', async () => {
  const sid = newSessionId('A');
  await (await client('A')).sessions.write(sid, { set: { step: 1 }, expires: soon() });
  // A's write is done once A's own copy has it; B's follows in the background (docs/sessions.md):
  // A is killed once B has it, as a write made more than a round trip before a crash would be.
  await waitFor("B's copy to have A's write", () => copyAt('B', sid)?.step === 1);
  await c.kill('A', 'SIGKILL');
  const b = await client('B');
  assert.deepEqual((await b.sessions.get(sid))?.data, { step: 1 }, 'read from the second copy');
  await b.sessions.write(sid, { set: { step: 2 } });
  assert.deepEqual((await b.sessions.get(sid))?.data, { step: 2 });
  await c.start('A');
  // A reads its own copy: it catches up from B's outbox.
  await waitFor("A's copy to have B's write", async () => (await (await client('A')).sessions.get(sid))?.data.step === 2, 15_000);
});

test('two nodes writing different keys of one session at once: both kept', async () => {
  const sid = newSessionId('B');
  const [a, b] = [await client('A'), await client('B')];
  await b.sessions.write(sid, { set: { base: true }, expires: soon() });
  await Promise.all([...Array.from({ length: 20 }, (_, i) => a.sessions.write(sid, { set: { [`a${i}`]: i } })), ...Array.from({ length: 20 }, (_, i) => b.sessions.write(sid, { set: { [`b${i}`]: i } }))]);
  const got = (await a.sessions.get(sid))!.data;
  assert.equal(Object.keys(got).length, 41);
  await waitFor('both copies alike', async () => JSON.stringify((await b.sessions.get(sid))?.data) === JSON.stringify((await (await client('L')).sessions.get(sid))?.data));
});

test('expiry, touch and destroy', async () => {
  const a = await client('A');
  const sid = newSessionId('A');
  await a.sessions.write(sid, { set: { x: 1 }, expires: Date.now() + 300 });
  await a.sessions.touch(sid, soon());
  assert.ok(await a.sessions.get(sid), 'touched: still there');
  await a.sessions.touch(sid, Date.now() + 200);
  await waitFor('it to expire', async () => (await a.sessions.get(sid)) === null);
  const gone = newSessionId('A');
  await a.sessions.write(gone, { set: { x: 1 }, expires: soon() });
  await a.sessions.destroy(gone);
  assert.equal(await a.sessions.get(gone), null);
  assert.equal(await (await client('B')).sessions.get(gone), null);
});

test('bad input: a malformed id, an oversized session, another node\'s internal command', async () => {
  const a = await client('A');
  for (const bad of ['short', 'has space in it 123456', 'x'.repeat(200), '../../../etc/passwd']) {
    await assert.rejects(a.sessions.get(bad), (e: Error & { code?: string }) => e.code === 'bad_args', bad);
  }
  const sid = newSessionId('A');
  await a.sessions.write(sid, { set: { small: 1 }, expires: soon() });
  await assert.rejects(a.sessions.write(sid, { set: { big: 'x'.repeat(MAX_SESSION_BYTES) } }), (e: Error & { code?: string }) => e.code === 'too_large');
  // Two halves that fit alone but not together: refused where they meet, nothing changed.
  const half = 'y'.repeat(MAX_SESSION_BYTES / 2 + 100);
  await a.sessions.write(sid, { set: { h1: half } });
  await assert.rejects(a.sessions.write(sid, { set: { h2: half } }), (e: Error & { code?: string }) => e.code === 'too_large');
  assert.deepEqual(Object.keys((await a.sessions.get(sid))!.data).sort(), ['h1', 'small']);
  // The apps' commands are the local node's only; the copies' commands are not an app's.
  await assert.rejects(a.call('B', 'sessions.get', { id: sid }), (e: Error & { code?: string }) => e.code === 'refused');
  await assert.rejects(a.call('A', 'session.apply', { writes: [{ id: sid, at: 1, set: { x: 1 } }] }), (e: Error & { code?: string }) => e.code === 'refused');
  await assert.rejects(a.call('A', 'session.merge', { id: sid, state: { fields: {}, expires: 0, expiresAt: 0, clearedAt: 0, destroyedAt: 0 } }), (e: Error & { code?: string }) => e.code === 'refused');
});
