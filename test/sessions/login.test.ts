import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { LoginPlace } from '../../src/client/records.ts';
import { TestCluster } from '../harness/cluster.ts';

// Load-aware login with real nodes: L (library, home of ann), access nodes A, B and C; A's
// spares are B and C. Each node's load average comes from its own file (COHORT_LOADAVG_FILE).
let c: TestCluster;
const ann = { domain: 'msu', user: 'ann' };
const setLoad = (id: string, avg: number) => writeFileSync(join(c.dir, `loadavg-${id}`), `${avg} 0 0 1/1 1\n`);

before(async () => {
  // L can serve users (clients reach it at its publicUrl); M, a library node too, cannot.
  c = await TestCluster.create([{ id: 'L', role: 'library', publicUrl: 'https://l.example.org' }, { id: 'M', role: 'library' }, { id: 'A', spares: ['R', 'B', 'C'] }, { id: 'B' }, { id: 'C' }, { id: 'R', domain: 'rice' }], { load: { fullAt: 1, userLimit: 0, sessionWindowMin: 10, handoverTtlS: 2 } });
  for (const id of ['L', 'M', 'A', 'B', 'C', 'R']) {
    setLoad(id, 0.1);
    await c.start(id, { COHORT_LOADAVG_FILE: join(c.dir, `loadavg-${id}`) });
  }
  await (await c.client('A')).auth.addUser(ann, 'L', 'correct horse');
});
after(async () => c?.destroy());

const place = async (password = 'correct horse', data: Record<string, unknown> = {}) => (await (await c.client('A')).auth.placeLogin(ann, password, data)) as LoginPlace;

test('under 100%, a login stays; over, it goes to the least loaded spare under 100%, once, with its session data', async () => {
  assert.equal((await place()).node, 'A');
  setLoad('A', 1.5);
  setLoad('B', 0.8);
  setLoad('C', 0.4);
  setLoad('R', 0.1);
  const p = await place('correct horse', { cart: [7] });
  assert.equal(p.node, 'C', 'not R, the least loaded spare: its domain (rice) is not trusted with msu users');
  assert.match(p.token!, /^C\.[A-Za-z0-9_-]{43}$/);
  assert.match(p.nonce!, /^[A-Za-z0-9_-]{43}$/);
  const c1 = await c.client('C');
  assert.deepEqual(await c1.auth.takeHandover(p.token!, p.nonce!), { domain: 'msu', user: 'ann', data: { cart: [7] } });
  // Replayed, or taken on another node: refused.
  await assert.rejects(c1.auth.takeHandover(p.token!, p.nonce!), (e: Error & { code?: string }) => e.code === 'refused');
  const q = await place();
  await assert.rejects((await c.client('B')).auth.takeHandover(q.token!, q.nonce!), (e: Error & { code?: string }) => e.code === 'refused');
  // Shown without its nonce (another browser: no cookie, or its own) it is refused; it is still
  // good for the browser that holds the nonce, once.
  const r = await place();
  const s = await place();
  for (const nonce of ['', r.nonce!, `${s.nonce!}x`]) {
    await assert.rejects(c1.auth.takeHandover(s.token!, nonce), (e: Error & { code?: string }) => e.code === 'refused' && /another browser/.test(e.message));
  }
  assert.equal((await c1.auth.takeHandover(s.token!, s.nonce!)).user, 'ann');
  await assert.rejects(c1.auth.takeHandover(s.token!, s.nonce!), (e: Error & { code?: string }) => e.code === 'refused' && /used already/.test(e.message));
  assert.equal((await c1.auth.takeHandover(r.token!, r.nonce!)).user, 'ann');
  // A wrong password is refused before any placement.
  await assert.rejects(place('wrong'), (e: Error & { code?: string }) => e.code === 'refused');
});

test('a forged or expired token is refused; a local process cannot offer one', async () => {
  const c1 = await c.client('C');
  await assert.rejects(c1.auth.takeHandover(`C.${'A'.repeat(43)}`, 'x'.repeat(43)), (e: Error & { code?: string }) => e.code === 'refused');
  await assert.rejects(c1.auth.takeHandover('C.short', 'x'.repeat(43)), (e: Error & { code?: string }) => e.code === 'bad_args');
  await assert.rejects(c1.call('C', 'login.handover.offer', { token: `C.${'B'.repeat(43)}`, nonceDigest: '0'.repeat(64), domain: 'msu', user: 'ann', data: {} }), (e: Error & { code?: string }) => e.code === 'refused');
  // Nor an app on another node through its node (C would see A, a node it trusts, offering it):
  // its node refuses to carry a command only nodes send. Before this, the forged login was taken.
  for (const via of ['A', 'R']) {
    await assert.rejects((await c.client(via)).call('C', 'login.handover.offer', { token: `C.${'B'.repeat(43)}`, nonceDigest: '0'.repeat(64), domain: 'msu', user: 'ann', data: {} }), (e: Error & { code?: string }) => e.code === 'refused' && /never by (an app|a process on a local socket)/.test(e.message));
  }
  await assert.rejects(c1.auth.takeHandover(`C.${'B'.repeat(43)}`, 'x'.repeat(43)), (e: Error & { code?: string }) => e.code === 'refused');
  // Nor a session copy's own commands, through a node to a peer.
  await assert.rejects((await c.client('A')).call('B', 'session.apply', { writes: [{ id: `B~${'x'.repeat(32)}`, at: 1, set: { user: 'ann' } }] }), (e: Error & { code?: string }) => e.code === 'refused');
  await assert.rejects((await c.client('A')).critical('B', 'session.merge', { id: `B~${'x'.repeat(32)}`, state: {} }), (e: Error & { code?: string }) => e.code === 'refused');
  setLoad('A', 1.5);
  const p = await place();
  const until = Date.now() + 2500;
  while (Date.now() < until) await new Promise((r) => setTimeout(r, 100)); // the token's life (2 s) is the thing under test
  await assert.rejects((await c.client(p.node)).auth.takeHandover(p.token!, p.nonce!), (e: Error & { code?: string }) => e.code === 'refused');
});

test('every access node over 100%: a library node that can serve her takes the login', async () => {
  for (const id of ['A', 'B', 'C']) setLoad(id, 2);
  setLoad('L', 0.3);
  setLoad('M', 0.1);
  const p = await place();
  assert.equal(p.node, 'L', 'not M: it runs no app and has no publicUrl');
  assert.equal(p.url, 'https://l.example.org');
  assert.match(p.why, /every access node is over 100%/);
  assert.equal((await (await c.client('L')).auth.takeHandover(p.token!, p.nonce!)).user, 'ann');
  for (const id of ['A', 'B', 'C']) setLoad(id, 0.1);
});
