import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Jar } from '../harness/cookie-jar.ts';
import { FrontProcess } from '../harness/front-process.ts';
import { TestCluster } from '../harness/cluster.ts';
import { readLog } from '../harness/log.ts';
import { freePortRange, freePorts } from '../harness/ports.ts';
import { waitFor } from '../harness/wait.ts';

// A login handed over through the front, with the demo app, all real processes: L (library,
// ann's home), access nodes A (over 100%, its spare is B) and B, one demo-app instance each,
// and `cohort front` logging every routing decision (debug). The hand-over link is bound to the
// browser that logged in (a nonce cookie), and its token never reaches a log.
const DEMO_APP = fileURLToPath(new URL('../../examples/demo-app.ts', import.meta.url));
const TOKEN = 'handover-browser-admin-token-0123';
let c: TestCluster;
let front: FrontProcess;
let url: string;
let adminPort: number;
const frontLog = () => readLog(join(c.dir, 'front.log'));
const setLoad = (id: string, avg: number) => writeFileSync(join(c.dir, `loadavg-${id}`), `${avg} 0 0 1/1 1\n`);

before(async () => {
  const [listen, admin] = await freePorts(2);
  adminPort = admin;
  url = `http://127.0.0.1:${listen}`;
  c = await TestCluster.create(
    [{ id: 'L', role: 'library' }, { id: 'A', spares: ['B'], app: { basePort: await freePortRange(10) } }, { id: 'B', app: { basePort: await freePortRange(10) } }],
    {
      load: { fullAt: 1, userLimit: 0, sessionWindowMin: 10, handoverTtlS: 30 },
      app: { command: [process.execPath, DEMO_APP], instances: 1, portSpan: 10, health: { path: '/healthz', intervalMs: 500, timeoutMs: 500, fails: 3 }, killTimeoutMs: 3000 },
      front: {
        listen: { host: '127.0.0.1', port: listen },
        admin: { host: '127.0.0.1', port: admin, token: TOKEN },
        backends: 'apps',
        node: 'L',
        policy: 'round_robin',
        sticky: { mode: 'cookie', keys: ['handover-browser-sticky-key-0123456789'] },
        health: { path: '/healthz', intervalMs: 200, timeoutMs: 1000, rise: 1, fall: 3, slowStartMs: 0 },
      },
    },
  );
  setLoad('L', 0.1);
  setLoad('A', 1.5);
  setLoad('B', 0.1);
  for (const id of c.ids) await c.start(id, { COHORT_LOADAVG_FILE: join(c.dir, `loadavg-${id}`) });
  await (await c.client('A')).auth.addUser({ domain: 'msu', user: 'ann' }, 'L', 'demo-password');
  front = FrontProcess.start(c.config, { port: adminPort, token: TOKEN }, { args: ['--log-level', 'debug'], logFile: join(c.dir, 'front.log') });
  await front.waitFor('the front to route to both app instances', (s) => s.backends.filter((b) => b.state === 'ready').length === 2, 60_000, 100);
});
after(async () => {
  await front?.stop();
  await c?.destroy();
});

/** A browser whose sticky cookie names A's app instance (where a login is handed over to B). */
async function browserOnA(): Promise<Jar> {
  return waitFor('a browser on A', async () => {
    const jar = new Jar();
    const { res } = await jar.send(`${url}/`);
    return res.status === 200 && String(res.headers.get('x-served-by')).startsWith('A.') ? jar : undefined;
  }, 30_000, 0);
}

test('a hand-over link works in the browser that logged in, and in no other; its token is in no log', async () => {
  const her = await browserOnA();
  const login = await her.send(`${url}/login`, { method: 'POST', body: new URLSearchParams({ user: 'ann', domain: 'msu', password: 'demo-password' }) });
  assert.equal(login.res.status, 303, login.text);
  const link = login.res.headers.get('location')!;
  const token = /^\/login\/handover\?cohort_handover=(B\.[A-Za-z0-9_-]{43})$/.exec(link)?.[1];
  assert.ok(token, `a hand-over to B on the landing path: ${link}`);
  const nonceCookie = login.res.headers.getSetCookie().find((s) => s.startsWith('cohort_handover_nonce='));
  assert.ok(nonceCookie, 'the nonce cookie comes with the redirect');
  for (const attr of ['HttpOnly', 'SameSite=Lax', 'Path=/login/handover', 'Max-Age=30']) assert.ok(nonceCookie.split('; ').includes(attr), `${attr} in ${nonceCookie}`);

  // Another browser (the victim of a login CSRF, with a session of her own) sent to the link: refused, nobody logged in.
  const other = new Jar();
  await other.send(`${url}/`);
  const taken = await other.send(`${url}${link}`);
  assert.equal(taken.res.status, 401, taken.text);
  assert.match(taken.text, /another browser/);
  assert.ok(!taken.res.headers.getSetCookie().some((s) => s.startsWith('demo_sid=')), 'no session for the other browser');
  const otherHome = await other.send(`${url}/`);
  assert.doesNotMatch(otherHome.text, /Logged in as/);

  // The browser that logged in: the same link takes her to B, logged in there.
  const mine = await her.send(`${url}${link}`);
  assert.equal(mine.res.status, 303, mine.text);
  assert.equal(mine.res.headers.get('location'), '/');
  assert.match(String(mine.res.headers.get('x-served-by')), /^B\./);
  const home = await her.send(`${url}/`);
  assert.match(home.text, /Logged in as <b>ann<\/b> \(domain msu, logged in on node B\)/);
  // Used once: the link again, even in her browser, is refused.
  her.cookies.set('cohort_handover_nonce', nonceCookie.slice('cohort_handover_nonce='.length).split(';')[0]);
  assert.equal((await her.send(`${url}${link}`)).res.status, 401);

  // The token is in no log line: the front's (debug: every request, with its target) and the nodes'.
  await waitFor('the front to log the take-up', () => frontLog().includes('"target":"/login/handover?cohort_handover='), 10_000, 50);
  assert.ok(!frontLog().includes(token.slice(2)), 'the token is not in the front\'s log');
  assert.ok(frontLog().includes('cohort_handover=[redacted]'));
  for (const id of c.ids) assert.ok(!c.log(id).includes(token.slice(2)), `the token is not in node ${id}'s log`);
});

test('a cohort_handover on any other path than the landing one does not move a browser off its back-end', async () => {
  const jar = await browserOnA();
  for (const path of [`/?cohort_handover=B.${'Q'.repeat(43)}`, `/course?cohort_handover=B.${'Q'.repeat(43)}`]) {
    for (let i = 0; i < 3; i++) {
      const { res } = await jar.send(`${url}${path}`);
      assert.match(String(res.headers.get('x-served-by')), /^A\./, path);
    }
  }
});
