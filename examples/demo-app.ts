// The demo's web application: one process per access node, on that node's httpPort, behind
// Cohort's front. Each page says which node served it, counts the visits of the browser's
// session (kept in this process's memory, so the count only grows if the front's sticky
// cookie brings the browser back here), and asks its own node, through the client library,
// for its load and links.
//   node examples/demo-app.ts --config hosts.yaml --node C
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { CohortClient } from '../src/client/client.ts';
import { loadHostTable } from '../src/config/host-table.ts';

const { values } = parseArgs({ options: { config: { type: 'string' }, node: { type: 'string' } } });
if (!values.config || !values.node) {
  process.stderr.write('usage: demo-app.ts --config HOSTS.yaml --node ID\n');
  process.exit(2);
}
const table = loadHostTable(values.config);
const self = table.nodes.find((n) => n.id === values.node);
if (!self) {
  process.stderr.write(`demo-app: no node '${values.node}' in ${values.config}\n`);
  process.exit(2);
}
const nodeId = self.id;

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
  visits.set(sid, count);
  const body = [
    `Hello from the app on node ${nodeId} (pid ${process.pid}).`,
    `Visits in this session: ${count}${count > 1 ? ` (the front's sticky cookie brought you back to ${nodeId})` : ''}`,
    await nodeFacts(),
    '',
  ].join('\n');
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'set-cookie': `demo_sid=${sid}; Path=/; HttpOnly; SameSite=Lax`, 'x-served-by': nodeId });
  res.end(body);
});
server.listen(self.httpPort, self.host, () => process.stdout.write(`demo-app: node ${nodeId} serving on ${self.host}:${self.httpPort}\n`));
const stop = () => {
  client?.close();
  server.close();
  server.closeAllConnections();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
