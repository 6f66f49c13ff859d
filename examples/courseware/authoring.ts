// Authoring, in the courseware app: the author of a problem page (her domain and name are in its
// URL, /res/<domain>/<author>/...) edits it here and publishes it as the next version. The app
// hands the page to its node (client.resources.publish), which relays it to her home node when
// that is another; the home tells every subscribed node, and those whose copy is read fetch it
// (seed 000's Example Transactions: "an instructor modifies and publishes a resource").
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { code, esc, problemOf, PROBLEMS, type CourseDeps } from './problems.ts';
import { formToken, formTokenOk, hiddenField } from './form-token.ts';
import { MAX_PAGE_BYTES, PageTooLargeError, readAuthoredPage } from './authored-page.ts';

const nav = '<p><a href="/course">Course</a> · <a href="/course/author">Authoring</a> · <a href="/">Home</a></p>';

/** Is `who` the author the resource URL names? */
const isAuthor = (url: string, who: { domain: string; user: string }) => url.startsWith(`/res/${who.domain}/${who.user}/`);

export function authoringRoutes({ client, userOf, page }: CourseDeps): express.Router {
  const r = express.Router();

  r.get('/course/author', async (req, res, next) => {
    const who = userOf(req);
    if (!who) return page(res, 401, 'Authoring', [nav, '<p><a href="/">Log in</a> as the author of a page.</p>']);
    const mine = Object.entries(PROBLEMS).filter(([, p]) => isAuthor(p.url, who));
    if (!mine.length) return page(res, 403, 'Authoring', [nav, `<p>${esc(who.user)} (domain ${esc(who.domain)}) is not the author of any page of this course.</p>`]);
    const published = Number(req.query.published);
    const justPublished = Number.isSafeInteger(published) && published > 0;
    const told = (key: string) => Math.max(0, Number.isSafeInteger(Number(req.query[key])) ? Number(req.query[key]) : 0);
    const banner = justPublished
      ? `<p class="published">Version ${published} published on your home node: ${told('ok')} subscribed node(s) told at once, ${told('delayed')} to be told when they are back.</p>`
      : '';
    try {
      const c = await client();
      const forms: string[] = [];
      for (const [id, p] of mine) {
        // Right after a publish, the version just made (this node may still be fetching it as the newest).
        const meta = await c.resources.local(p.url, justPublished && req.query.problem === id ? published : undefined);
        forms.push(
          `<h2>${esc(p.title)}</h2>`,
          `<p>${esc(p.url)}, version ${esc(meta.version)}. Publishing makes the next version; every version stays readable (<code>?version=N</code>).</p>`,
        );
        let html: string;
        try {
          html = await readAuthoredPage(meta.path);
        } catch (err) {
          if (!(err instanceof PageTooLargeError)) throw err;
          forms.push(`<p class="too-large">This version cannot be edited here: ${esc(err.message)}. Publish a shorter one with <code>cohort publish</code>.</p>`);
          continue;
        }
        forms.push(
          `<form method="post" action="/course/author/${esc(id)}">`,
          hiddenField(formToken(req)),
          // The version this edit starts from: publishing refuses it if another came meanwhile.
          `<input type="hidden" name="base" value="${esc(meta.version)}">`,
          `<textarea name="html" rows="16" cols="80" maxlength="${MAX_PAGE_BYTES}" required>${esc(html)}</textarea>`,
          '<br><button>Publish as a new version</button>',
          '</form>',
        );
      }
      page(res, 200, 'Authoring', [nav, banner, ...forms]);
    } catch (err) {
      if (code(err) === 'con_lost') return page(res, 503, 'Authoring', [nav, `<p>Your pages cannot be read right now (${esc((err as Error).message)}). Try again in a moment.</p>`]);
      if (code(err) === 'not_found') return page(res, 404, 'Authoring', [nav, '<p>No such version. <a href="/course/author">Open the newest</a>.</p>']);
      next(err);
    }
  });

  r.post('/course/author/:problem', express.urlencoded({ extended: false, limit: '200kb', parameterLimit: 5 }), async (req, res, next) => {
    const id = req.params.problem;
    const problem = problemOf(id);
    if (!problem) return page(res, 404, 'Not found', [nav, '<p>No such page.</p>']);
    const who = userOf(req);
    if (!who) return page(res, 401, 'Authoring', [nav, '<p><a href="/">Log in</a> as the author of the page.</p>']);
    if (!isAuthor(problem.url, who)) return page(res, 403, 'Authoring', [nav, `<p>Only the page's author may publish it.</p>`]);
    if (!formTokenOk(req)) return page(res, 403, 'Authoring', [nav, '<p>This did not come from your authoring page (a stale form, or another site): nothing was published. <a href="/course/author">Start again</a>.</p>']);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const html = body.html;
    const base = Number(body.base);
    if (typeof body.base !== 'string' || !Number.isSafeInteger(base) || base < 0) return page(res, 400, 'Authoring', [nav, '<p>The form lacks the version it was made from. <a href="/course/author">Start again</a>.</p>']);
    if (typeof html !== 'string' || !html.trim() || Buffer.byteLength(html) > MAX_PAGE_BYTES) {
      return page(res, 400, 'Authoring', [nav, `<p>Give the page's HTML, 1 byte to ${MAX_PAGE_BYTES / 1024} KiB. <a href="/course/author">Back</a>.</p>`]);
    }
    // The node reads the page from a file of this machine; it is gone once published.
    const dir = await mkdtemp(join(tmpdir(), 'cohort-author-'));
    try {
      const file = join(dir, 'page.html');
      await writeFile(file, html);
      const out = await (await client()).resources.publish(problem.url, file, { ifVersion: base });
      const ok = out.notified.filter((n) => n.status === 'ok').length;
      const delayed = out.notified.filter((n) => n.status === 'delayed').length;
      res.redirect(303, `/course/author?problem=${encodeURIComponent(id)}&published=${out.version}&ok=${ok}&delayed=${delayed}`);
    } catch (err) {
      if (code(err) === 'conflict') return page(res, 409, 'Authoring', [nav, `<p>The page changed since you opened it (${esc((err as Error).message)}): nothing was published. <a href="/course/author">Open the newest version</a> and make your change there.</p>`]);
      if (code(err) === 'con_lost' || code(err) === 'timeout') return page(res, 503, 'Authoring', [nav, `<p>Your home node cannot be reached (${esc((err as Error).message)}): nothing was published. Try again in a moment.</p>`]);
      next(err);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  return r;
}
