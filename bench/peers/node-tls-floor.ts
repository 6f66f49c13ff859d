// bench:tls's floor: Node's own TLS servers answering from memory, with the front's TLS profile
// and nothing behind them (no back-end, no request checks, no balancing). No front written in
// Node can do more than this on the same machine: it is the runtime's ceiling, measured beside
// the peers so that the front's ratios can be read against it.
// HTTP/2 streams are answered with node:http2's core API (the compat layer's request objects
// cost more); HTTP/1.1 by the same server's http/1.1 fallback. Usage: node-tls-floor.ts CERT KEY PORT DIR
import { readFileSync, readdirSync } from 'node:fs';
import { createSecureServer, type ServerHttp2Stream } from 'node:http2';
import { join } from 'node:path';
import { profileOptions } from '../../src/tls/profiles.ts';

const [cert, key, port, dir] = process.argv.slice(2);
const files = new Map(readdirSync(dir).filter((f) => f.endsWith('.txt')).map((f) => [`/${f}`, readFileSync(join(dir, f))]));

const server = createSecureServer({ ...profileOptions('intermediate'), cert: readFileSync(cert), key: readFileSync(key), allowHTTP1: true });
server.on('request', (req, res) => {
  const body = files.get(req.url ?? '');
  res.writeHead(body ? 200 : 404, { 'content-type': 'text/plain', 'content-length': body?.length ?? 0 });
  if (body) res.end(body);
  else res.end();
});
// The 'request' listener above also hooked the compat layer to every h2 stream: unhook it, h2 takes the core API.
server.removeAllListeners('stream');
server.on('stream', (stream: ServerHttp2Stream, headers) => {
  const body = files.get(String(headers[':path']));
  stream.respond({ ':status': body ? 200 : 404, 'content-type': 'text/plain', 'content-length': body?.length ?? 0 });
  if (body) stream.end(body);
  else stream.end();
});
server.listen(Number(port), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
