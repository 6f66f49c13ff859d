import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { DashboardFeed, MAX_STREAMS } from '../../src/admin/dashboard-feed.ts';
import { spawnNodeProcess } from '../../src/node/spawn.ts';
import { nodePid, startDemo, stopDemo, type RunningDemo } from '../harness/demo.ts';
import { stopProcess } from '../harness/stop.ts';
import { waitFor } from '../harness/wait.ts';

/** Debian's chromium (CI installs it: .ci/run). Without it this test fails, it does not skip. */
const CHROMIUM = '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const OUTPUT = join(ROOT, 'test-output');

async function launch(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) assert.fail(`${CHROMIUM} not found: the dashboard's browser test needs Debian's chromium (apt-get install -y chromium)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}


const card = (page: Page, id: string, state: string) => page.locator(`.card[data-node="${id}"][data-state="${state}"]`);

describe('dashboard (chromium)', () => {
  let browser: Browser;
  before(async () => {
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
  });

  describe('on the demo cluster', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cohort-dash-'));
    let demo: RunningDemo | undefined;
    let restarted: ChildProcess | undefined;
    let out = '';
    let nodeDash = '';
    let frontDash = '';
    before(async () => {
      // `cohort demo` as README runs it: eight nodes, their app instances, the front (about 7 s).
      demo = await startDemo(dir);
      out = demo.out;
      [, nodeDash, frontDash] = /dashboard: (http:\/\/127\.0\.0\.1:\d+\/dashboard) .* (http:\/\/127\.0\.0\.1:\d+\/dashboard\?token=\w+) /.exec(out)!;
    });
    after(async () => {
      await stopProcess(restarted);
      if (demo) await stopDemo(demo);
      rmSync(dir, { recursive: true, force: true });
    });

    it("renders the demo cluster on node C's dashboard, turns a node killed with -9 red within 5 s and green when it returns, and writes a screenshot", async () => {
      const started = Date.now();
      const ids = ['A', 'C', 'D', 'E', 'I', 'J', 'B', 'K'];
      const page = await browser.newPage({ viewport: { width: 390, height: 844 } }); // a phone's screen
      try {
        const res = await page.goto(nodeDash);
        assert.equal(res?.status(), 200);
        assert.match(res!.headers()['content-security-policy'] ?? '', /default-src 'none'/);
        assert.match(await page.title(), /node C/);
        for (const id of ids) await card(page, id, 'green').waitFor({ timeout: 10_000 });
        // Round trips in the link matrix, app instances on the access nodes, ann's page published on A.
        await page.locator('#matrix td.up').first().waitFor();
        assert.match(await card(page, 'D', 'green').innerText(), /D\.\d+\.\d+\s+ready/);
        assert.match(await card(page, 'A', 'green').innerText(), /\/res\/msu\/ann\/welcome\.html/);

        const pid = nodePid(dir, 'D');
        process.kill(pid, 'SIGKILL');
        const killed = Date.now();
        await card(page, 'D', 'red').waitFor({ timeout: 5000 });
        const redMs = Date.now() - killed;
        assert.match(await card(page, 'D', 'red').innerText(), /unreachable/);
        // The others see their link to D down: amber, not red.
        await card(page, 'A', 'amber').waitFor({ timeout: 5000 });

        const config = join(dir, 'hosts.yaml');
        restarted = spawnNodeProcess(config, 'D', join(dir, 'logs', 'D.log'));
        const back = Date.now();
        for (const id of ids) await card(page, id, 'green').waitFor({ timeout: 15_000 });
        const greenMs = Date.now() - back;
        mkdirSync(OUTPUT, { recursive: true });
        const file = join(OUTPUT, 'dashboard.png');
        rmSync(file, { force: true });
        await page.screenshot({ path: file, fullPage: true });
        const png = readFileSync(file);
        assert.ok(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'a PNG');
        console.log(`dashboard: red ${redMs} ms after kill -9, green ${greenMs} ms after the restart; test ${Date.now() - started} ms; screenshot ${file}`);
      } finally {
        await page.close();
      }
    });

    it("shows the front's back-ends and every node on the front's admin dashboard (token as ?token=), and refuses it without the token", async () => {
      const url = new URL(frontDash);
      const base = url.origin;
      assert.equal((await fetch(`${base}/dashboard`)).status, 401);
      assert.equal((await fetch(`${base}/dashboard?token=wrong`)).status, 401);
      assert.equal((await fetch(`${base}/dashboard/events?token=wrong`)).status, 401);
      assert.equal((await fetch(`${base}/dashboard`, { headers: { authorization: `Bearer ${url.searchParams.get('token')}` } })).status, 200);
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      try {
        assert.equal((await page.goto(frontDash))?.status(), 200);
        const front = page.locator('#front');
        await front.locator('td', { hasText: /^C\.\d+\.\d+$/ }).first().waitFor({ timeout: 10_000 });
        assert.match(await front.innerText(), /ready/);
        for (const id of ['A', 'C', 'D', 'E', 'I', 'J', 'B', 'K']) await page.locator(`.card[data-node="${id}"]`).waitFor({ timeout: 10_000 });
        // Each library node of the demo has a backup (issue 27): A and B back each other up in msu, E and K in rice; each card says so.
        for (const [home, backup] of [['A', 'B'], ['B', 'A'], ['E', 'K'], ['K', 'E']]) {
          await page.locator(`.card[data-node="${home}"] .home-backup`, { hasText: new RegExp(`^${backup} in step$`) }).waitFor({ timeout: 20_000 });
        }
        assert.equal(await page.locator('.card[data-node="C"] .home-backup').count(), 0, 'an access node is no home');
        mkdirSync(OUTPUT, { recursive: true });
        await page.screenshot({ path: join(OUTPUT, 'dashboard-front.png'), fullPage: true });
      } finally {
        await page.close();
      }
    });

    it('bounds its event streams: one more than the limit is answered 503; not through a front', async () => {
      const http = new URL(nodeDash).origin;
      const controllers: AbortController[] = [];
      // Held until the end: undici cancels the body of a Response that is garbage collected, which closes its stream.
      const open: Response[] = [];
      try {
        for (let i = 0; i < MAX_STREAMS; i++) {
          const c = new AbortController();
          controllers.push(c);
          const res = await fetch(`${http}/dashboard/events`, { signal: c.signal });
          open.push(res);
          assert.equal(res.status, 200);
          assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
        }
        const over = await fetch(`${http}/dashboard/events`);
        assert.equal(over.status, 503);
        await over.text();
        assert.equal(open.length, MAX_STREAMS);
      } finally {
        for (const c of controllers) c.abort();
      }
      // Closed streams are forgotten: a new one is taken again.
      await waitFor('a stream to be taken again', async () => {
        const c = new AbortController();
        const res = await fetch(`${http}/dashboard/events`, { signal: c.signal });
        c.abort();
        return res.status === 200;
      });
      const proxied = await fetch(`${http}/dashboard`, { headers: { 'x-forwarded-for': '10.0.0.1' } });
      assert.equal(proxied.status, 404);
      await proxied.text();
    });
  });

  it('puts what the cluster says into the page as text, never as markup', async () => {
    const evil = '<img src=x onerror="document.title=\'owned\'">';
    const snapshot = { node: evil, at: Date.now(), links: [{ peer: evil, state: 'up', since: 0, rttMs: 1, inFlight: 0, lastError: null }], outbox: { peers: [], dead: 0 }, load: { percent: 1 }, resources: { published: 1, copies: 0, subscribers: 0, publishedList: [{ url: evil, version: 1, subscribers: [evil] }], copiesList: [], problem: evil }, apps: { problem: evil, reload: 'idle', instances: [{ id: evil, state: evil, port: 1, requests: 0, restarts: 0 }] }, home: { backup: evil, inSync: false, lag: 3, why: evil, aloneSeconds: 12.4 } };
    const feed = new DashboardFeed(evil, async () => ({
      cluster: { from: evil, at: Date.now(), nodes: [{ id: evil, role: evil, domain: evil, host: evil, httpPort: 1, answered: true, error: null, snapshot }] },
      front: { listen: evil, policy: evil, connections: 0, uptimeS: 0, maintenance: null, backends: [{ id: evil, address: evil, node: evil, state: evil, healthy: true, active: 0, requests: 0, errors: 0, admin: 'ready', liveSessions: 0 }] },
    }));
    const server = createServer((req, res) => {
      if (!feed.handle(req, res, (req.url ?? '').split('?')[0])) res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const page = await browser.newPage();
    try {
      await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/dashboard`);
      await page.locator('.card[data-state="green"]').waitFor({ timeout: 5000 });
      await page.locator('#front td').first().waitFor();
      assert.equal(await page.locator('img').count(), 0);
      assert.equal(await page.title(), evil);
      assert.ok((await page.locator('#nodes').innerText()).includes(evil));
      assert.equal(await page.locator('.home-backup.down').innerText(), `${evil} out of step (3 behind): ${evil}`);
      assert.equal(await page.locator('.home-alone').innerText(), 'answered writes alone 12 s since it started');
      assert.ok((await page.locator('#front').innerText()).includes(evil));
    } finally {
      await page.close();
      feed.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
