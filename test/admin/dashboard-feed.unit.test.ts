import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { DashboardFeed, MAX_STREAMS } from '../../src/admin/dashboard-feed.ts';
import { dashboardPage } from '../../src/admin/dashboard-page.ts';
import { NodeHttpPort } from '../../src/node/http-port.ts';
import { waitFor } from '../harness/wait.ts';

/** Reads an event stream until `count` events have come (or the stream ends). */
async function events(res: Response, count: number): Promise<{ event: string; data: string }[]> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const out: { event: string; data: string }[] = [];
  while (out.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    let end;
    while ((end = text.indexOf('\n\n')) >= 0 && out.length < count) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data !== undefined) out.push({ event, data });
    }
  }
  await reader.cancel();
  return out;
}

describe('dashboard feed', () => {
  let server: Server;
  let feed: DashboardFeed;
  let builds = 0;
  let base = '';
  before(async () => {
    feed = new DashboardFeed('t', async () => ({ n: ++builds }));
    server = createServer((req, res) => {
      if (!feed.handle(req, res, req.url ?? '')) res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    feed.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('sends a status at once and then every second, one build for every stream, and forgets closed streams', async () => {
    const t0 = Date.now();
    const [a, b] = await Promise.all([fetch(`${base}/dashboard/events`), fetch(`${base}/dashboard/events`)]);
    assert.equal(a.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    assert.equal(a.headers.get('cache-control'), 'no-store');
    const [ea, eb] = await Promise.all([events(a, 2), events(b, 2)]);
    assert.equal(ea[0].event, 'status');
    assert.ok(JSON.parse(ea[0].data).n >= 1);
    assert.ok(Date.now() - t0 < 2500, 'the first at once, the second a second later');
    assert.deepEqual(eb.map((e) => JSON.parse(e.data).n), ea.map((e) => JSON.parse(e.data).n), 'both streams got the same builds');
    await waitFor('closed streams to be forgotten', () => feed.open === 0);
    const before = builds;
    await new Promise((r) => setTimeout(r, 1300));
    assert.equal(builds, before, 'no stream, no build');
  });

  it(`takes ${MAX_STREAMS} streams, answers 503 to one more, and only GET or HEAD`, async () => {
    const controllers = Array.from({ length: MAX_STREAMS }, () => new AbortController());
    try {
      const all = await Promise.all(controllers.map((c) => fetch(`${base}/dashboard/events`, { signal: c.signal })));
      assert.ok(all.every((r) => r.status === 200));
      const over = await fetch(`${base}/dashboard/events`);
      assert.equal(over.status, 503);
      assert.equal(over.headers.get('retry-after'), '10');
      await over.text();
      // Held to here: undici cancels the body of a Response that is garbage collected, closing its stream.
      assert.equal(all.length, MAX_STREAMS);
    } finally {
      for (const c of controllers) c.abort();
    }
    const post = await fetch(`${base}/dashboard`, { method: 'POST' });
    assert.equal(post.status, 405);
    await post.text();
    await waitFor('closed streams to be forgotten', () => feed.open === 0);
  });

  it('serves one self-contained page: a viewport, no external asset, the title escaped', async () => {
    const res = await fetch(`${base}/dashboard`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    const html = await res.text();
    assert.match(html, /<meta name="viewport" content="width=device-width, initial-scale=1">/);
    assert.doesNotMatch(html, /\bsrc=|\bhref=|@import|url\(/, 'no external asset');
    assert.doesNotMatch(html, /innerHTML/);
    const evil = dashboardPage('</script><script>alert(1)</script>');
    assert.equal(evil.split('<script>').length, 2, 'one script element: the title cannot open another');
    assert.match(evil, /<title>&#60;\/script&#62;/);
  });
});

describe("a node's dashboard beyond loopback", () => {
  it('is a 404 with the hint to use the front', async () => {
    const http = new NodeHttpPort({ host: '127.0.0.1', port: 0, dashboardRefusal: 'use the front', log: pino({ level: 'silent' }) });
    await http.start();
    try {
      const port = (http.server.address() as AddressInfo).port;
      for (const path of ['/dashboard', '/dashboard/events']) {
        const res = await fetch(`http://127.0.0.1:${port}${path}`);
        assert.equal(res.status, 404);
        assert.match(await res.text(), /use the front/);
      }
    } finally {
      await http.stop();
    }
  });
});

describe("a node's dashboard with the host table's admin token", () => {
  it('answers 401 without the token or with a wrong one, and serves the page and its events to whoever shows it (header or ?token=)', async () => {
    const token = 'node-admin-token-0123456789';
    const feed = new DashboardFeed('t', async () => ({ n: 1 }));
    const http = new NodeHttpPort({ host: '127.0.0.1', port: 0, dashboard: feed, adminToken: token, log: pino({ level: 'silent' }) });
    await http.start();
    try {
      const base = `http://127.0.0.1:${(http.server.address() as AddressInfo).port}`;
      for (const [path, headers] of [['/dashboard', {}], ['/dashboard?token=wrong', {}], ['/dashboard/events', {}], ['/dashboard/events?token=', {}], ['/dashboard', { authorization: `Bearer ${token}x` }], [`/dashboard?token=${token}`, { authorization: 'Bearer wrong' }]] as const) {
        const res = await fetch(`${base}${path}`, { headers });
        assert.equal(res.status, 401, `${path} ${JSON.stringify(headers)}`);
        assert.equal(res.headers.get('www-authenticate'), 'Bearer');
        await res.text();
      }
      const page = await fetch(`${base}/dashboard?token=${token}`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<title>t<\/title>/);
      assert.equal((await fetch(`${base}/dashboard`, { headers: { authorization: `Bearer ${token}` } }).then(async (r) => (await r.text(), r.status))), 200);
      const stream = await fetch(`${base}/dashboard/events?token=${encodeURIComponent(token)}`);
      assert.equal(stream.status, 200);
      assert.deepEqual(await events(stream, 1), [{ event: 'status', data: JSON.stringify({ n: 1 }) }]);
      // Through a front (X-Forwarded-For), not at all, token or not.
      assert.equal((await fetch(`${base}/dashboard?token=${token}`, { headers: { 'x-forwarded-for': '10.0.0.1' } })).status, 404);
    } finally {
      feed.close();
      await http.stop();
    }
  });
});

describe('a dashboard stream whose reader does not read', () => {
  it('holds at most one unread status for it, and closes it once it has stayed behind for stallMs', async () => {
    const big = 'x'.repeat(256 * 1024);
    let built = 0;
    const feed = new DashboardFeed('t', async () => ({ n: ++built, big }), { tickMs: 20, stallMs: 1500 });
    const server = createServer((req, res) => {
      if (!feed.handle(req, res, req.url ?? '')) res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
    try {
      socket.pause(); // reads nothing: the kernel's buffers fill, then ours would
      socket.write('GET /dashboard/events HTTP/1.1\r\nHost: x\r\n\r\n');
      await waitFor('the feed to hold unread bytes', () => feed.unreadBytes > 0, 10_000);
      let most = 0;
      const from = built;
      await waitFor('ten more statuses built', () => {
        most = Math.max(most, feed.unreadBytes);
        return built >= from + 10;
      }, 10_000, 5);
      assert.ok(most < 2 * big.length, `unread bytes held: ${most} (one status is ${big.length})`);
      await waitFor('the stalled stream closed', () => feed.open === 0, 5000);
    } finally {
      socket.destroy();
      feed.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
