// An app server for the supervisor's tests: listens on $PORT, and is told how to misbehave.
//   GET /            -> "<instance> <pid>" (?ms=N answers after N ms)
//   GET /healthz     -> 200, with X-Cohort-Sessions / X-Cohort-Drain once set below
//   POST /dying?sessions=N   declare DYING with N live sessions; /sessions?n=N changes the count
//   POST /hang       the health endpoint stops answering
//   POST /alloc?mb=N holds N MiB (memory recycling)
// TEST_APP_MODE: 'exit' exits at once with a message on stderr; 'slow-start' listens after 1.5 s;
// 'slow-stop' takes 3 s after SIGTERM before it closes.
import { createServer } from 'node:http';

const mode = process.env.TEST_APP_MODE ?? '';
if (mode === 'exit') {
  process.stderr.write('test-app: told to fail at start\n');
  process.exit(3);
}
const id = process.env.COHORT_INSTANCE ?? 'app';
let sessions: number | null = null;
let dying = false;
let hang = false;
const held: Buffer[] = [];

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const n = Number(url.searchParams.get('sessions') ?? url.searchParams.get('n') ?? url.searchParams.get('mb') ?? url.searchParams.get('ms') ?? 0);
  if (url.pathname === '/healthz') {
    if (hang) return; // never answers
    const headers: Record<string, string> = { 'content-type': 'text/plain' };
    if (sessions !== null) headers['x-cohort-sessions'] = String(sessions);
    if (dying) headers['x-cohort-drain'] = 'dying';
    res.writeHead(200, headers);
    return res.end('ok\n');
  }
  if (req.method === 'POST' && url.pathname === '/dying') {
    dying = true;
    sessions = n;
  } else if (req.method === 'POST' && url.pathname === '/sessions') sessions = n;
  else if (req.method === 'POST' && url.pathname === '/hang') hang = true;
  else if (req.method === 'POST' && url.pathname === '/alloc') held.push(Buffer.alloc(n * 1024 * 1024, 1));
  const answer = () => {
    res.writeHead(200, { 'content-type': 'text/plain', 'x-instance': id });
    res.end(`${id} ${process.pid}\n`);
  };
  if (url.pathname === '/' && n > 0) setTimeout(answer, n);
  else answer();
});

const listen = () => server.listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1', () => process.stdout.write(`test-app ${id} listening on ${process.env.PORT}\n`));
if (mode === 'slow-start') setTimeout(listen, 1500);
else listen();
// Graceful: finish the requests in flight, then exit.
process.once('SIGTERM', () => {
  setTimeout(() => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
  }, mode === 'slow-stop' ? 3000 : 0);
});
