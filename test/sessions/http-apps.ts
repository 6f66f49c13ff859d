// Small express and fastify apps on the Cohort session stores, for tests over real HTTP.
import type { AddressInfo } from 'node:net';
import express from 'express';
import session from 'express-session';
import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import Fastify from 'fastify';
import { CohortSessionStore } from '../../src/client/express-store.ts';
import { CohortFastifyStore } from '../../src/client/fastify-store.ts';
import type { CohortStoreOptions } from '../../src/client/adapter-core.ts';
import { Jar } from '../harness/cookie-jar.ts';

export interface TestApp {
  url: string;
  /** Requests to /set wait here until release() (so two can read the same session before either writes). */
  arrived: () => number;
  release: () => void;
  close: () => Promise<void>;
}

function gate() {
  let arrived = 0;
  let open!: () => void;
  let opened = new Promise<void>((r) => (open = r));
  return {
    arrived: () => arrived,
    release: () => {
      open();
      opened = new Promise<void>((r) => (open = r));
      arrived = 0;
    },
    wait: async (hold: boolean) => {
      if (!hold) return;
      arrived++;
      await opened;
    },
  };
}

export async function expressApp(opts: CohortStoreOptions, cookie: session.CookieOptions = {}): Promise<TestApp & { store: CohortSessionStore }> {
  const store = new CohortSessionStore(opts);
  const g = gate();
  const app = express();
  app.use(session({ store, genid: store.genid, secret: 'test secret', resave: false, saveUninitialized: false, cookie }));
  app.get('/set', async (req, res) => {
    await g.wait(req.query.hold === '1');
    (req.session as unknown as Record<string, unknown>)[String(req.query.key)] = String(req.query.value);
    res.json({ id: req.sessionID });
  });
  app.get('/unset', (req, res) => {
    delete (req.session as unknown as Record<string, unknown>)[String(req.query.key)];
    res.json({ id: req.sessionID });
  });
  app.get('/show', (req, res) => res.json({ id: req.sessionID, session: req.session }));
  app.get('/big', (req, res) => {
    (req.session as unknown as Record<string, unknown>).big = 'x'.repeat(70_000);
    req.session.save((err) => (err ? res.status(413).json({ error: (err as { code?: string }).code }) : res.json({ ok: true })));
  });
  app.get('/logout', (req, res) => req.session.destroy(() => res.json({ ok: true })));
  app.use((err: { code?: string; message: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(503).json({ error: err.code ?? 'internal', message: err.message });
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return {
    store,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    arrived: g.arrived,
    release: g.release,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

export async function fastifyApp(opts: CohortStoreOptions, maxAge?: number): Promise<TestApp & { store: CohortFastifyStore }> {
  const store = new CohortFastifyStore(opts);
  const g = gate();
  const app = Fastify();
  await app.register(fastifyCookie);
  await app.register(fastifySession, {
    store,
    idGenerator: store.genid,
    secret: 'a test secret that is at least thirty-two characters',
    saveUninitialized: false,
    cookie: { secure: false, ...(maxAge ? { maxAge } : {}) },
  });
  app.get('/set', async (req) => {
    const q = req.query as Record<string, string>;
    await g.wait(q.hold === '1');
    req.session.set(q.key as never, q.value as never);
    return { id: req.session.sessionId };
  });
  app.get('/show', async (req) => ({ id: req.session.sessionId, session: JSON.parse(JSON.stringify(req.session)) }));
  app.get('/big', async (req) => {
    req.session.set('big' as never, 'x'.repeat(70_000) as never);
    return { ok: true };
  });
  app.get('/logout', async (req) => {
    await req.session.destroy();
    return { ok: true };
  });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  return { store, url: address, arrived: g.arrived, release: g.release, close: () => app.close() };
}

/** GETs on one app with the harness's cookie jar; `cookie` reads or replaces what it holds ("name=value"). */
export function browser(base: string) {
  const jar = new Jar();
  return {
    get cookie() {
      return jar.cookieHeader();
    },
    set cookie(c: string) {
      jar.cookies.clear();
      const eq = c.indexOf('=');
      if (eq > 0) jar.cookies.set(c.slice(0, eq), c.slice(eq + 1));
    },
    async get(path: string): Promise<{ status: number; body: any }> {
      const { res, text } = await jar.send(base + path);
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {}
      return { status: res.status, body };
    },
  };
}
