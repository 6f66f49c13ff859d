// The demo's web application, run by each access node's supervisor (the host table's app:
// section) on ports of its own, behind Cohort's front. express + express-session on Cohort's
// embedded session store (docs/sessions.md): new sessions live first on the node that made them
// (genid), and any node reads them through the links, so the visit count kept in the session
// survives this instance's death and a move to another node. A session is saved only once it
// holds something (saveUninitialized: false, and a first visit writes nothing to it: a cookie
// marks it), so requests without cookies leave no sessions behind; logged-in sessions carry
// LOGIN_KEY, the only ones that count toward the node's user load.
// Each page names the node and instance that served it (and the header x-served-by), the node's
// load, the session's visits and the logged-in user. Login is load-aware (client.auth.placeLogin):
// while this node is under 100% the session is made here; else the login is handed to another
// node and the browser goes on to /login/handover?cohort_handover=<token> with a nonce cookie,
// which the front routes to that node's app, where takeHandover says who she is without her
// password again (only in the browser that holds the nonce: no login CSRF). Either way the
// session id changes at login (req.session.regenerate): no session fixation.
// The supervisor sets PORT, HOST, COHORT_NODE, COHORT_CONFIG and COHORT_INSTANCE; SESSION_SECRET
// signs the cookie (the demo's default is for the demo only).
import express from 'express';
import session from 'express-session';
import { NodeConnection } from '../src/client/node-connection.ts';
import { escapeHtml } from '../src/front/maintenance-page.ts';
import { HANDOVER_PATH, HANDOVER_TOKEN_PATTERN } from '../src/sessions/handovers.ts';
import { clearedHandoverCookie, handoverCookie, handoverNonceOf } from '../src/client/handover-cookie.ts';
import { appSettingsFor, loadHostTable } from '../src/config/host-table.ts';
import { CohortSessionStore } from '../src/client/express-store.ts';
import { LOGIN_KEY } from '../src/client/sessions.ts';
import { courseRoutes } from './courseware/course.ts';
import { fromOtherOrigin } from './courseware/form-token.ts';

const { PORT, HOST, COHORT_NODE, COHORT_CONFIG, COHORT_INSTANCE, SESSION_SECRET } = process.env;
if (!PORT || !COHORT_NODE || !COHORT_CONFIG) {
  process.stderr.write('demo-app: run me under a Cohort node (app: section): PORT, COHORT_NODE and COHORT_CONFIG are not set\n');
  process.exit(2);
}
const table = loadHostTable(COHORT_CONFIG);
const nodeId = COHORT_NODE;
const instance = COHORT_INSTANCE ?? nodeId;
const log = (msg: string) => process.stderr.write(`demo-app ${instance}: ${msg}\n`);

// One connection to this node's local socket, opened again if the node restarts.
// Its wait outlasts the node's own for a command that crosses the network (link.requestTimeoutMs
// plus connectTimeoutMs, 13 s): the node's answer, even a con_lost, comes before the app gives up.
const node = new NodeConnection(table, nodeId, 15_000);
const client = () => node.client();
const store = new CohortSessionStore({ client: node, node: nodeId });

/** What the demo keeps in a session (top-level keys, each written on its own). */
interface DemoSession {
  visits?: number;
  user?: { domain: string; user: string };
  loggedInOn?: string;
  /** Marks a logged-in session: only these count toward the node's user load (docs/sessions.md). */
  [LOGIN_KEY]?: string;
}
const demo = (req: express.Request) => req.session as unknown as DemoSession;

/**
 * A first visit holds nothing worth a session (its count, 1, says only "no cookie yet"): it is
 * marked by this cookie instead, and the session is saved from the second visit (or a login) on.
 */
const FIRST_VISIT_COOKIE = 'demo_visited';
const FIRST_VISIT_MARK = /(?:^|;)\s*demo_visited=1\s*(?:;|$)/;
const firstVisitMarked = (req: express.Request) => FIRST_VISIT_MARK.test(req.headers.cookie ?? '');
/** Visits counted so far: the session's count, else 1 for a marked first visit, else none. */
const visitsSoFar = (req: express.Request) => demo(req).visits ?? (firstVisitMarked(req) ? 1 : 0);

const esc = (v: unknown) => escapeHtml(String(v));

function page(res: express.Response, status: number, title: string, body: string[]): void {
  res
    .status(status)
    .type('text/html; charset=utf-8')
    .send(
      [
        '<!doctype html>',
        `<html><head><meta charset="utf-8"><title>${esc(title)}</title></head><body>`,
        ...body,
        '</body></html>',
        '',
      ].join('\n'),
    );
}

async function nodeLoad(): Promise<string> {
  try {
    const load = (await (await client()).call(nodeId, 'load')) as { percent: number };
    return `node ${nodeId} is at ${load.percent}% load`;
  } catch (err) {
    return `node ${nodeId} cannot be asked for its load right now (${(err as Error).message})`;
  }
}

/** Ends the old session, starts a new one (a new id: no fixation) holding her, saved before the answer. */
function startLoggedIn(req: express.Request, who: { domain: string; user: string }, visits: number, next: express.NextFunction, done: () => void): void {
  req.session.regenerate((err) => {
    if (err) return next(err);
    const s = demo(req);
    s.user = { domain: who.domain, user: who.user };
    s[LOGIN_KEY] = `${who.user}@${who.domain}`;
    s.loggedInOn = nodeId;
    s.visits = visits;
    req.session.save((err2) => (err2 ? next(err2) : done()));
  });
}

const app = express();
app.disable('x-powered-by');
app.use((_req, res, next) => {
  res.setHeader('x-served-by', instance);
  next();
});
app.get('/healthz', (_req, res) => {
  res.type('text/plain').send('ok\n');
});
app.use(
  session({
    store,
    genid: store.genid, // sessions live first on the node that made them
    name: 'demo_sid',
    secret: SESSION_SECRET ?? 'cohort demo secret: set SESSION_SECRET',
    resave: false,
    saveUninitialized: false,
    cookie: { httpOnly: true, sameSite: 'lax', maxAge: 86_400_000 },
  }),
);

const HANDOVER_TOKEN = new RegExp(`^${HANDOVER_TOKEN_PATTERN}$`);

// A login handed over to this node: taken up (good once) by the browser that holds its nonce, then a new session here.
app.get(HANDOVER_PATH, async (req, res, next) => {
  try {
    // The token is in this URL: no Referer carries it on, no cache keeps the answer; the nonce cookie goes either way.
    res.setHeader('referrer-policy', 'no-referrer');
    res.setHeader('cache-control', 'no-store');
    res.setHeader('set-cookie', clearedHandoverCookie(req.secure));
    const token = req.query.cohort_handover;
    if (typeof token !== 'string' || !HANDOVER_TOKEN.test(token)) return page(res, 400, 'Bad hand-over', ['<p>That is not a login hand-over token. <a href="/">Start again</a>.</p>']);
    let taken;
    try {
      taken = await (await client()).auth.takeHandover(token, handoverNonceOf(req.headers.cookie));
    } catch (err) {
      if ((err as { code?: string }).code !== 'refused') throw err;
      return page(res, 401, 'Log in again', [`<p>This login hand-over cannot be taken up here (${esc((err as Error).message)}).</p>`, '<p><a href="/">Log in again</a>.</p>']);
    }
    const carried = Number(taken.data.visits);
    log(`login of ${taken.user}@${taken.domain} handed over to ${nodeId}, taken up`);
    startLoggedIn(req, taken, Number.isSafeInteger(carried) && carried >= 0 ? carried : 0, next, () => res.redirect(303, '/'));
  } catch (err) {
    next(err);
  }
});

app.get('/', async (req, res, next) => {
  try {
    const s = demo(req);
    const visits = visitsSoFar(req) + 1;
    const kept = visits > 1;
    if (kept) {
      s.visits = visits;
      // Saved before the answer: a write the store refused is the answer (503), never a count that was not kept.
      await new Promise<void>((resolve, reject) => req.session.save((err) => (err ? reject(err) : resolve())));
    } else {
      res.cookie(FIRST_VISIT_COOKIE, '1', { httpOnly: true, sameSite: 'lax', maxAge: 86_400_000 });
    }
    const lives = req.sessionID.split('~')[0];
    const user = s.user;
    page(res, 200, `Cohort demo: ${instance}`, [
      `<p>Hello from the app on node ${esc(nodeId)}, instance ${esc(instance)} (pid ${process.pid}).</p>`,
      kept
        ? `<p>Visits in this session: ${esc(visits)} (the session is kept in Cohort's store and lives first on node ${esc(lives)}, so the count survives this instance's death and a move to another node).</p>`
        : `<p>Visits in this session: 1 (a first visit: nothing is kept in Cohort's store yet, a cookie marks it; come back, or log in, and the count is kept in a session from then on).</p>`,
      `<p>${esc(await nodeLoad())}.</p>`,
      '<p><a href="/course">The course</a>: a problem to read and answer.</p>',
      user
        ? `<p>Logged in as <b>${esc(user.user)}</b> (domain ${esc(user.domain)}, logged in on node ${esc(s.loggedInOn ?? '?')}).</p>\n<form method="post" action="/logout"><button>Log out</button></form>`
        : [
            '<form method="post" action="/login">',
            '<label>name <input name="user" autocomplete="username"></label>',
            '<label>domain <input name="domain" value="msu"></label>',
            '<label>password <input name="password" type="password" autocomplete="current-password"></label>',
            '<button>Log in</button>',
            '</form>',
          ].join('\n'),
    ]);
  } catch (err) {
    next(err);
  }
});

app.post('/login', express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 10 }), async (req, res, next) => {
  // No session, so no form token yet: a login posted from another origin (login CSRF) is refused by its Origin.
  if (fromOtherOrigin(req)) return page(res, 403, 'Log in', ['<p>This login did not come from this site\'s page. <a href="/">Log in here</a>.</p>']);
  try {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const user = typeof body.user === 'string' ? body.user.trim() : '';
    const domain = typeof body.domain === 'string' && body.domain.trim() ? body.domain.trim() : 'msu';
    const password = typeof body.password === 'string' ? body.password : '';
    if (!user || !password) return page(res, 400, 'Log in', ['<p>Give a name and a password. <a href="/">Back</a>.</p>']);
    const visits = visitsSoFar(req);
    let place;
    try {
      place = await (await client()).auth.placeLogin({ domain, user }, password, { visits });
    } catch (err) {
      const code = (err as { code?: string }).code;
      // bad_args: a name or domain no user can have; told like a wrong one.
      if (code === 'refused' || code === 'bad_args') return page(res, 401, 'Log in', ['<p>Wrong name or password. <a href="/">Try again</a>.</p>']);
      if (code === 'rate_limited') return page(res, 429, 'Log in', [`<p>Too many failed logins: ${esc((err as Error).message)}. <a href="/">Back</a>.</p>`]);
      throw err;
    }
    // The demo runs apps on access nodes only: a login placed on a node without app instances
    // (a library node, when every access node is over 100%) could not be taken up there. Nor
    // one on a node reached at its own publicUrl: the nonce cookie would not go to that origin.
    const runsApp = (appSettingsFor(table, place.node)?.instances ?? 0) > 0;
    if (place.node !== nodeId && place.token && place.nonce && runsApp && !place.url) {
      log(`login of ${user}@${domain} handed over to ${place.node} (${place.why})`);
      // The link goes through the front (same origin), and only this browser holds its nonce.
      res.setHeader('set-cookie', handoverCookie(place.nonce, table.handoverTtlMs / 1000, req.secure));
      return res.redirect(303, `${HANDOVER_PATH}?cohort_handover=${encodeURIComponent(place.token)}`);
    }
    if (place.node !== nodeId) log(`login of ${user}@${domain} placed on ${place.node} (${place.why}), which it cannot be handed to from here: kept on ${nodeId}`);
    startLoggedIn(req, { domain, user }, visits, next, () => res.redirect(303, '/'));
  } catch (err) {
    next(err);
  }
});

app.post('/logout', (req, res, next) => {
  if (fromOtherOrigin(req)) return page(res, 403, 'Log out', ['<p>This logout did not come from this site\'s page. <a href="/">Back</a>.</p>']);
  res.clearCookie(FIRST_VISIT_COOKIE); // the next page counts afresh
  // A session never saved (nothing in it) has nothing to end: no write to the store.
  if (demo(req).visits === undefined && demo(req).user === undefined) return res.redirect(303, '/');
  req.session.destroy((err) => (err ? next(err) : res.redirect(303, '/')));
});

// The course (examples/courseware/course.ts): a published problem, answers on the learner's home node.
app.use(courseRoutes({ nodeId, client, userOf: (req) => demo(req).user, page }));

// A store error (unreachable, refused) is the request's answer: 503 and the reason, never a crash.
app.use((err: Error & { code?: string; status?: number }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
  if (res.headersSent) return void res.end();
  if (typeof err.status === 'number' && err.status >= 400 && err.status < 500) return page(res, err.status, 'Bad request', [`<p>${esc(err.message)}</p>`]);
  log(`error: ${err.message}`);
  page(res, err.code === 'too_large' ? 413 : 503, 'Unavailable', [`<p>Cohort cannot be used right now${err.code ? ` (${esc(err.code)})` : ''}: ${esc(err.message)}.</p>`, '<p>Try again in a moment.</p>']);
});

const server = app.listen(Number(PORT), HOST ?? '127.0.0.1', () => process.stdout.write(`demo-app: ${instance} serving on ${HOST ?? '127.0.0.1'}:${PORT}\n`));
// Graceful: finish the requests in flight, then exit (the supervisor's reloads rely on it).
const stop = () => {
  node.close();
  server.close(() => process.exit(0));
  server.closeIdleConnections();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
