// The demo's web application, run by each access node's supervisor (the host table's app:
// section) on ports of its own, behind Cohort's front. Each page says which node and instance
// served it, counts the visits of the browser's session (kept in this process's memory, so the
// count only grows if the front's sticky cookie brings the browser back here), and asks its own
// node, through the client library, for its load and links.
// The supervisor sets PORT, HOST, COHORT_NODE, COHORT_CONFIG and COHORT_INSTANCE.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { CohortClient } from '../src/client/client.ts';
import { loadHostTable } from '../src/config/host-table.ts';

const { PORT, HOST, COHORT_NODE, COHORT_CONFIG, COHORT_INSTANCE } = process.env;
if (!PORT || !COHORT_NODE || !COHORT_CONFIG) {
  process.stderr.write('demo-app: run me under a Cohort node (app: section): PORT, COHORT_NODE and COHORT_CONFIG are not set\n');
  process.exit(2);
}
const table = loadHostTable(COHORT_CONFIG);
const nodeId = COHORT_NODE;
const instance = COHORT_INSTANCE ?? nodeId;

const visits = new Map<string, number>();
let client: CohortClient | undefined;

async function nodeFacts(): Promise<string> {
  try {
    client ??= await CohortClient.forNode(table, nodeId, { timeoutMs: 1000 });
    const load = (await client.call(nodeId, 'load')) as { percent: number };
    const peers = (await client.call(nodeId, 'peers')) as { peers: { state: string }[] };
    const up = peers.peers.filter((p) => p.state === 'up').length;
    return `node ${nodeId}: load ${load.percent}%, ${up} of ${peers.peers.length} links up`;
  } catch (err) {
    client?.close();
    client = undefined;
    return `node ${nodeId} cannot be asked right now (${(err as Error).message})`;
  }
}

const server = createServer(async (req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    return res.end('ok\n');
  }
  const sid = /(?:^|;\s*)demo_sid=([0-9a-f]{32})/.exec(req.headers.cookie ?? '')?.[1] ?? randomBytes(16).toString('hex');
  const count = (visits.get(sid) ?? 0) + 1;
  visits.delete(sid);
  visits.set(sid, count);
  // Bounded: a client picks its own sid, so the least recently seen are forgotten first.
  if (visits.size > 10_000) visits.delete(visits.keys().next().value!);
  const body = [
    `Hello from the app on node ${nodeId}, instance ${instance} (pid ${process.pid}).`,
    `Visits in this session: ${count}${count > 1 ? ` (the front's sticky cookie brought you back to ${instance})` : ''}`,
    await nodeFacts(),
    '',
  ].join('\n');
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'set-cookie': `demo_sid=${sid}; Path=/; HttpOnly; SameSite=Lax`, 'x-served-by': instance });
  res.end(body);
});
server.listen(Number(PORT), HOST ?? '127.0.0.1', () => process.stdout.write(`demo-app: ${instance} serving on ${HOST ?? '127.0.0.1'}:${PORT}\n`));
// Graceful: finish the requests in flight, then exit (the supervisor's reloads rely on it).
const stop = () => {
  client?.close();
  server.close(() => process.exit(0));
  server.closeIdleConnections();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
