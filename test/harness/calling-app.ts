// An app server for the command scope tests, run by a node's supervisor: it sends the commands
// it is told to through Cohort's client library, as a compromised app could.
//   GET /healthz   -> 200
//   POST /call     {"to", "cmd", "args", "crit"?, "via"?} -> {"ok": true, "data"} or {"ok": false, "code", "message"}
//                  via "client" (default): CohortClient.forNode, as any app (its node's app socket);
//                  via "operator-socket": straight to the node's operator socket path (cohort.sock).
import { createServer } from 'node:http';
import { CohortClient } from '../../src/client/client.ts';
import { loadHostTable, localSocketPath } from '../../src/config/host-table.ts';

const { PORT, HOST, COHORT_NODE, COHORT_CONFIG } = process.env;
if (!PORT || !COHORT_NODE || !COHORT_CONFIG) throw new Error('calling-app: run me under a Cohort node');
const table = loadHostTable(COHORT_CONFIG);

async function call(body: { to: string; cmd: string; args?: unknown; crit?: boolean; via?: string }): Promise<unknown> {
  const client = body.via === 'operator-socket' ? await CohortClient.connect(localSocketPath(table, COHORT_NODE!)) : await CohortClient.forNode(table, COHORT_NODE!);
  try {
    const data = body.crit ? await client.critical(body.to, body.cmd, body.args) : await client.call(body.to, body.cmd, body.args);
    return { ok: true, data };
  } catch (err) {
    return { ok: false, code: (err as { code?: string }).code, message: (err as Error).message };
  } finally {
    client.close();
  }
}

createServer((req, res) => {
  if (req.url === '/healthz') return void res.end('ok\n');
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    call(JSON.parse(Buffer.concat(chunks).toString()) as Parameters<typeof call>[0]).then(
      (answer) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer)),
      (err: Error) => res.writeHead(500).end(err.message),
    );
  });
}).listen(Number(PORT), HOST ?? '127.0.0.1');
process.once('SIGTERM', () => process.exit(0));
