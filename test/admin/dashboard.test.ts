import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { MAX_STREAMS } from '../../src/admin/dashboard-feed.ts';
import { TestCluster } from '../harness/cluster.ts';
import { ADMIN_TOKEN, FrontCluster } from '../harness/front-cluster.ts';
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

  describe('on a node', () => {
    let cluster: TestCluster;
    before(async () => {
      // The demo's shape, smaller: a library node, and access nodes of two domains.
      cluster = await TestCluster.create([
        { id: 'A', domain: 'msu', role: 'library' },
        { id: 'C', domain: 'msu', role: 'access' },
        { id: 'D', domain: 'rice', role: 'access' },
        { id: 'I', domain: 'rice', role: 'access' },
      ], { domains: ['msu', 'rice'] });
      await cluster.startAll();
    });
    after(async () => {
      await cluster?.destroy();
    });

    it('renders every node green, turns a killed node red within 5 s and green again when it returns, and writes a screenshot', async () => {
      const started = Date.now();
      const http = cluster.table.nodes.find((n) => n.id === 'C')!.httpPort;
      const page = await browser.newPage({ viewport: { width: 390, height: 1400 } }); // a phone's width
      try {
        const res = await page.goto(`http://127.0.0.1:${http}/dashboard`);
        assert.equal(res?.status(), 200);
        assert.match(res!.headers()['content-security-policy'] ?? '', /default-src 'none'/);
        assert.match(await page.title(), /node C/);
        for (const id of cluster.ids) await card(page, id, 'green').waitFor({ timeout: 15_000 });
        // Round trips are shown in the link matrix: C's row has a number for A.
        await page.locator('#matrix tr', { hasText: /^C/ }).locator('td.up').first().waitFor();

        await cluster.kill('D');
        const killed = Date.now();
        await card(page, 'D', 'red').waitFor({ timeout: 5000 });
        const redMs = Date.now() - killed;
        assert.ok(redMs <= 5000, `red after ${redMs} ms`);
        assert.match(await card(page, 'D', 'red').innerText(), /unreachable/);
        // The others see their link to D down: amber, not red.
        await card(page, 'A', 'amber').waitFor({ timeout: 5000 });

        await cluster.start('D');
        for (const id of cluster.ids) await card(page, id, 'green').waitFor({ timeout: 15_000 });
        mkdirSync(OUTPUT, { recursive: true });
        const file = join(OUTPUT, 'dashboard.png');
        rmSync(file, { force: true });
        await page.screenshot({ path: file, fullPage: true });
        const png = readFileSync(file);
        assert.ok(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'a PNG');
        console.log(`dashboard: red ${redMs} ms after kill -9; whole test ${Date.now() - started} ms; screenshot ${file}`);
      } finally {
        await page.close();
      }
    });

    it('bounds its event streams: one more than the limit is answered 503', async () => {
      const http = cluster.table.nodes.find((n) => n.id === 'A')!.httpPort;
      const controllers: AbortController[] = [];
      try {
        for (let i = 0; i < MAX_STREAMS; i++) {
          const c = new AbortController();
          controllers.push(c);
          const res = await fetch(`http://127.0.0.1:${http}/dashboard/events`, { signal: c.signal });
          assert.equal(res.status, 200);
          assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
        }
        const over = await fetch(`http://127.0.0.1:${http}/dashboard/events`);
        assert.equal(over.status, 503);
        await over.text();
      } finally {
        for (const c of controllers) c.abort();
      }
      // Closed streams are forgotten: a new one is taken again.
      let ok = false;
      for (let i = 0; i < 50 && !ok; i++) {
        const c = new AbortController();
        const res = await fetch(`http://127.0.0.1:${http}/dashboard/events`, { signal: c.signal });
        ok = res.status === 200;
        c.abort();
        if (!ok) await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(ok);
      // Not through a front (X-Forwarded-For): 404.
      const proxied = await fetch(`http://127.0.0.1:${http}/dashboard`, { headers: { 'x-forwarded-for': '10.0.0.1' } });
      assert.equal(proxied.status, 404);
    });
  });

  describe("on the front's admin listener", () => {
    let fc: FrontCluster;
    before(async () => {
      fc = await FrontCluster.create(['b1', 'b2']);
      await fc.startFront();
      await waitFor('every back-end ready', () => fc.allReady());
    });
    after(async () => {
      await fc?.destroy();
    });

    it('needs the admin token (header or ?token=) and shows the back-ends with their health', async () => {
      const base = `http://127.0.0.1:${fc.adminPort}`;
      assert.equal((await fetch(`${base}/dashboard`)).status, 401);
      assert.equal((await fetch(`${base}/dashboard?token=wrong`)).status, 401);
      assert.equal((await fetch(`${base}/dashboard/events?token=wrong`)).status, 401);
      const page = await browser.newPage();
      try {
        const res = await page.goto(`${base}/dashboard?token=${ADMIN_TOKEN}`);
        assert.equal(res?.status(), 200);
        const front = page.locator('#front');
        await front.locator('td', { hasText: 'b1' }).first().waitFor({ timeout: 10_000 });
        await front.locator('td', { hasText: 'b2' }).first().waitFor();
        assert.match(await front.innerText(), /ready/);
        // The header works as well as ?token= (the page itself; its stream needs ?token=).
        assert.equal((await fetch(`${base}/dashboard`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status, 200);
        // A value from the configuration is text, never markup.
        assert.equal(await page.locator('#front script, #nodes script').count(), 0);
      } finally {
        await page.close();
      }
    });
  });
});
