// A compromised library node, as a process of its own: it holds the cluster certificate of
// node --id (a library node of the host table) and answers on its link port with the
// project's own LinkServer, so the nodes it talks to see a real peer over real TLS. It claims
// every author of its domain and lies in its answers, by the last segment of the path asked:
//   other-url      res.subscribe names --victim (version 1) instead of the URL asked
//   other-version  res.subscribe names another version than the one asked
//   bad-digest     the raw bytes do not hash to the digest it announces (headers agree with it)
//   malformed      res.subscribe's answer is not a version's metadata
//   fill-budget    res.subscribe announces 990 bytes (then sends its usual, shorter, bytes)
// and for the author 'garbled', res.author answers { home: 'yes' } instead of a boolean.
// Prints "ready" once it listens; stops on SIGTERM.
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { parseArgs } from 'node:util';
import { loadHostTable } from '../../src/config/host-table.ts';
import { CohortError } from '../../src/errors.ts';
import { createLogger } from '../../src/log.ts';
import { LinkServer } from '../../src/net/link-server.ts';
import { loadTlsMaterial } from '../../src/net/tls-material.ts';

const { values } = parseArgs({ options: { config: { type: 'string' }, id: { type: 'string' }, victim: { type: 'string' } } });
const table = loadHostTable(values.config!);
const self = table.nodes.find((n) => n.id === values.id)!;
const log = createLogger({ node: self.id, fake: true }, 'warn');

const BYTES = Buffer.from('<p>not what the author published</p><script>document.title = "owned"</script>\n');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** What bad-digest announces: other bytes of the same length. */
const ANNOUNCED_FOR_BAD = sha256(Buffer.from(BYTES.toString().replace('owned', 'OWNED')));

function meta(url: string, version: number, digest = sha256(BYTES)) {
  return { url, version, digest, size: BYTES.length, contentType: 'text/html', publishedAt: Date.now(), access: 'cluster' };
}

function subscribeAnswer(args: { url: string; version?: number }): unknown {
  switch (args.url.split('/').pop()) {
    case 'other-url':
      return { ...meta(values.victim!, 1), newest: 1 };
    case 'other-version':
      return { ...meta(args.url, (args.version ?? 1) + 1), newest: (args.version ?? 1) + 1 };
    case 'bad-digest':
      return { ...meta(args.url, 1, ANNOUNCED_FOR_BAD), newest: 1 };
    case 'fill-budget':
      return { ...meta(args.url, 1), size: 990, newest: 1 };
    case 'malformed':
      return { url: args.url, version: 'one', newest: 1 };
    default:
      return { ...meta(args.url, args.version ?? 1), newest: args.version ?? 1 };
  }
}

function answer(cmd: string, args: unknown): unknown {
  const a = args as { url: string; version?: number; user: string };
  if (cmd === 'ping') return { pong: self.id };
  if (cmd === 'res.author') return { home: a.user === 'garbled' ? 'yes' : true };
  if (cmd === 'res.subscribe') return subscribeAnswer(a);
  throw new CohortError('unknown_cmd', `${cmd}: not answered by this fake node`);
}

// Raw transfers: whatever version is asked for, the same bytes, with the digest its answer announced.
const raw = createServer((req, res) => {
  const path = decodeURIComponent((req.url ?? '').split('?')[0]);
  const digest = path.endsWith('/bad-digest') ? ANNOUNCED_FOR_BAD : sha256(BYTES);
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BYTES.length, 'x-cohort-digest': digest }).end(BYTES);
});

const server = new LinkServer({
  self: self.id,
  table,
  tls: loadTlsMaterial(table.tlsDir, table.cluster, self.id),
  log,
  onRequest: () => (req) => answer(req.cmd, req.args),
  onRaw: (socket: TLSSocket) => void raw.emit('connection', socket),
});
await server.listen(self.host, self.bindLinkPort ?? self.linkPort);
process.stdout.write('ready\n');
process.once('SIGTERM', () => {
  void server.close().then(() => process.exit(0));
});
