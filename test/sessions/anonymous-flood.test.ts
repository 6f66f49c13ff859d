import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { LoadFigures } from '../../src/sessions/load.ts';
import type { RegistrySnapshot } from '../../src/supervisor/registry.ts';
import { TestCluster } from '../harness/cluster.ts';
import { freePortRange } from '../harness/ports.ts';
import { waitFor } from '../harness/wait.ts';

// The demo app (the real process, supervised by its node) under a flood of requests without
// cookies: no session is saved for any of them, on either copy's node, and none counts as user
// load. DEMO_FLOOD_GETS sets how many (50,000 by default).
const DEMO_APP = fileURLToPath(new URL('../../examples/demo-app.ts', import.meta.url));
const GETS = Number(process.env.DEMO_FLOOD_GETS ?? 50_000);
const CONCURRENCY = 16;
/** The nodes' bound on sessions without a login (sessions.maxAnonymous), small enough to pass here. */
const MAX_ANONYMOUS = 1_000;
let c: TestCluster;
let appUrl: string;

before(async () => {
  c = await TestCluster.create(
    [{ id: 'L', role: 'library' }, { id: 'A', app: { basePort: await freePortRange(10) } }, { id: 'B', app: { basePort: await freePortRange(10), instances: 0 } }],
    {
      app: { command: [process.execPath, DEMO_APP], instances: 1, portSpan: 10, health: { path: '/healthz', intervalMs: 1000, timeoutMs: 1000, fails: 3 }, killTimeoutMs: 3000 },
      load: { userLimit: 1000, sessionWindowMin: 10, handoverTtlS: 30 },
      sessions: { maxAnonymous: MAX_ANONYMOUS },
    },
  );
  await c.startAll();
  const ready = await waitFor("A's demo app instance", async () => ((await (await c.client('A')).call('A', 'app.registry')) as RegistrySnapshot).instances.find((i) => i.state === 'ready' && i.port !== null), 30_000);
  appUrl = `http://${ready.host}:${ready.port}`;
});
after(async () => c?.destroy());

const rows = (node: string) => {
  const db = new DatabaseSync(join(c.table.dataDir, node, 'sessions.db'), { readOnly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM sessions').get() as { n: number }).n;
  } finally {
    db.close();
  }
};

/** GET `path` on a keep-alive socket: status, Set-Cookie lines and body. */
function get(agent: Agent, path: string, cookie?: string): Promise<{ status: number; cookies: string[]; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${appUrl}${path}`, { agent, headers: cookie ? { cookie } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, cookies: res.headers['set-cookie'] ?? [], body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** `n` GETs of `/` over CONCURRENCY keep-alive connections, each with `cookie`: the answers `wrong` finds fault with. */
async function flood(n: number, cookie: string | undefined, wrong: (r: Awaited<ReturnType<typeof get>>) => boolean): Promise<{ problems: string[]; seconds: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  let next = 0;
  const problems: string[] = [];
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < n) {
      next++;
      const r = await get(agent, '/', cookie);
      if (wrong(r)) problems.push(`${r.status} ${r.cookies.join(' | ')} ${r.body.slice(0, 200)}`);
    }
  }));
  agent.destroy();
  return { problems, seconds: (performance.now() - started) / 1000 };
}

test(`${GETS} GETs without cookies to the demo app save no session, and count as no user load`, async () => {
  const before = { A: rows('A'), B: rows('B') };
  const { problems, seconds } = await flood(GETS, undefined, (r) => r.status !== 200 || !/Visits in this session: 1 /.test(r.body) || r.cookies.some((k) => k.startsWith('demo_sid=')));
  assert.deepEqual(problems.slice(0, 3), [], `${problems.length} of ${GETS} answers were not a first visit without a session`);
  assert.deepEqual({ A: rows('A'), B: rows('B') }, before, 'no new session rows on either copy');
  const load = (await (await c.client('A')).call('A', 'load')) as LoadFigures;
  assert.equal(load.sessions, 0);
  process.stdout.write(`# ${GETS} cookieless GETs in ${seconds.toFixed(1)} s (${Math.round(GETS / seconds)}/s), ${CONCURRENCY} keep-alive connections\n`);
});

test('a browser that comes back is counted in a session (both copies), and it is not user load until a login', async () => {
  const agent = new Agent({ keepAlive: true });
  const before = { A: rows('A'), B: rows('B') };
  const first = await get(agent, '/');
  assert.match(first.body, /Visits in this session: 1 /);
  const mark = first.cookies.find((k) => k.startsWith('demo_visited='))!.split(';')[0];
  const second = await get(agent, '/', mark);
  assert.match(second.body, /Visits in this session: 2 /);
  const sid = second.cookies.find((k) => k.startsWith('demo_sid='))!.split(';')[0];
  const third = await get(agent, '/', `${mark}; ${sid}`);
  assert.match(third.body, /Visits in this session: 3 /);
  await waitFor('the session on both copies', () => rows('A') === before.A + 1 && rows('B') === before.B + 1);
  assert.equal(((await (await c.client('A')).call('A', 'load')) as LoadFigures).sessions, 0, 'an anonymous session is not a user');
  agent.destroy();
});

test('a client that replays the first-visit mark makes a session per request: the nodes keep at most sessions.maxAnonymous of them', async () => {
  // Every request "comes back" (demo_visited=1, no session cookie), so each saves a new session;
  // each copy's node drops the least recently written past the bound once a tenth of it was added
  // since its last look, so it holds at most the bound and that tenth.
  const n = 2 * MAX_ANONYMOUS;
  const { problems } = await flood(n, 'demo_visited=1', (r) => r.status !== 200);
  assert.deepEqual(problems.slice(0, 3), [], `${problems.length} of ${n} answers were not 200`);
  const most = MAX_ANONYMOUS * 1.1;
  await waitFor(`at most ${most} anonymous sessions on each node`, () => rows('A') <= most && rows('B') <= most, 20_000);
});
