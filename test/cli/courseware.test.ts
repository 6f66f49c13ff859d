import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { browse, Jar } from '../harness/cookie-jar.ts';
import { logIn, nodePid, startDemo, stopDemo } from '../harness/demo.ts';
import { stopProcess } from '../harness/stop.ts';
import { spawnNodeProcess } from '../../src/node/spawn.ts';
import { loadHostTable } from '../../src/config/host-table.ts';



/** A form's hidden field, from the page that holds the form. */
const field = (text: string, name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(text)?.[1] ?? '';

/** Posts a form as a browser does: from its page (GET `from`), with the page's hidden fields. */
async function submit(jar: Jar, front: string, from: string, action: string, form: Record<string, string>) {
  const page = await browse(jar, `${front}${from}`);
  const hidden = { form_token: field(page.text, 'form_token'), ...(field(page.text, 'base') ? { base: field(page.text, 'base') } : {}) };
  return browse(jar, `${front}${action}`, { method: 'POST', body: new URLSearchParams({ ...hidden, ...form }) });
}
const answerAs = (jar: Jar, front: string, answer: string) => submit(jar, front, 'course/problem1', 'course/problem1/answer', { answer });

/** The answers in a submissions page's table, newest first. */
const answersOf = (text: string) => [...text.matchAll(/<td class="answer">([^<]*)<\/td>/g)].map((m) => m[1]);

describe('cohort demo: the courseware app', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cohort-course-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('serves the published problem (replicated to the app\'s node), records answers on each learner\'s home node, lists them per learner, lets the author publish a new version from the app, and keeps an answer given while the home is down (delayed, then delivered)', async () => {
    let restarted: ReturnType<typeof spawnNodeProcess> | undefined;
    const demo = await startDemo(dir);
    const front = demo.front;
    const out = demo.out;
    try {
      assert.match(out, /user ann@msu created \(home A\)/);
      assert.match(out, /user bob@rice created \(home E\)/);
      assert.match(out, /\/res\/msu\/ann\/physics\/problem1\.html published by ann on A/);

      // Anyone sees the course and the problem; only a logged-in learner gets the form.
      const anon = new Jar();
      const course = await browse(anon, `${front}course`);
      assert.equal(course.res.status, 200);
      assert.match(course.text, /<a href="\/course\/problem1">Problem 1: free fall<\/a>/);
      let page = await browse(anon, `${front}course/problem1`);
      assert.equal(page.res.status, 200, page.text);
      assert.match(page.text, /A stone is dropped from rest/);
      assert.match(page.text, /Served by node [CDIJ]: \/res\/msu\/ann\/physics\/problem1\.html version \d+ \(copied here for this request\)/, 'the first access anywhere but A');
      const servedBy = /Served by node ([CDIJ])/.exec(page.text)![1];
      for (let i = 0; i < 8; i++) {
        const again = await browse(new Jar(), `${front}course/problem1`);
        if (again.text.includes(`Served by node ${servedBy}:`)) assert.match(again.text, /\(a copy kept on this node\)/);
      }
      assert.doesNotMatch(page.text, /<form method="post" action="\/course\/problem1\/answer">/);
      assert.equal((await browse(anon, `${front}course/problem1/answer`, { method: 'POST', body: new URLSearchParams({ answer: '9.8' }) })).res.status, 401);
      assert.equal((await browse(anon, `${front}course/submissions`)).res.status, 401);
      assert.equal((await browse(anon, `${front}course/nope`)).res.status, 404);

      // A login posted from a page of another origin (login CSRF; another port is another origin,
      // a sandboxed /res/ page's origin is "null") is refused and makes no session.
      const elsewhere = new URL(front!);
      elsewhere.port = String(Number(elsewhere.port) + 1);
      for (const headers of [{ origin: 'http://evil.example' }, { origin: elsewhere.origin }, { origin: 'null' }, { 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }]) {
        const r = await browse(anon, `${front}login`, { method: 'POST', headers, body: new URLSearchParams({ user: 'ann', domain: 'msu', password: 'demo-password' }) });
        assert.equal(r.res.status, 403, JSON.stringify(headers));
        assert.deepEqual(r.res.headers.getSetCookie(), [], 'no session made');
      }
      // Through the front, the app sees the Host the browser sent: a login from the site's own page passes.
      const own = await browse(new Jar(), `${front}login`, { method: 'POST', headers: { origin: new URL(front!).origin, 'sec-fetch-site': 'same-origin' }, body: new URLSearchParams({ user: 'ann', domain: 'msu', password: 'demo-password' }) });
      assert.equal(own.res.status, 303, own.text);
      const sameOrigin = await logIn(front!, 'ann', 'msu', new Jar());
      assert.equal((await browse(sameOrigin, `${front}logout`, { method: 'POST', headers: { origin: 'http://evil.example' } })).res.status, 403);
      assert.equal((await browse(sameOrigin, `${front}course/submissions`)).res.status, 200, 'a logout from another origin changed nothing');

      // ann (msu, home A): reads, answers twice (one wrong, one right), sees both, newest first.
      const ann = await logIn(front!, 'ann', 'msu');
      page = await browse(ann, `${front}course/problem1`);
      assert.equal(page.res.status, 200);
      assert.match(page.text, /<form method="post" action="\/course\/problem1\/answer">/);
      // A post without the page's form token (a stale form, or another site's) changes nothing.
      const forgedAnswer = await browse(ann, `${front}course/problem1/answer`, { method: 'POST', body: new URLSearchParams({ answer: '1' }) });
      assert.equal(forgedAnswer.res.status, 403);
      assert.equal((await browse(ann, `${front}course/problem1/answer`, { method: 'POST', body: new URLSearchParams({ answer: '1', form_token: 'x'.repeat(24) }) })).res.status, 403);
      let answer = await answerAs(ann, front!, '<b>10</b>');
      assert.equal(answer.res.status, 303, answer.text);
      assert.equal(answer.res.headers.get('location'), '/course/problem1?recorded=ok&correct=no');
      page = await browse(ann, new URL(answer.res.headers.get('location')!, front).href);
      assert.match(page.text, /Your answer was not right: recorded on your home node\./);
      answer = await answerAs(ann, front!, '9.8');
      assert.equal(answer.res.status, 303, answer.text);
      page = await browse(ann, new URL(answer.res.headers.get('location')!, front).href);
      assert.match(page.text, /Your answer was right: recorded on your home node\./);
      const tooLong = await answerAs(ann, front!, 'x'.repeat(101));
      assert.equal(tooLong.res.status, 400);
      page = await browse(ann, `${front}course/submissions`);
      assert.equal(page.res.status, 200, page.text);
      assert.match(page.text, /Submissions of ann \(domain msu\)/);
      assert.deepEqual(answersOf(page.text), ['9.8', '&lt;b&gt;10&lt;/b&gt;'], 'newest first, escaped');

      // bob (rice, home E): his submissions are his own.
      const bob = await logIn(front!, 'bob', 'rice');
      page = await browse(bob, `${front}course/submissions`);
      assert.equal(page.res.status, 200, page.text);
      assert.match(page.text, /No submissions yet/);
      answer = await answerAs(bob, front!, '9,8');
      assert.equal(answer.res.status, 303, answer.text);
      assert.equal(answer.res.headers.get('location'), '/course/problem1?recorded=ok&correct=yes');
      page = await browse(bob, `${front}course/submissions`);
      assert.match(page.text, /Submissions of bob \(domain rice\)/);
      assert.deepEqual(answersOf(page.text), ['9,8']);
      page = await browse(ann, `${front}course/submissions`);
      assert.deepEqual(answersOf(page.text), ['9.8', '&lt;b&gt;10&lt;/b&gt;']);

      // Her tries are bounded (20 a problem): answers sent at once take the same try's key (the last
      // written is the try), and past the last try an answer is refused and stores nothing.
      const token = field((await browse(ann, `${front}course/problem1`)).text, 'form_token');
      const burst = await Promise.all(Array.from({ length: 30 }, (_, i) => browse(ann, `${front}course/problem1/answer`, { method: 'POST', body: new URLSearchParams({ form_token: token, answer: `burst ${i}` }) })));
      // Each is recorded, or refused (409) once an answer of the burst was seen to fill the last try.
      assert.ok(burst.every((r) => r.res.status === 303 || r.res.status === 409), burst.map((r) => r.res.status).join(' '));
      let kept = answersOf((await browse(ann, `${front}course/submissions`)).text).length;
      assert.ok(kept >= 3 && kept <= 20, `${kept} tries kept after 30 answers at once`);
      let refused: Awaited<ReturnType<typeof answerAs>> | undefined;
      for (let n = 0; n < 30 && !refused; n++) {
        const r = await answerAs(ann, front!, `try ${n}`);
        if (r.res.status === 409) refused = r;
        else assert.equal(r.res.status, 303, r.text);
      }
      assert.match(refused!.text, /You have used all 20 tries at this problem/);
      kept = answersOf((await browse(ann, `${front}course/submissions`)).text).length;
      assert.equal(kept, 20);

      // ann is the problem's author: she edits it in the app and publishes the next version,
      // which learners then read on every node; bob may not, and too big a page is refused.
      page = await browse(ann, `${front}course/author`);
      assert.equal(page.res.status, 200, page.text);
      const version = Number(/physics\/problem1\.html, version (\d+)\./.exec(page.text)![1]);
      assert.match(page.text, /<textarea name="html"[^>]*>&lt;!doctype html&gt;[\s\S]*A stone is dropped from rest/);
      assert.equal((await browse(bob, `${front}course/author`)).res.status, 403);
      const forged = await submit(bob, front!, 'course/problem1', 'course/author/problem1', { html: '<p>bob was here</p>', base: String(version) });
      assert.equal(forged.res.status, 403);
      assert.equal((await browse(ann, `${front}course/author/problem1`, { method: 'POST', body: new URLSearchParams({ html: '<p>no token</p>', base: String(version) }) })).res.status, 403);
      assert.equal((await submit(ann, front!, 'course/author', 'course/author/problem1', { html: 'x'.repeat(64 * 1024 + 1) })).res.status, 400);
      // An edit made from an older version than the newest is refused (409), not laid over it.
      const stale = await submit(ann, front!, 'course/author', 'course/author/problem1', { html: '<p>from an old copy</p>', base: String(version - 1) });
      assert.equal(stale.res.status, 409, stale.text);
      assert.match(stale.text, /changed since you opened it/);
      const revised = '<!doctype html><html><body><h2>Problem 1: free fall</h2><p>Revised: a stone falls from rest. Its acceleration, in m/s²?</p></body></html>';
      const published = await submit(ann, front!, 'course/author', 'course/author/problem1', { html: revised });
      assert.equal(published.res.status, 303, published.text);
      assert.match(published.res.headers.get('location')!, new RegExp(`^/course/author\\?problem=problem1&published=${version + 1}&ok=\\d+&delayed=0$`));
      page = await browse(ann, new URL(published.res.headers.get('location')!, front).href);
      assert.match(page.text, new RegExp(`Version ${version + 1} published on your home node`));
      // The form shows the version just made, ready for the next edit.
      assert.match(page.text, /<textarea name="html"[^>]*>[^<]*Revised: a stone falls/);
      assert.equal(field(page.text, 'base'), String(version + 1));
      for (let i = 0; i < 8; i++) {
        let text = '';
        for (const until = Date.now() + 10_000; !text.includes('Revised: a stone falls') && Date.now() < until; await new Promise((r) => setTimeout(r, 100))) text = (await browse(new Jar(), `${front}course/problem1`)).text;
        assert.match(text, new RegExp(`Revised: a stone falls[\\s\\S]*version ${version + 1} `), 'every node serves the new version');
      }
      assert.doesNotMatch((await browse(new Jar(), `${front}course/problem1`)).text, /bob was here/);

      // bob's home E dies: his list is read from E's backup K meanwhile; his answer is delayed (kept on the app's node); E back, it arrives.
      const table = loadHostTable(join(dir, 'hosts.yaml'));
      const copyReadsAtK = async () => Number(/^cohort_home_copy_answers_total\{(?=[^}]*use="read")[^}]*\} (\S+)$/m.exec(await (await fetch(`http://127.0.0.1:${table.nodes.find((n) => n.id === 'K')!.httpPort}/metrics`)).text())?.[1] ?? 0);
      const readsBefore = await copyReadsAtK();
      process.kill(nodePid(dir, 'E'), 'SIGKILL');
      for (const until = Date.now() + 10_000; (await copyReadsAtK()) === readsBefore && Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
        page = await browse(bob, `${front}course/submissions`);
      }
      assert.ok((await copyReadsAtK()) > readsBefore, 'his list was read from K');
      assert.equal(page.res.status, 200, page.text);
      assert.deepEqual(answersOf(page.text), ['9,8'], 'his answers as K holds them');
      answer = await answerAs(bob, front!, '9.81');
      assert.equal(answer.res.status, 303, answer.text);
      assert.equal(answer.res.headers.get('location'), '/course/problem1?recorded=delayed&correct=yes');
      page = await browse(bob, new URL(answer.res.headers.get('location')!, front).href);
      assert.match(page.text, /recorded; will reach your home node when it is back \(delayed\)/);
      restarted = spawnNodeProcess(join(dir, 'hosts.yaml'), 'E', join(dir, 'logs', 'E.log'));
      let answers: string[] = [];
      for (const until = Date.now() + 15_000; answers.length < 2 && Date.now() < until; await new Promise((r) => setTimeout(r, 200))) {
        page = await browse(bob, `${front}course/submissions`);
        if (page.res.status === 200) answers = answersOf(page.text);
      }
      assert.deepEqual(answers, ['9.81', '9,8'], 'the delayed answer reached E');
    } finally {
      await stopProcess(restarted);
      const code = await stopDemo(demo);
      assert.equal(code, 0, demo.out + demo.err);
    }
  });
});
