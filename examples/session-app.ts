// The demo's web application with its sessions in a shared store, so a visit count survives
// moving between app instances and nodes. express + express-session, with either
//   SESSION_STORE=cohort (default): Cohort's embedded store through this node (COHORT_NODE,
//     COHORT_CONFIG, both set by the supervisor), new sessions living first on this node;
//   SESSION_STORE=redis: connect-redis on REDIS_URL (default redis://127.0.0.1:6379).
// SESSION_TOUCH_AFTER_MS (cohort: how long a touch may be skipped, default 60 s) and
// REDIS_DISABLE_TOUCH=1 (connect-redis' disableTouch) set each store's touch rule (bench:sessions).
// A store that cannot be reached answers 503 with the reason; the app keeps running and works
// again when the store is back. PORT and HOST as the supervisor sets them; SESSION_SECRET
// signs the cookie. SESSION_NODE (tests, benchmarks) makes new sessions live first on another node.
import express from 'express';
import session from 'express-session';
import { RedisStore } from 'connect-redis';
import { createClient } from 'redis';
import { NodeConnection } from '../src/client/node-connection.ts';
import { loadHostTable } from '../src/config/host-table.ts';
import { CohortSessionStore } from '../src/client/express-store.ts';

const env = process.env;
const kind = env.SESSION_STORE ?? 'cohort';
const instance = env.COHORT_INSTANCE ?? `pid ${process.pid}`;
const log = (msg: string) => process.stderr.write(`session-app ${instance}: ${msg}\n`);
if (!env.PORT) {
  log('PORT is not set');
  process.exit(2);
}

let store: session.Store;
let genid: (() => string) | undefined;
let closeStore: () => void;
if (kind === 'redis') {
  let down = false;
  const redis = createClient({
    url: env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    // Fail a command at once while disconnected (a 503 now), instead of queueing it until Redis is back.
    disableOfflineQueue: true,
    socket: { connectTimeout: 2000, reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 1000) },
  });
  redis.on('error', (err: Error) => {
    if (!down) log(`redis: ${err.message} (reconnecting)`);
    down = true;
  });
  redis.on('ready', () => {
    if (down) log('redis: connected again');
    down = false;
  });
  redis.connect().catch((err: Error) => log(`redis: ${err.message}`));
  store = new RedisStore({ client: redis, prefix: 'cohort-demo:', disableTouch: env.REDIS_DISABLE_TOUCH === '1' });
  closeStore = () => redis.destroy();
} else if (kind === 'cohort') {
  if (!env.COHORT_NODE || !env.COHORT_CONFIG) {
    log('SESSION_STORE=cohort runs under a Cohort node: COHORT_NODE and COHORT_CONFIG are not set');
    process.exit(2);
  }
  const table = loadHostTable(env.COHORT_CONFIG);
  const node = env.COHORT_NODE;
  // One connection to this node's local socket, opened again if the node restarts.
  // Its wait outlasts the node's own for a command that crosses the network (link.requestTimeoutMs
  // plus connectTimeoutMs, 13 s): the node's answer, even a con_lost, comes before the app gives up.
  const connection = new NodeConnection(table, node, 15_000);
  const touchAfterMs = env.SESSION_TOUCH_AFTER_MS === undefined ? undefined : Number(env.SESSION_TOUCH_AFTER_MS);
  if (touchAfterMs !== undefined && !(Number.isInteger(touchAfterMs) && touchAfterMs >= 0)) {
    log(`SESSION_TOUCH_AFTER_MS must be a whole number of milliseconds, not ${env.SESSION_TOUCH_AFTER_MS}`);
    process.exit(2);
  }
  const cohortStore = new CohortSessionStore({ client: connection, node: env.SESSION_NODE ?? node, touchAfterMs });
  store = cohortStore;
  genid = cohortStore.genid;
  closeStore = () => connection.close();
} else {
  log(`SESSION_STORE must be cohort or redis, not ${kind}`);
  process.exit(2);
}

const app = express();
app.disable('x-powered-by');
app.get('/healthz', (_req, res) => {
  res.type('text/plain').send('ok\n');
});
app.use(session({
  store,
  ...(genid ? { genid } : {}),
  secret: env.SESSION_SECRET ?? 'cohort demo secret: set SESSION_SECRET',
  resave: false,
  saveUninitialized: false,
  cookie: { httpOnly: true, sameSite: 'lax', maxAge: 86_400_000 },
}));
type Visits = { visits?: number };
// One read and one write of the session per request.
// The session is saved before the answer, so a write the store refused is the answer (503),
// never a 200 for a count that was not kept (express-session's own save at the end of the
// response comes after the status has gone out).
const countVisit = (req: express.Request, next: express.NextFunction, answer: (visits: number) => void) => {
  const s = req.session as unknown as Visits;
  s.visits = (s.visits ?? 0) + 1;
  req.session.save((err) => (err ? next(err) : answer(s.visits!)));
};
app.get('/visit', (req, res, next) => countVisit(req, next, (visits) => res.json({ visits, id: req.sessionID, instance })));
app.get('/', (req, res, next) => countVisit(req, next, (visits) => {
  res.type('text/plain').send(`Hello from ${instance} (${kind} sessions). Visits in this session: ${visits}\n`);
}));
// A store error (unreachable, refused) is the request's answer: 503 and the reason, never a crash.
app.use((err: Error & { code?: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
  log(`session store error: ${err.message}`);
  if (res.headersSent) return void res.end();
  res.status(err.code === 'too_large' ? 413 : 503).json({ error: 'session store unavailable', code: err.code ?? null, message: err.message });
});

const server = app.listen(Number(env.PORT), env.HOST ?? '127.0.0.1', () => log(`serving on ${env.HOST ?? '127.0.0.1'}:${env.PORT}`));
const stop = () => {
  closeStore();
  server.close(() => process.exit(0));
  server.closeIdleConnections();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
