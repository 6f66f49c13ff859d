// A back-end for the front's tests, run as its own process: every response names the
// back-end that produced it (HAProxy's regression tests do the same), so a test can
// assert which one answered. Routes:
//   /healthz            200, or 503 while the file given by --unhealthy exists
//   /echo               the request line, headers and body back as JSON (?stall=MS: read the body late)
//   /status/NNN         that status
//   /slow?ms=N          answers after N ms
//   /drain              answers with X-Cohort-Drain: 1 (the app asks to be drained)
//   /hang               reads the request, never answers, closes after 200 ms
//   /nodate             answers without a Date header
//   anything else       {"backend": name, "path": ...} (after ?ms=N milliseconds, if given)
// and WebSocket upgrades on any path echo each message prefixed with the name.
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { WebSocketServer } from 'ws';
import { patternBytes } from './pattern-bytes.ts';

const { values } = parseArgs({ options: { name: { type: 'string' }, port: { type: 'string' }, unhealthy: { type: 'string' } } });
const name = values.name!;
let requests = 0;

const server = createServer((req, res) => {
  // Parsed against a fixed origin, so a target like '//' stays a path and not a host.
  let url: URL;
  try {
    url = new URL(`http://x${req.url ?? '/'}`);
  } catch {
    res.writeHead(400, { 'x-backend': name });
    return void res.end();
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  // ?stall=MS: read nothing of the body for that long, so the sender meets back-pressure.
  const stall = Number(url.searchParams.get('stall') ?? 0);
  if (stall > 0) {
    req.pause();
    setTimeout(() => req.resume(), Math.min(stall, 5000));
  }
  req.on('end', () => {
    if (url.pathname === '/healthz') {
      const sick = values.unhealthy && existsSync(values.unhealthy);
      res.writeHead(sick ? 503 : 200, { 'content-type': 'text/plain' });
      return res.end(sick ? 'sick\n' : 'ok\n');
    }
    requests++;
    const json = (status: number, body: unknown, extra: Record<string, string> = {}) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'x-backend': name, 'content-length': Buffer.byteLength(text), ...extra });
      res.end(text);
    };
    // /bytes?n=N&seed=S&piece=P: N bytes that differ all along (a reused or overwritten buffer
    // shows), with their length, written P bytes at a time (each after the last one left).
    if (url.pathname === '/bytes') {
      const body = patternBytes(Math.min(Number(url.searchParams.get('n') ?? 0), 64 << 20), Number(url.searchParams.get('seed') ?? 0));
      const piece = Math.max(1, Number(url.searchParams.get('piece') ?? body.length));
      // &chunked=1: no length, so node frames the body in chunks.
      const chunked = url.searchParams.get('chunked') === '1';
      res.writeHead(200, chunked ? { 'content-type': 'application/octet-stream' } : { 'content-type': 'application/octet-stream', 'content-length': body.length });
      let at = 0;
      const next = (): void => {
        if (at >= body.length) return void res.end();
        const part = body.subarray(at, (at += piece));
        if (res.write(part)) setImmediate(next);
        else res.once('drain', next);
      };
      return next();
    }
    if (url.pathname === '/echo') return json(200, { backend: name, method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() });
    const status = /^\/status\/(\d{3})$/.exec(url.pathname);
    if (status) return json(Number(status[1]), { backend: name });
    if (url.pathname === '/slow') return void setTimeout(() => json(200, { backend: name }), Number(url.searchParams.get('ms') ?? 100));
    if (url.pathname === '/drain') return json(200, { backend: name }, { 'x-cohort-drain': '1' });
    if (url.pathname === '/hang') return void setTimeout(() => req.socket.destroy(), 200);
    if (url.pathname === '/count') return json(200, { backend: name, requests });
    if (url.pathname === '/nodate') {
      res.sendDate = false;
      return json(200, { backend: name });
    }
    if (url.pathname === '/chunked') {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': name });
      res.write(`${name}:`);
      return void setTimeout(() => res.end('done'), 10);
    }
    // ?ms=N on any other path: the answer comes after N ms (a slow page under any prefix).
    const ms = url.searchParams.get('ms');
    if (ms !== null) return void setTimeout(() => json(200, { backend: name, path: url.pathname }), Number(ms));
    json(200, { backend: name, path: url.pathname });
  });
});
const wss = new WebSocketServer({ server });
// A malformed frame from a client (tunnelled as is by the front) closes that socket, not this process.
wss.on('connection', (ws) => ws.on('error', () => ws.terminate()).on('message', (data) => ws.send(`${name}:${data.toString()}`)));
server.keepAliveTimeout = 60_000;
server.listen(Number(values.port), '127.0.0.1', () => process.stdout.write(`listening ${name}\n`));
process.on('SIGTERM', () => process.exit(0));
