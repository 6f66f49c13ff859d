import assert from 'node:assert/strict';
import { writeFileSync, rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { runCli } from '../harness/cli.ts';
import { ADMIN_TOKEN, FrontCluster, STICKY_KEY } from '../harness/front-cluster.ts';
import { cookieFrom } from '../harness/cookie-jar.ts';
import { http, keepAliveAgent } from '../harness/http-client.ts';
import { RawHttp } from '../harness/raw-http.ts';
import { freePorts } from '../harness/ports.ts';
import { waitFor } from '../harness/wait.ts';

const COOKIE = 'cohort_srv';

describe('the HTTP front against real back-end processes', () => {
  let fc: FrontCluster;
  const agent = keepAliveAgent();

  before(async () => {
    fc = await FrontCluster.create(['b1', 'b2', 'b3'], { sticky: { mode: 'cookie', keys: [STICKY_KEY] } });
    await fc.startFront();
    await waitFor('every back-end ready', () => fc.allReady());
  });
  after(async () => {
    agent.destroy();
    await fc.destroy();
  });

  const backendOf = async (path = '/', headers: Record<string, string> = {}) => (await http(fc.url + path, { agent, headers })).json().backend as string;

  it('round robin: 300 requests on persistent connections split 100 / 100 / 100', async () => {
    const seen = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const b = await backendOf(`/r${i}`);
      seen.set(b, (seen.get(b) ?? 0) + 1);
    }
    assert.deepEqual([...seen.entries()].sort(), [['b1', 100], ['b2', 100], ['b3', 100]]);
  });

  it('passes the request through with X-Forwarded-*, without hop-by-hop headers', async () => {
    const r = await http(`${fc.url}/echo?x=1`, { method: 'POST', body: 'hello', headers: { 'content-type': 'text/plain', 'x-custom': 'v', connection: 'x-secret', 'x-secret': 'no', 'x-forwarded-for': '10.0.0.1' } });
    const echo = r.json();
    assert.equal(echo.method, 'POST');
    assert.equal(echo.url, '/echo?x=1');
    assert.equal(echo.body, 'hello');
    assert.equal(echo.headers['x-custom'], 'v');
    assert.equal(echo.headers['x-secret'], undefined, 'a header named in Connection is hop-by-hop');
    assert.equal(echo.headers['x-forwarded-for'], '10.0.0.1, 127.0.0.1');
    assert.equal(echo.headers['x-forwarded-proto'], 'http');
    assert.equal(echo.headers['x-forwarded-host'], `127.0.0.1:${fc.port}`);
  });

  it('streams chunked responses and large request bodies', async () => {
    const r = await http(`${fc.url}/chunked`);
    assert.match(r.body, /^b\d:done$/);
    const big = 'x'.repeat(300_000);
    const echo = (await http(`${fc.url}/echo`, { method: 'POST', body: big })).json();
    assert.equal(echo.body.length, big.length);
  });

  it('sticky cookie: 100 requests and a new TCP connection stay on one back-end; the cookie never reaches it', async () => {
    const first = await http(`${fc.url}/echo`, { agent });
    const cookie = cookieFrom(first, COOKIE)!;
    assert.ok(cookie, 'a sticky cookie is set');
    assert.ok(!/127\.0\.0\.1|\d{4,5}/.test(cookie.split('=')[1].split('.')[1]), 'the token reveals no address or port');
    assert.match(String(first.headers['cache-control']), /private/);
    const home = first.json().backend;
    for (let i = 0; i < 100; i++) {
      const r = await http(`${fc.url}/echo`, { agent, headers: { cookie: `${cookie}; theme=dark` } });
      assert.equal(r.json().backend, home);
      assert.equal(r.json().headers.cookie, 'theme=dark', 'the sticky cookie is removed before the back-end');
    }
    const fresh = await http(`${fc.url}/echo`, { agent: false, headers: { cookie } });
    assert.equal(fresh.json().backend, home);
  });

  it('a forged, tampered or unknown cookie is ignored and replaced', async () => {
    const good = cookieFrom(await http(`${fc.url}/`, { agent }), COOKIE)!;
    const [name, token] = good.split('=');
    const [issued, server, mac] = token.split('.');
    for (const bad of [`${issued}.${server}.${mac.slice(0, -2)}AA`, `${issued}.AAAAAAAAAAAA.${mac}`, 'garbage', `${(Date.now() / 1000 + 86_400 * 9).toString(36)}.${server}.${mac}`]) {
      const r = await http(`${fc.url}/`, { agent, headers: { cookie: `${name}=${bad}` } });
      assert.ok(cookieFrom(r, COOKIE), `a new cookie replaces ${bad}`);
      assert.notEqual(cookieFrom(r, COOKIE), `${name}=${bad}`);
    }
  });

  it('explains its routing to a client with the admin token, and to no one else', async () => {
    const r = await http(`${fc.url}/x`, { headers: { 'x-cohort-explain': ADMIN_TOKEN } });
    const route = JSON.parse(String(r.headers['x-cohort-route']));
    assert.equal(route.policy, 'round_robin');
    assert.equal(route.chose, r.json().backend);
    assert.deepEqual(route.candidates.sort(), ['b1', 'b2', 'b3']);
    assert.equal((await http(`${fc.url}/x`, { headers: { 'x-cohort-explain': 'wrong' } })).headers['x-cohort-route'], undefined);
  });

  it('WebSocket echo works through the front', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${fc.port}/chat`);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const reply = new Promise<string>((resolve) => ws.once('message', (d) => resolve(d.toString())));
    ws.send('hello');
    assert.match(await reply, /^b\d:hello$/);
    ws.close();
  });

  it('a WebSocket with a sticky cookie goes to its session\'s back-end, without the cookie', async () => {
    const first = await http(`${fc.url}/`);
    const cookie = cookieFrom(first, COOKIE)!;
    const home = first.json().backend;
    for (let i = 0; i < 5; i++) {
      const ws = new WebSocket(`ws://127.0.0.1:${fc.port}/chat`, { headers: { cookie } });
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      const reply = new Promise<string>((resolve) => ws.once('message', (d) => resolve(d.toString())));
      ws.send('hi');
      assert.equal(await reply, `${home}:hi`);
      ws.close();
    }
  });

  it('a sticky cookie in a second Cookie field is honoured and taken out; the other cookies reach the app once', async () => {
    const first = await http(`${fc.url}/`);
    const home = first.json().backend as string;
    const sticky = cookieFrom(first, COOKIE)!;
    const c = await RawHttp.open(fc.port);
    try {
      for (let i = 1; i <= 6; i++) {
        c.write(`GET /echo HTTP/1.1\r\nHost: x\r\nCookie: a=1\r\nCookie: ${sticky}; b=2\r\n\r\n`);
        const echo = JSON.parse((await c.responses(i))[i - 1].body);
        assert.equal(echo.backend, home);
        assert.equal(echo.headers.cookie, 'a=1; b=2');
      }
    } finally {
      c.destroy();
    }
  });

  it('a POST whose connection is refused goes to another back-end: nothing was sent', async () => {
    const [dead] = await freePorts(1);
    // Health checked rarely, so the dead back-end is still thought ready when the POSTs come.
    fc.writeConfig({ ...fc.frontConfig, backends: [{ id: 'dead', host: '127.0.0.1', port: dead }, { id: 'b1', host: '127.0.0.1', port: fc.backendPorts.get('b1')! }], policy: 'round_robin', health: { path: '/healthz', intervalMs: 60_000, timeoutMs: 500, rise: 1, fall: 100, slowStartMs: 0, ejectMs: 2000 } });
    try {
      assert.equal((await runCli(['front', 'reload', '--config', fc.config])).code, 0);
      let retries = 0;
      for (let i = 0; i < 2; i++) {
        const r = await http(`${fc.url}/echo`, { method: 'POST', body: `pay once ${i}`, headers: { 'x-cohort-explain': ADMIN_TOKEN } });
        assert.equal(r.status, 200);
        assert.equal(r.json().body, `pay once ${i}`, 'the whole body reached b1');
        retries += JSON.parse(String(r.headers['x-cohort-route'])).retries as number;
      }
      assert.equal(retries, 1, 'one of the two went to the dead back-end first');
    } finally {
      fc.writeConfig();
      assert.equal((await runCli(['front', 'reload', '--config', fc.config])).code, 0);
    }
  });

  it('a non-idempotent request is never replayed; an idempotent one moves to another back-end', async () => {
    const before = await Promise.all(['b1', 'b2', 'b3'].map(async (b) => (await http(`http://127.0.0.1:${fc.backendPorts.get(b)}/count`)).json().requests as number));
    const post = await http(`${fc.url}/hang`, { method: 'POST', body: 'pay once' });
    assert.equal(post.status, 502);
    const afterPost = await Promise.all(['b1', 'b2', 'b3'].map(async (b) => (await http(`http://127.0.0.1:${fc.backendPorts.get(b)}/count`)).json().requests as number));
    const delta = afterPost.reduce((a, n, i) => a + n - before[i] - 1, 0); // each /count call counts itself
    assert.equal(delta, 1, 'exactly one back-end saw the POST');
    // Any client can add an Idempotency-Key: it counts only where the config says the app honours it.
    const keyed = async () => {
      const r = await http(`${fc.url}/hang`, { method: 'POST', body: 'x', headers: { 'idempotency-key': 'k1', 'x-cohort-explain': ADMIN_TOKEN } });
      assert.equal(r.status, 502);
      return JSON.parse(String(r.headers['x-cohort-route'])).retries as number;
    };
    assert.equal(await keyed(), 0, 'by default an Idempotency-Key makes nothing replayable');
    fc.writeConfig({ sticky: { mode: 'cookie', keys: [STICKY_KEY] }, retries: { idempotencyKey: true } });
    assert.equal((await runCli(['front', 'reload', '--config', fc.config])).code, 0);
    assert.equal(await keyed(), 2, 'with retries.idempotencyKey it was retried elsewhere');
    fc.writeConfig({ sticky: { mode: 'cookie', keys: [STICKY_KEY] } });
    assert.equal((await runCli(['front', 'reload', '--config', fc.config])).code, 0);
  });

  it('kill -9 of a back-end under a steady load of GETs: no GET fails', async () => {
    let failures = 0;
    let done = 0;
    let stop = false;
    const load = Promise.all(Array.from({ length: 8 }, async () => {
      const a = keepAliveAgent();
      while (!stop) {
        const r = await http(`${fc.url}/slow?ms=2`, { agent: a }).catch(() => ({ status: 0 }));
        if (r.status !== 200) failures++;
        done++;
      }
      a.destroy();
    }));
    await waitFor('load under way', () => done > 200);
    await fc.killBackend('b2');
    const at = done;
    await waitFor('more load after the kill', () => done > at + 500, 20_000);
    stop = true;
    await load;
    assert.equal(failures, 0, `${failures} of ${done} GETs failed`);
    await waitFor('b2 marked down', async () => (await fc.status()).backends.find((b) => b.id === 'b2')!.state !== 'ready');
    await fc.startBackend('b2');
    await waitFor('b2 back', () => fc.allReady());
  });

  it('a DYING back-end gets no new sessions but keeps its existing ones; draining progress is reported', async () => {
    // A session on b1.
    let cookie = '';
    for (let i = 0; i < 10 && !cookie; i++) {
      const r = await http(`${fc.url}/`, {});
      if (r.json().backend === 'b1') cookie = cookieFrom(r, COOKIE)!;
    }
    assert.ok(cookie);
    const drain = await runCli(['front', 'drain', 'b1', '--config', fc.config]);
    assert.equal(drain.code, 0, drain.stderr);
    assert.match(drain.stdout, /b1 draining; [1-9]\d* live sessions left/);
    for (let i = 0; i < 60; i++) assert.notEqual((await http(`${fc.url}/`)).json().backend, 'b1', 'no new session on b1');
    for (let i = 0; i < 10; i++) assert.equal((await http(`${fc.url}/`, { headers: { cookie } })).json().backend, 'b1', 'its session stays');
    const status = (await fc.status()).backends.find((b) => b.id === 'b1')!;
    assert.equal(status.state, 'draining');
    assert.ok(status.liveSessions >= 1);
    assert.equal((await runCli(['front', 'ready', 'b1', '--config', fc.config])).code, 0);
    // The app itself can ask to be drained with a response header.
    const asked = (await http(`${fc.url}/drain`)).json().backend as string;
    const after = await fc.status();
    assert.deepEqual(after.backends.filter((b) => b.admin === 'draining').map((b) => b.id), [asked]);
    assert.equal((await runCli(['front', 'ready', asked, '--config', fc.config])).code, 0);
    await waitFor('all ready', () => fc.allReady());
  });

  it('an unhealthy back-end (failing checks) gets nothing until it recovers', async () => {
    writeFileSync(fc.unhealthyFlag('b3'), '');
    await waitFor('b3 down', async () => (await fc.status()).backends.find((b) => b.id === 'b3')!.state === 'down');
    for (let i = 0; i < 30; i++) assert.notEqual(await backendOf('/'), 'b3');
    rmSync(fc.unhealthyFlag('b3'));
    await waitFor('b3 ready', () => fc.allReady());
  });

  it('reload: an invalid config changes nothing; a valid one applies without dropping connections', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${fc.port}/`);
    await new Promise((r) => ws.once('open', r));
    fc.writeConfig({ sticky: { mode: 'cookie', keys: [STICKY_KEY] }, policy: 'nonsense' });
    const bad = await runCli(['front', 'reload', '--config', fc.config]);
    assert.equal(bad.code, 2, 'the CLI checks the file first');
    assert.match(bad.stderr, /front\.policy: Invalid option/);
    const direct = await fetch(`http://127.0.0.1:${fc.adminPort}/reload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(direct.status, 400);
    assert.match(((await direct.json()) as { error: string }).error, /front\.policy/);
    fc.signalFront('SIGHUP');
    await waitFor('the SIGHUP reload to be rejected', () => fc.frontLog.includes('"event":"reload_rejected"'));
    assert.equal((await fc.status()).policy, 'round_robin', 'nothing changed');
    fc.writeConfig({ sticky: { mode: 'cookie', keys: [STICKY_KEY] }, policy: 'least_conn' });
    const good = await runCli(['front', 'reload', '--config', fc.config]);
    assert.equal(good.code, 0, good.stderr);
    assert.equal((await fc.status()).policy, 'least_conn');
    fc.writeConfig({ sticky: { mode: 'cookie', keys: [STICKY_KEY] }, policy: 'p2c' });
    fc.signalFront('SIGHUP');
    await waitFor('SIGHUP reload', async () => (await fc.status()).policy === 'p2c');
    const echo = new Promise<string>((r) => ws.once('message', (d) => r(d.toString())));
    ws.send('still here');
    assert.match(await echo, /still here/, 'the open WebSocket survived both reloads');
    ws.close();
  });

  it('draining counts a session live while its WebSocket is open, however long since its last request', async () => {
    fc.writeConfig({ sticky: { mode: 'cookie', keys: [STICKY_KEY], sessionIdleS: 1 } });
    assert.equal((await runCli(['front', 'reload', '--config', fc.config])).code, 0);
    // Two sessions on one back-end: one only makes a request, the other also opens a WebSocket.
    const cookies = new Map<string, string[]>();
    let home = '';
    while (!home) {
      const r = await http(`${fc.url}/`);
      const b = r.json().backend as string;
      cookies.set(b, [...(cookies.get(b) ?? []), cookieFrom(r, COOKIE)!]);
      if (cookies.get(b)!.length === 2) home = b;
    }
    const ws = new WebSocket(`ws://127.0.0.1:${fc.port}/chat`, { headers: { cookie: cookies.get(home)![1] } });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    // The request-only session is seen last, after the WebSocket opened.
    assert.equal((await http(`${fc.url}/`, { headers: { cookie: cookies.get(home)![0] } })).json().backend, home);
    const lastRequest = Date.now();
    const live = async () => (await fc.status()).backends.find((b) => b.id === home)!.liveSessions;
    await waitFor('the request-only session to go idle while the WebSocket one stays live', async () => Date.now() - lastRequest > 1500 && (await live()) === 1, 5000, 100);
    ws.close();
    await waitFor('the WebSocket session to go idle after its close', async () => (await live()) === 0, 5000, 100);
    fc.writeConfig({ sticky: { mode: 'cookie', keys: [STICKY_KEY] } });
    assert.equal((await runCli(['front', 'reload', '--config', fc.config])).code, 0);
  });

  it('no back-end up: 503 with Retry-After', async () => {
    for (const b of ['b1', 'b2', 'b3']) writeFileSync(fc.unhealthyFlag(b), '');
    await waitFor('all down', async () => (await fc.status()).backends.every((b) => b.state === 'down'));
    const r = await http(`${fc.url}/`);
    assert.equal(r.status, 503);
    assert.equal(r.headers['retry-after'], '5');
    for (const b of ['b1', 'b2', 'b3']) rmSync(fc.unhealthyFlag(b));
    await waitFor('all back', () => fc.allReady());
  });
});
