// One back-end of bench/lard.ts: a plain node:http server that answers GET /path with the
// target's bytes (its size from a size table; the body is the path repeated, so it is
// deterministic and needs no disk) through an in-memory LRU cache bounded in bytes. A miss
// costs a simulated disk read, a timer and not busy CPU, after the LARD paper's simulated disk
// (Pai et al., ASPLOS 1998, its simulation model): seekMs (28) for the first 44 KiB, seekMs / 2 (14)
// more for each further 44 KiB, plus the transfer at mbps (10 MB/s). The back-end has
// `disks` arms (1): at most that many reads at once, the rest wait in line, in order. That
// line is what locality saves. Concurrent misses on one target share one read.
// A hit costs nothing beyond sending; each answer says which it was in X-Cache.
// Control (not cached, no cost): GET /__health; GET /__stats (JSON counters); GET
// /__ctl?clear=1&zero=1&cost=F (empty the cache; zero the counters; reads take F times the
// model, 0: no time and no line, for warming). Call /__ctl only while no request is in flight.
// Usage: node bench/lard-backend.ts PORT SIZES.json CACHE_BYTES SEEK_MS MBPS DISKS
import { readFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';

const [portArg, sizesFile, cacheArg, seekArg, mbpsArg, disksArg] = process.argv.slice(2);
const sizes = new Map(Object.entries(JSON.parse(readFileSync(sizesFile, 'utf8')) as Record<string, number>));
let cacheBytes = Number(cacheArg);
const SEEK_MS = Number(seekArg);
const MBPS = Number(mbpsArg);
const DISKS = Number(disksArg);
const CHUNK = 44 * 1024;

/** The simulated disk's time to read `size` bytes. */
function missMs(size: number): number {
  const extraSeeks = Math.ceil(Math.max(0, size - CHUNK) / CHUNK);
  return SEEK_MS + (SEEK_MS / 2) * extraSeeks + size / (MBPS * 1000);
}

// Map order is recency: a hit deletes and sets again, the first key is the least recently used.
const cache = new Map<string, Buffer>();
let cachedBytes = 0;
let cost = 1;
const stats = { hits: 0, misses: 0, reads: 0, evictions: 0 };

function lookup(path: string): Buffer | undefined {
  const body = cache.get(path);
  if (body) {
    cache.delete(path);
    cache.set(path, body);
  }
  return body;
}

function insert(path: string, body: Buffer): void {
  if (body.length > cacheBytes || cache.has(path)) return;
  cache.set(path, body);
  cachedBytes += body.length;
  evictPast(cacheBytes);
}

function evictPast(limit: number): void {
  while (cachedBytes > limit) {
    const [oldest, old] = cache.entries().next().value!;
    cache.delete(oldest);
    cachedBytes -= old.length;
    stats.evictions++;
  }
}

// The disk: `busy` reads under way, the rest waiting in order. A target being read is in `reading`.
let busy = 0;
const line: (() => void)[] = [];
const reading = new Map<string, Promise<Buffer>>();

function read(path: string, size: number): Promise<Buffer> {
  const content = () => {
    const body = Buffer.alloc(size, path, 'latin1');
    insert(path, body);
    return body;
  };
  if (cost === 0) return Promise.resolve(content());
  let p = reading.get(path);
  if (p) return p;
  stats.reads++;
  p = new Promise<Buffer>((resolve) => {
    const run = () => {
      busy++;
      setTimeout(() => {
        busy--;
        reading.delete(path);
        resolve(content());
        line.shift()?.();
      }, missMs(size) * cost);
    };
    if (busy < DISKS) run();
    else line.push(run);
  });
  reading.set(path, p);
  return p;
}

function send(res: ServerResponse, body: Buffer, how: 'hit' | 'miss'): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length, 'x-cache': how });
  res.end(body);
}

const server = createServer((req, res) => {
  const url = req.url ?? '/';
  if (url.startsWith('/__')) {
    const q = new URL(url, 'http://x').searchParams;
    if (url.startsWith('/__ctl')) {
      if (q.get('clear') === '1') {
        cache.clear();
        cachedBytes = 0;
      }
      if (q.get('clear') === '1' || q.get('zero') === '1') Object.assign(stats, { hits: 0, misses: 0, reads: 0, evictions: 0 });
      if (q.has('cost')) cost = Number(q.get('cost'));
      // The bench's limit row: caches that hold every target.
      if (q.has('cache')) evictPast((cacheBytes = Number(q.get('cache'))));
    }
    if (url === '/__health' || url.startsWith('/__ctl') || url === '/__stats') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ ...stats, cachedBytes, cacheBytes, items: cache.size, busy, waiting: line.length, cost }));
    }
  }
  const size = sizes.get(url);
  if (req.method !== 'GET' || size === undefined) {
    res.writeHead(404, { 'content-length': 0 });
    return res.end();
  }
  const body = lookup(url);
  if (body) {
    stats.hits++;
    return send(res, body, 'hit');
  }
  stats.misses++;
  read(url, size).then((b) => send(res, b, 'miss'));
});
// Proxies keep their connections: no idle or request limits that would close one under them.
server.keepAliveTimeout = 300_000;
server.headersTimeout = 0;
server.requestTimeout = 0;
server.listen(Number(portArg), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
