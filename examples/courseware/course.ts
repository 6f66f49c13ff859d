// The courseware part of the demo app (examples/demo-app.ts mounts it): an author (ann) published
// a page with a problem on her home node A (src/cli/demo-content.ts); learners log in, read it
// here (this app reads it through client.resources, which copies it to this app's node on first
// access), answer it, and see their past answers. An answer is recorded on the learner's home
// library node with client.records.put, a critical message: 'ok' (stored there) or 'delayed'
// (kept on this node's outbox and delivered when the home is back).
import { randomBytes } from 'node:crypto';
import { RecentMap } from '../../src/recent-map.ts';
import express from 'express';
import { authoringRoutes } from './authoring.ts';
import { bodyOf, readAuthoredPage, sandboxedFrame } from './authored-page.ts';
import { formToken, formTokenOk, hiddenField } from './form-token.ts';
import { code, esc, problemOf, PROBLEMS, type CourseDeps } from './problems.ts';

/**
 * Where submissions live in a learner's records: keyed `<problem>.<try>` when her home counted her
 * tries, `<problem>.<ms since 1970>.<random>` when it could not be reached (a delayed answer).
 */
export const SUBMISSIONS_NS = 'submissions';

export const MAX_ANSWER_CHARS = 100;

/** Tries per problem (LON-CAPA's "maximum number of tries"): what one learner can store stays bounded. */
export const MAX_TRIES = 20;

/**
 * Tries this instance last knew of, per learner and problem (her home's count, and the answers it
 * took while her home was down). Bounded: keyed by what clients send.
 */
const triesSeen = new RecentMap<string, number>(10_000);

/** Error codes of a records call whose home node cannot be reached. */
const HOME_DOWN: ReadonlySet<string | undefined> = new Set(['con_lost', 'timeout', 'unavailable']);

export interface Submission {
  problem: string;
  answer: string;
  correct: boolean;
  at: string;
  node: string;
}

/** A right answer is a number within the problem's tolerance ("9.8", " 9.80 ", "9,8"). */
export function isCorrect(problem: { answer: number; tolerance: number }, answer: string): boolean {
  const t = answer.trim().replace(',', '.');
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(t)) return false;
  return Math.abs(Number(t) - problem.answer) <= problem.tolerance;
}

export function courseRoutes(deps: CourseDeps): express.Router {
  const { nodeId, client, userOf, page } = deps;
  const r = express.Router();
  r.use(authoringRoutes(deps));
  const nav = '<p><a href="/course">Course</a> · <a href="/course/submissions">My submissions</a> · <a href="/">Home</a></p>';

  r.get('/course', (req, res) => {
    const who = userOf(req);
    page(res, 200, 'Course', [
      nav,
      '<h1>Course</h1>',
      '<ul>',
      ...Object.entries(PROBLEMS).map(([id, p]) => `<li><a href="/course/${esc(id)}">${esc(p.title)}</a> (published at ${esc(p.url)})</li>`),
      '</ul>',
      who ? `<p>Logged in as <b>${esc(who.user)}</b> (domain ${esc(who.domain)}).</p>` : '<p><a href="/">Log in</a> to answer.</p>',
      '<p>Authors edit and publish their pages under <a href="/course/author">Authoring</a>.</p>',
    ]);
  });

  r.get('/course/submissions', async (req, res, next) => {
    const who = userOf(req);
    if (!who) return page(res, 401, 'My submissions', [nav, '<p><a href="/">Log in</a> to see your submissions.</p>']);
    let records: Record<string, Record<string, unknown>>;
    try {
      records = await (await client()).records.dump(who, SUBMISSIONS_NS);
    } catch (err) {
      if (HOME_DOWN.has(code(err))) {
        return page(res, 503, 'My submissions', [nav, `<p>Your home node cannot be reached right now (${esc((err as Error).message)}): your submissions are kept there. Try again in a moment.</p>`]);
      }
      return next(err);
    }
    const list = Object.values(records[SUBMISSIONS_NS] ?? {}) as Submission[];
    list.sort((a, b) => String(b.at).localeCompare(String(a.at)));
    page(res, 200, 'My submissions', [
      nav,
      `<h1>Submissions of ${esc(who.user)} (domain ${esc(who.domain)})</h1>`,
      `<p>Read from your home node (from its backup while it is down: answers on their way to it are not listed yet), through node ${esc(nodeId)}.</p>`,
      list.length
        ? ['<table><tr><th>when</th><th>problem</th><th>answer</th><th>correct</th><th>answered on node</th></tr>', ...list.map((s) => `<tr><td>${esc(s.at)}</td><td>${esc(s.problem)}</td><td class="answer">${esc(s.answer)}</td><td>${s.correct ? 'yes' : 'no'}</td><td>${esc(s.node)}</td></tr>`), '</table>'].join('\n')
        : '<p>No submissions yet.</p>',
    ]);
  });

  r.get('/course/:problem', async (req, res, next) => {
    const id = req.params.problem;
    const problem = problemOf(id);
    if (!problem) return page(res, 404, 'Not found', [nav, '<p>No such problem.</p>']);
    try {
      const c = await client();
      // The first access on this node copies the page here (and subscribes it to updates): meta says so.
      const meta = await c.resources.local(problem.url);
      const html = await readAuthoredPage(meta.path);
      const who = userOf(req);
      const recorded = req.query.recorded;
      const banner =
        recorded === 'ok' || recorded === 'delayed'
          ? `<p class="recorded">Your answer was ${req.query.correct === 'yes' ? 'right' : 'not right'}: ${recorded === 'ok' ? 'recorded on your home node' : 'recorded; will reach your home node when it is back (delayed)'}.</p>`
          : '';
      page(res, 200, problem.title, [
        nav,
        banner,
        // Any user may publish: the page is shown sandboxed, never inlined where its scripts would act as the learner.
        sandboxedFrame(problem.title, bodyOf(html)),
        `<p class="served">Served by node ${esc(nodeId)}: ${esc(problem.url)} version ${esc(meta.version)} (${esc(meta.source === 'replicated' ? 'copied here for this request' : meta.source === 'copy' ? 'a copy kept on this node' : "this node is the author's home")}).</p>`,
        who
          ? [
              `<form method="post" action="/course/${esc(id)}/answer">`,
              hiddenField(formToken(req)),
              `<label>your answer <input name="answer" maxlength="${MAX_ANSWER_CHARS}" required></label>`,
              '<button>Submit</button>',
              '</form>',
              `<p>Logged in as <b>${esc(who.user)}</b> (domain ${esc(who.domain)}).</p>`,
            ].join('\n')
          : '<p><a href="/">Log in</a> to answer.</p>',
      ]);
    } catch (err) {
      const c = code(err);
      if (c === 'not_found') return page(res, 404, 'Not found', [nav, '<p>The problem page is not published.</p>']);
      if (c === 'page_too_large') return page(res, 502, problem.title, [nav, `<p>The problem page cannot be shown: ${esc((err as Error).message)}. Its author can publish a shorter version.</p>`]);
      if (c === 'con_lost' || c === 'rate_limited') return page(res, 503, 'Unavailable', [nav, `<p>The problem cannot be fetched right now (${esc(err instanceof Error ? err.message : c)}). Try again in a moment.</p>`]);
      next(err);
    }
  });

  r.post('/course/:problem/answer', express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 10 }), async (req, res, next) => {
    const id = req.params.problem;
    const problem = problemOf(id);
    if (!problem) return page(res, 404, 'Not found', [nav, '<p>No such problem.</p>']);
    const who = userOf(req);
    if (!who) return page(res, 401, 'Log in', [nav, '<p><a href="/">Log in</a> to answer.</p>']);
    if (!formTokenOk(req)) return page(res, 403, problem.title, [nav, `<p>This answer did not come from the problem's page (a stale form, or another site). <a href="/course/${esc(id)}">Open the problem</a> and answer there.</p>`]);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const answer = typeof body.answer === 'string' ? body.answer.trim() : '';
    if (!answer || answer.length > MAX_ANSWER_CHARS || /[\u0000-\u001f]/.test(answer)) {
      return page(res, 400, problem.title, [nav, `<p>Give an answer of 1 to ${MAX_ANSWER_CHARS} characters. <a href="/course/${esc(id)}">Back</a>.</p>`]);
    }
    const at = new Date();
    const submission: Submission = { problem: id, answer, correct: isCorrect(problem, answer), at: at.toISOString(), node: nodeId };
    try {
      const c = await client();
      // Her tries so far, as her home keeps them. A try's key is its number: answers sent at once
      // take the same key (the last one written is the try), so her home never holds more than
      // MAX_TRIES of them. This instance's own count (of answers it stored or queued) wins when it
      // is ahead: while her home is down her records are read from its backup, which lacks the
      // answers still on their way to the home (delayed), and a number taken twice would
      // overwrite one of them. With neither copy reachable, this instance counts on from it.
      const counted = `${who.domain}/${who.user}/${id}`;
      let key: string;
      let tried: number | undefined;
      try {
        const kept = Object.keys((await c.records.dump(who, SUBMISSIONS_NS))[SUBMISSIONS_NS] ?? {}).filter((k) => k.startsWith(`${id}.`)).length;
        const n = Math.max(kept, triesSeen.get(counted) ?? 0) + 1;
        if (n > MAX_TRIES) return page(res, 409, problem.title, [nav, `<p>You have used all ${MAX_TRIES} tries at this problem. <a href="/course/submissions">Your submissions</a>.</p>`]);
        key = `${id}.${n}`;
        tried = n;
      } catch (err) {
        if (!HOME_DOWN.has(code(err))) throw err;
        const n = (triesSeen.get(counted) ?? 0) + 1;
        if (n > MAX_TRIES) return page(res, 409, problem.title, [nav, `<p>You have used all ${MAX_TRIES} tries at this problem. <a href="/course/submissions">Your submissions</a>.</p>`]);
        triesSeen.set(counted, n);
        key = `${id}.${at.getTime()}.${randomBytes(3).toString('hex')}`;
      }
      // A critical message to her home node: ok (stored there) or delayed (stored on this node, delivered later).
      const result = await c.records.put(who, SUBMISSIONS_NS, { [key]: submission });
      if (tried !== undefined) triesSeen.set(counted, Math.max(tried, triesSeen.get(counted) ?? 0));
      res.redirect(303, `/course/${encodeURIComponent(id)}?recorded=${result.status === 'ok' ? 'ok' : 'delayed'}&correct=${submission.correct ? 'yes' : 'no'}`);
    } catch (err) {
      next(err);
    }
  });

  return r;
}
