// The express-session and @fastify/session stores against an in-memory stand-in for
// client.sessions: per-key diffs, replace without a base, expiry, destroy, bad input;
// then both frameworks over real HTTP, including two concurrent requests of one session.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CREATED_KEY, SessionCore } from '../../src/client/adapter-core.ts';
import { CohortSessionStore } from '../../src/client/express-store.ts';
import { CohortFastifyStore } from '../../src/client/fastify-store.ts';
import { waitFor } from '../harness/wait.ts';
import { FakeSessions } from '../sessions/fake-sessions.ts';
import { browser, expressApp, fastifyApp, type TestApp } from '../sessions/http-apps.ts';

const ID = 'A~' + 'x'.repeat(32);
const bind = (f: FakeSessions) => ({ get: f.get.bind(f), write: f.write.bind(f), touch: f.touch.bind(f), destroy: f.destroy.bind(f) });
const cb = <T>(fn: (done: (err: unknown, v?: T) => void) => void) =>
  new Promise<{ err: unknown; value: T | undefined }>((resolve) => fn((err, value) => resolve({ err, value })));

describe('session adapter core', () => {
  it('sends the whole session with replace when it has no base, then only what changed', async () => {
    const fake = new FakeSessions();
    const core = new SessionCore({ client: { sessions: fake }, node: 'A' });
    await core.save(ID, { a: 1, b: { c: 2 } });
    assert.equal(fake.writes[0].patch.replace, true);
    assert.deepEqual(Object.keys(fake.writes[0].patch.set!).sort(), [CREATED_KEY, 'a', 'b']);
    const found = await core.load(ID);
    assert.ok(found);
    const { [CREATED_KEY]: created, ...rest } = found.data;
    assert.equal(typeof created, 'number');
    assert.deepEqual(rest, { a: 1, b: { c: 2 } });
    await core.save(ID, { ...found.data, a: 5, d: 'new', b: undefined });
    const patch = fake.writes[1].patch;
    assert.equal(patch.replace, undefined);
    assert.deepEqual(patch.set, { a: 5, d: 'new' });
    assert.deepEqual(patch.unset, ['b']);
    assert.deepEqual((await fake.get(ID))!.data, { [CREATED_KEY]: created, a: 5, d: 'new' });
  });

  it('keeps both writes when two requests read the same session and write different keys', async () => {
    const fake = new FakeSessions();
    const store = new CohortSessionStore({ client: { sessions: fake }, node: 'A' });
    await fake.write(ID, { set: { n: 0, [CREATED_KEY]: Date.now() }, expires: Date.now() + 60_000 });
    const r1 = await cb<any>((d) => store.get(ID, d));
    const r2 = await cb<any>((d) => store.get(ID, d));
    const s1 = store.createSession({ sessionID: ID } as any, { ...r1.value, cookie: { originalMaxAge: null } });
    const s2 = store.createSession({ sessionID: ID } as any, { ...r2.value, cookie: { originalMaxAge: null } });
    (s1 as any).first = 'one';
    (s2 as any).second = 'two';
    assert.equal((await cb((d) => store.set(ID, s1, d))).err, null);
    assert.equal((await cb((d) => store.set(ID, s2, d))).err, null);
    const data = (await fake.get(ID))!.data;
    assert.equal(data.first, 'one');
    assert.equal(data.second, 'two');
    assert.equal(data.n, 0);
  });

  it('expires: the cookie\'s expiry, else now + ttl; absolute age refuses an old session', async () => {
    const fake = new FakeSessions();
    const core = new SessionCore({ client: { sessions: fake }, node: 'A', ttlMs: 5000, absoluteMs: 60_000 });
    const before = Date.now();
    await core.save(ID, { a: 1 });
    const e1 = fake.writes[0].patch.expires!;
    assert.ok(e1 >= before + 5000 && e1 <= Date.now() + 5000);
    const at = new Date(Date.now() + 30_000);
    await core.save(ID, { a: 1, cookie: { expires: at } });
    assert.equal(fake.writes[1].patch.expires, at.getTime());
    // a cookie beyond the absolute age is capped to it
    const created = Date.now() - 50_000;
    await core.save(ID, { a: 1, [CREATED_KEY]: created, cookie: { expires: new Date(Date.now() + 3_600_000) } });
    assert.equal(fake.writes[2].patch.expires, created + 60_000);
    // older than absoluteMs: refused on read, and destroyed
    await fake.write(ID, { set: { [CREATED_KEY]: Date.now() - 61_000 }, expires: Date.now() + 60_000 });
    assert.equal(await core.load(ID), null);
    assert.equal(fake.sessions.has(ID), false);
    // an idle-expired session is gone
    await fake.write(ID, { set: { a: 1 }, expires: Date.now() - 1 });
    assert.equal(await core.load(ID), null);
  });

  it('touch moves the expiry; destroy removes the session', async () => {
    const fake = new FakeSessions();
    const store = new CohortSessionStore({ client: { sessions: fake }, node: 'A' });
    await fake.write(ID, { set: { a: 1 }, expires: Date.now() + 1000 });
    const later = new Date(Date.now() + 90_000);
    assert.equal((await cb((d) => store.touch(ID, { cookie: { expires: later } } as any, d))).err, null);
    assert.equal(fake.sessions.get(ID)!.expires, later.getTime());
    assert.equal((await cb((d) => store.destroy(ID, d))).err, null);
    assert.equal((await cb<any>((d) => store.get(ID, d))).value, null);
  });

  it('a touch that barely moves the expiry (right after a save) is not sent; one that moves it past touchAfterMs is', async () => {
    const fake = new FakeSessions();
    const touches: number[] = [];
    const sessions = { ...bind(fake), touch: async (id: string, expires: number) => { touches.push(expires); await fake.touch(id, expires); } };
    const store = new CohortSessionStore({ client: { sessions }, node: 'A', touchAfterMs: 60_000 });
    const expires = Date.now() + 86_400_000;
    assert.equal((await cb((d) => store.set(ID, { cookie: { expires: new Date(expires) } } as any, d))).err, null);
    assert.equal((await cb((d) => store.touch(ID, { cookie: { expires: new Date(expires + 50) } } as any, d))).err, null);
    assert.deepEqual(touches, [], 'express-session touches after every save: that one is not sent');
    assert.equal((await cb((d) => store.touch(ID, { cookie: { expires: new Date(expires + 61_000) } } as any, d))).err, null);
    assert.deepEqual(touches, [expires + 61_000]);
    assert.equal((await cb((d) => store.touch(ID, { cookie: { expires: new Date(expires + 61_050) } } as any, d))).err, null);
    assert.equal((await cb((d) => store.touch(ID, { cookie: { expires: new Date(expires - 1000) } } as any, d))).err, null);
    assert.deepEqual(touches, [expires + 61_000, expires - 1000], 'a shorter expiry is always sent');
    // A session shorter-lived than touchAfterMs is touched every time (else it would end while in use).
    const SHORT = 'A~' + 's'.repeat(32);
    const soon = Date.now() + 30_000;
    assert.equal((await cb((d) => store.set(SHORT, { cookie: { expires: new Date(soon) } } as any, d))).err, null);
    assert.equal((await cb((d) => store.touch(SHORT, { cookie: { expires: new Date(soon + 500) } } as any, d))).err, null);
    assert.deepEqual(touches.slice(2), [soon + 500]);
    touches.splice(2);
    const eager = new CohortSessionStore({ client: { sessions }, node: 'A', touchAfterMs: 0 });
    assert.equal((await cb((d) => eager.set(ID, { cookie: { expires: new Date(expires) } } as any, d))).err, null);
    assert.equal((await cb((d) => eager.touch(ID, { cookie: { expires: new Date(expires) } } as any, d))).err, null);
    assert.equal(touches.length, 3, 'touchAfterMs: 0 sends every touch');
  });

  it('a malformed id reaches the callback as bad_args, on both stores, for every operation', async () => {
    const fake = new FakeSessions();
    const ex = new CohortSessionStore({ client: { sessions: fake }, node: 'A' });
    const fa = new CohortFastifyStore({ client: { sessions: fake }, node: 'A' });
    for (const bad of ['short', 'has space in it and is long', '../../etc/passwd/../../x', 'x'.repeat(161), '', 'é'.repeat(20)]) {
      for (const r of [
        await cb((d) => ex.get(bad, d)),
        await cb((d) => ex.set(bad, { cookie: {} } as any, d)),
        await cb((d) => ex.touch(bad, { cookie: {} } as any, d as any)),
        await cb((d) => ex.destroy(bad, d)),
        await cb((d) => fa.get(bad, d)),
        await cb((d) => fa.set(bad, {}, d)),
        await cb((d) => fa.destroy(bad, d)),
      ]) {
        assert.equal((r.err as { code?: string })?.code, 'bad_args', `id ${JSON.stringify(bad)}`);
      }
    }
    assert.equal(fake.writes.length, 0);
  });

  it('an oversized session is refused with too_large and nothing is written', async () => {
    const fake = new FakeSessions();
    const fa = new CohortFastifyStore({ client: { sessions: fake }, node: 'A' });
    const r = await cb((d) => fa.set(ID, { big: 'x'.repeat(70_000) }, d));
    assert.equal((r.err as { code?: string })?.code, 'too_large');
    assert.equal(fake.writes.length, 0);
  });

  it('genid makes ids of this node that the network accepts', () => {
    const store = new CohortSessionStore({ client: { sessions: new FakeSessions() }, node: 'J' });
    const id = store.genid();
    assert.match(id, /^J~[A-Za-z0-9_-]{32}$/);
    assert.notEqual(store.genid(), id);
    assert.throws(() => new CohortFastifyStore({ client: { sessions: new FakeSessions() }, node: '' }).genid(), /COHORT_NODE/);
  });
});

for (const [name, make] of [
  ['express-session', (f: FakeSessions) => expressApp({ client: { sessions: f }, node: 'C' }, { maxAge: 60_000 })],
  ['@fastify/session', (f: FakeSessions) => fastifyApp({ client: { sessions: f }, node: 'C' }, 60_000)],
] as const) {
  describe(`${name} over HTTP`, () => {
    it('keeps a session across requests, with an id of this node', async () => {
      const fake = new FakeSessions();
      const app: TestApp = await make(fake);
      try {
        const b = browser(app.url);
        const first = await b.get('/set?key=name&value=ada');
        assert.equal(first.status, 200);
        assert.match(first.body.id, /^C~/);
        await b.get('/set?key=lang&value=en');
        const shown = await b.get('/show');
        assert.equal(shown.body.id, first.body.id);
        assert.equal(shown.body.session.name, 'ada');
        assert.equal(shown.body.session.lang, 'en');
        assert.ok(fake.sessions.has(first.body.id));
        const exp = fake.sessions.get(first.body.id)!.expires;
        assert.ok(exp > Date.now() + 50_000 && exp <= Date.now() + 60_000, 'expiry from the cookie\'s maxAge');
      } finally {
        await app.close();
      }
    });

    it('a request that read before another wrote does not write back the stale value (three interleaved requests)', async () => {
      const fake = new FakeSessions();
      const app = await make(fake);
      try {
        const b = browser(app.url);
        const { body } = await b.get('/set?key=x&value=old');
        const r1 = b.get('/set?hold=1&key=a&value=1'); // reads x=old, then waits
        await waitFor('R1 to have read', () => app.arrived() === 1);
        await b.get('/set?key=x&value=new'); // R2 writes x
        const r3 = b.get('/set?hold=1&key=c&value=3'); // reads x=new, then waits
        await waitFor('R3 to have read', () => app.arrived() === 2);
        app.release();
        await Promise.all([r1, r3]);
        const data = (await fake.get(body.id))!.data;
        assert.equal(data.x, 'new', "R1 did not write back the x it read before R2's write");
        assert.equal(data.a, '1');
        assert.equal(data.c, '3');
        assert.equal(data.__cohortRead, undefined, 'the read id is never stored');
      } finally {
        await app.close();
      }
    });

    it('two concurrent requests of one session writing different keys both keep their writes', async () => {
      const fake = new FakeSessions();
      const app = await make(fake);
      try {
        const b = browser(app.url);
        const { body } = await b.get('/set?key=start&value=1');
        const writesBefore = fake.writes.length;
        const both = Promise.all([b.get('/set?hold=1&key=left&value=L'), b.get('/set?hold=1&key=right&value=R')]);
        await waitFor('both requests to have read the session', () => app.arrived() === 2);
        app.release();
        const results = await both;
        assert.deepEqual(results.map((r) => r.status), [200, 200]);
        const data = (await fake.get(body.id))!.data;
        assert.equal(data.left, 'L');
        assert.equal(data.right, 'R');
        assert.equal(data.start, '1');
        // each write carried its own key only (plus the cookie's new expiry), never the other's
        for (const w of fake.writes.slice(writesBefore)) {
          assert.equal(w.patch.replace, undefined);
          assert.ok(!('left' in (w.patch.set ?? {}) && 'right' in (w.patch.set ?? {})));
        }
      } finally {
        await app.close();
      }
    });

    it('an oversized session is refused with an error response; the app keeps serving', async () => {
      const fake = new FakeSessions();
      const app = await make(fake);
      try {
        const b = browser(app.url);
        await b.get('/set?key=a&value=1');
        const big = await b.get('/big');
        assert.ok(big.status >= 400, `status ${big.status}`);
        if (name === 'express-session') assert.equal(big.body.error, 'too_large');
        const shown = await b.get('/show');
        assert.equal(shown.status, 200);
        assert.equal(shown.body.session.a, '1');
        assert.equal(shown.body.session.big, undefined);
      } finally {
        await app.close();
      }
    });

    it('a malformed or forged cookie starts a fresh session; logout destroys it', async () => {
      const fake = new FakeSessions();
      const app = await make(fake);
      try {
        const b = browser(app.url);
        const { body } = await b.get('/set?key=a&value=1');
        for (const junk of ['connect.sid=s%3Anot-signed.zzz', 'sessionId=%%%', 'connect.sid=' + 'A'.repeat(5000), 'sessionId=../../x']) {
          const stranger = browser(app.url);
          stranger.cookie = junk;
          const r = await stranger.get('/show');
          assert.equal(r.status, 200, junk);
          assert.notEqual(r.body.id, body.id);
          assert.equal(r.body.session.a, undefined);
        }
        assert.equal((await b.get('/logout')).status, 200);
        assert.equal(fake.sessions.has(body.id), false);
        assert.equal((await b.get('/show')).body.session.a, undefined);
      } finally {
        await app.close();
      }
    });
  });
}
