// The node `http-proxy` peer for bench:front: round robin over the back-ends, keep-alive agent.
import { Agent, createServer } from 'node:http';
import httpProxy from 'http-proxy';

const [port, ...targets] = process.argv.slice(2).map(Number);
const agent = new Agent({ keepAlive: true, maxSockets: 256 });
const proxy = httpProxy.createProxyServer({ agent });
proxy.on('error', (_err, _req, res) => {
  if ('writeHead' in res && !res.headersSent) res.writeHead(502);
  res.end();
});
let next = 0;
createServer((req, res) => proxy.web(req, res, { target: `http://127.0.0.1:${targets[next++ % targets.length]}` })).listen(port, '127.0.0.1');
