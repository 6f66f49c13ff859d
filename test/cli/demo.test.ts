import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { Agent } from 'undici';
import { runCli } from '../harness/cli.ts';
import { browse, Jar } from '../harness/cookie-jar.ts';
import { logIn, startDemo, stopDemo } from '../harness/demo.ts';
import { freeDemoBase } from '../harness/ports.ts';


const visitsOf = (text: string) => Number(/Visits in this session: (\d+)/.exec(text)?.[1]);

describe('cohort demo', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cohort-demo-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the host table and certificates, starts eight nodes, their supervised app instances and the front, shows every link up, serves a request, and stops them', async () => {
    // Below the kernel's ephemeral range (32768 and up), so no client socket of another test
    // sits on the block; the demo refuses a busy block, and then we try another.
    let result;
    for (let attempt = 0; ; attempt++) {
      const base = await freeDemoBase();
      result = await runCli(['demo', '--dir', dir, '--base-port', String(base), '--until-ready'], { timeoutMs: 60_000 });
      if (!/are in use/.test(result.stderr) || attempt === 4) break;
    }
    assert.equal(result.code, 0, result.stderr + result.stdout);
    assert.match(result.stdout, /all 56 links up in \d+ ms/);
    assert.match(result.stdout, /user ann@msu created \(home A\)/);
    assert.match(result.stdout, /\/res\/msu\/ann\/welcome\.html published by ann on A/);
    const matrix = result.stdout.split('\n').filter((l) => /^[ACDEIJ] /.test(l));
    assert.equal(matrix.length, 6);
    for (const row of matrix) assert.equal(row.split(/\s+/).filter((c) => c === 'up').length, 7, row);
    assert.match(result.stdout, /front ready on https:\/\/127\.0\.0\.1:\d+\/: 2 app instances on each of C, D, I, J \(least_conn, sticky cookie\)/);
    assert.match(result.stdout, /through the front: Hello from the app on node [CDIJ], instance [CDIJ]\.\d+\.\d+/);
    assert.ok(existsSync(join(dir, 'hosts.yaml')));
    assert.equal(statSync(join(dir, 'tls', 'A.key')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'tls', 'ca.key')).mode & 0o777, 0o600);
    assert.equal(existsSync(join(dir, 'data', 'A', 'cohort.sock')), false, 'the socket file is removed on a clean stop');
  });

  it('logs the demo user in through the front (a new session id), keeps the visit count in the session across requests and an instance\'s death, and reuses the folder', async () => {
    const demo = await startDemo(dir);
    const front = demo.front;
    const out = demo.out;
    try {
      assert.match(out, /user ann@msu exists already \(home A\)/, 'the folder is reused: the user is there');
      assert.match(out, /log in there as ann \(domain msu\), password demo-password/);
      // HTTPS with the cluster CA's certificate: the printed curl line works, a client that
      // trusts only the system's roots is refused, plain HTTP answers 308 to the same path.
      const [, ca, httpsUrl, plainUrl] = /curl --cacert (\S+) (https:\/\/127\.0\.0\.1:\d+\/) \(plain (http:\/\/127\.0\.0\.1:\d+\/) answers 308/.exec(out)!;
      assert.equal(httpsUrl, front);
      const curl = spawnSync('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{scheme}', '--cacert', resolve(ca), httpsUrl], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(curl.stdout, '200 HTTPS', curl.stderr);
      await assert.rejects(fetch(front, { dispatcher: new Agent() } as RequestInit), (err: Error & { cause?: { code?: string } }) => /CERT|VERIFY|SELF_SIGNED|ISSUER/.test(err.cause?.code ?? ''), 'the system roots alone do not trust its certificate');
      const plain = await fetch(`${plainUrl}course?x=1`, { redirect: 'manual' });
      assert.equal(plain.status, 308);
      assert.equal(plain.headers.get('location'), `${front}course?x=1`);
      // The dashboards it prints answer: node C's, and the front's with its token.
      const [, nodeDash, frontDash] = /dashboard: (http:\/\/127\.0\.0\.1:\d+\/dashboard) .* (http:\/\/127\.0\.0\.1:\d+\/dashboard\?token=\w+) /.exec(out)!;
      for (const url of [nodeDash, frontDash]) {
        const dash = await fetch(url);
        assert.equal(dash.status, 200, url);
        assert.match(await dash.text(), /new EventSource/);
      }
      // ann's page, through the front's resources route (LARD/R over the access nodes' own HTTP ports).
      const resource = await fetch(`${front}res/msu/ann/welcome.html`);
      assert.equal(resource.status, 200);
      assert.match(await resource.text(), /Welcome to the course/);
      assert.match(resource.headers.get('etag') ?? '', /^"[0-9a-f]{64}"$/, 'the content digest (X-Cohort-* fields do not cross the front)');
      const jar = new Jar();
      let page = await browse(jar, front);
      assert.equal(page.res.status, 200);
      assert.equal(visitsOf(page.text), 1);
      assert.match(page.text, /<form method="post" action="\/login">/);
      assert.match(page.text, /Hello from the app on node [CDIJ], instance [CDIJ]\.\d+\.\d+/);
      assert.match(page.res.headers.get('x-served-by') ?? '', /^[CDIJ]\.\d+\.\d+$/);
      assert.equal(jar.cookies.get('demo_sid'), undefined, 'a first visit keeps no session');
      page = await browse(jar, front);
      assert.equal(visitsOf(page.text), 2);
      const before = jar.cookies.get('demo_sid');
      assert.ok(before, 'a session cookie from the second visit on');
      assert.match(page.res.headers.getSetCookie().find((c) => c.startsWith('demo_sid='))!, /HttpOnly.*SameSite=Lax/i);

      // A wrong password: 401, no session change.
      const wrong = await browse(jar, `${front}login`, { method: 'POST', body: new URLSearchParams({ user: 'ann', domain: 'msu', password: 'nope' }) });
      assert.equal(wrong.res.status, 401);
      assert.match(wrong.text, /Wrong name or password/);
      assert.equal(jar.cookies.get('demo_sid'), before);

      // Login: 303, to / here, or on with a hand-over to another node's app, which answers 303 to /.
      await logIn(front, 'ann', 'msu', jar);
      const after = jar.cookies.get('demo_sid');
      assert.ok(after && after !== before, 'the session id changes at login');
      page = await browse(jar, front);
      assert.equal(page.res.status, 200);
      assert.match(page.text, /Logged in as <b>ann<\/b> \(domain msu/);
      assert.equal(visitsOf(page.text), 3, 'the count carried into the new session');
      page = await browse(jar, front);
      assert.equal(visitsOf(page.text), 4);

      // The old session id is gone: a browser still holding it starts afresh.
      const old = new Jar();
      old.cookies.set('demo_sid', before);
      const stale = await browse(old, front);
      assert.equal(visitsOf(stale.text), 1);
      assert.doesNotMatch(stale.text, /Logged in as/);

      // The instance that served her dies: the next one keeps counting, and she is still in.
      const pid = Number(/\(pid (\d+)\)/.exec(page.text)![1]);
      const served = page.res.headers.get('x-served-by');
      process.kill(pid, 'SIGKILL');
      page = await browse(jar, front);
      assert.equal(page.res.status, 200, page.text);
      assert.notEqual(page.res.headers.get('x-served-by'), served);
      assert.equal(visitsOf(page.text), 5);
      assert.match(page.text, /Logged in as <b>ann<\/b>/);

      const logout = await browse(jar, `${front}logout`, { method: 'POST' });
      assert.equal(logout.res.status, 303);
      page = await browse(jar, front);
      assert.doesNotMatch(page.text, /Logged in as/);
      assert.equal(visitsOf(page.text), 1);
    } finally {
      const code = await stopDemo(demo);
      assert.equal(code, 0, demo.out + demo.err);
    }
  });
});
