// The example session app on connect-redis with a real redis-server: one session across two
// app processes; Redis killed mid-run gives clear 503s (no crash, no hang); Redis back on the
// same port: requests work again.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, test } from 'node:test';
import { freePorts } from '../harness/ports.ts';
import { waitFor } from '../harness/wait.ts';
import { browser } from './http-apps.ts';
import { alive, redisServerBinary, startRedis, startSessionApp, stopProcess } from './processes.ts';

const binary = redisServerBinary();
const procs: ChildProcess[] = [];
after(async () => {
  for (const p of procs) await stopProcess(p, 'SIGKILL');
});

test('connect-redis: a session across two app processes, Redis killed and back', { skip: binary ? false : 'no redis-server (apt-get install -y redis-server)' }, async () => {
  const [redisPort, port1, port2] = await freePorts(3);
  let redis = await startRedis(binary!, redisPort);
  procs.push(redis);
  const env = { SESSION_STORE: 'redis', REDIS_URL: `redis://127.0.0.1:${redisPort}` };
  const [app1, app2] = await Promise.all([startSessionApp(port1, env), startSessionApp(port2, env)]);
  procs.push(app1.proc, app2.proc);

  // One browser, alternating between the two app processes: one session, counted in Redis.
  const b1 = browser(app1.url);
  assert.equal((await b1.get('/visit')).body.visits, 1);
  assert.equal((await b1.get('/visit')).body.visits, 2);
  const b2 = browser(app2.url);
  b2.cookie = b1.cookie;
  const third = await b2.get('/visit');
  assert.equal(third.body.visits, 3, 'the second process sees the session');
  b1.cookie = b2.cookie;
  assert.equal((await b1.get('/visit')).body.visits, 4);

  // Redis killed mid-run: each request gets a clear 503 quickly, neither app dies.
  await stopProcess(redis, 'SIGKILL');
  for (const b of [b1, b2, b1, b2]) {
    const started = Date.now();
    const r = await b.get('/visit');
    assert.equal(r.status, 503);
    assert.equal(r.body.error, 'session store unavailable');
    assert.ok(r.body.message, 'the reason is given');
    assert.ok(Date.now() - started < 3000, 'no hang while Redis is down');
  }
  const fresh = browser(app1.url);
  assert.equal((await fresh.get('/visit')).status, 503, 'a new visitor too');
  assert.ok(alive(app1.proc) && alive(app2.proc), 'no crash');
  assert.match(app1.output(), /redis: .*reconnecting/);

  // Redis back on the same port (empty: it kept nothing): both apps work again on their own.
  redis = await startRedis(binary!, redisPort);
  procs.push(redis);
  for (const b of [b1, b2]) await waitFor('the app to reach Redis again', async () => (await b.get('/visit')).status === 200, 15_000);
  const again = browser(app1.url);
  assert.equal((await again.get('/visit')).body.visits, 1);
  const other = browser(app2.url);
  other.cookie = again.cookie;
  assert.equal((await other.get('/visit')).body.visits, 2, 'sessions shared again across processes');
  assert.ok(alive(app1.proc) && alive(app2.proc));
});
