import assert from 'node:assert/strict';
import { connect, constants, type ClientHttp2Session, type OutgoingHttpHeaders } from 'node:http2';
import { after, afterEach, before, describe, it } from 'node:test';
import { FrontCluster, STICKY_KEY } from '../harness/front-cluster.ts';
import { answerOk, RawBackend, type RawRequest } from '../harness/raw-backend.ts';
import { patternBytes, readAfterPause, sha256Hex } from '../harness/pattern-bytes.ts';
import { FLAG, frame, FRAME, headerBlock, RawH2 } from '../harness/raw-h2.ts';
import { issueTestCert, makeTestCa } from '../harness/test-certs.ts';
import { seededRandom } from '../harness/random.ts';
import { waitFor } from '../harness/wait.ts';
import { webSocketAccept } from '../../src/front/http/websocket-handshake.ts';
import { HTTP2_BOUNDS } from '../../src/front/http2/http2-connection.ts';

// HTTP/2 to clients (ALPN h2 on the HTTPS listener), each stream translated to the front's
// HTTP/1.1 request path: what a back-end receives, what a client gets back, and the bounds
// on what a client can make the front do (RFC 9113; CVE-2023-44487 rapid reset; CVE-2024-27316
// CONTINUATION floods).
const NAME = 'front.example';
const { NGHTTP2_PROTOCOL_ERROR, NGHTTP2_REFUSED_STREAM, NGHTTP2_CANCEL } = constants;

interface H2Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

describe('the front over HTTP/2', () => {
  let fc: FrontCluster;
  let backend: RawBackend;
  let ca: string;
  const sessions: ClientHttp2Session[] = [];
  const raws: RawH2[] = [];

  const session = (): ClientHttp2Session => {
    const s = connect(`https://${NAME}:${fc.port}`, { ca, servername: NAME, lookup: (_h, _o, cb) => cb(null, [{ address: '127.0.0.1', family: 4 }] as never) });
    s.on('error', () => {});
    sessions.push(s);
    return s;
  };
  const raw = async (): Promise<RawH2> => {
    const r = await RawH2.open(fc.port, ca, NAME);
    raws.push(r);
    return r;
  };
  const ask = (s: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: string) =>
    new Promise<H2Answer>((resolve, reject) => {
      const req = s.request({ ':path': '/', ...headers }, { endStream: body === undefined });
      let status = 0;
      let got: H2Answer['headers'] = {};
      let text = '';
      req.on('response', (h) => {
        status = Number(h[':status']);
        got = h;
      });
      req.setEncoding('utf8');
      req.on('data', (d: string) => (text += d));
      req.on('end', () => resolve({ status, headers: got, body: text }));
      req.on('error', reject);
      if (body !== undefined) req.end(body);
    });
  const only = (): RawRequest => {
    assert.equal(backend.requests.length, 1, `the back-end got ${backend.requests.length} requests`);
    return backend.requests[0];
  };
  const field = (r: RawRequest, name: string) => r.headers.filter(([n]) => n === name).map(([, v]) => v);

  before(async () => {
    backend = await RawBackend.start();
    fc = await FrontCluster.create([], {
      backends: [{ id: 'raw', host: '127.0.0.1', port: backend.port }],
      health: { path: '/healthz', intervalMs: 200, timeoutMs: 500, rise: 1, fall: 1, slowStartMs: 0, errorsToEject: 1_000_000 },
      sticky: { mode: 'cookie', keys: [STICKY_KEY] },
      timeouts: { headersMs: 1500, idleMs: 60_000, connectMs: 2000, upstreamMs: 30_000 },
    });
    ca = makeTestCa(fc.dir);
    const cert = issueTestCert(fc.dir, 'front', [NAME], 'ec');
    fc.writeConfig({ ...fc.frontConfig, listen: { host: '127.0.0.1', port: fc.port, tls: { certificates: [{ cert: cert.cert, key: cert.key }], hsts: { maxAgeS: 600 } } } });
    await fc.startFront();
    await waitFor('the raw back-end ready', () => fc.allReady());
  });
  afterEach(() => {
    for (const s of sessions.splice(0)) s.destroy();
    for (const r of raws.splice(0)) r.destroy();
    backend.reset();
  });
  after(async () => {
    await fc.destroy();
    await backend.close();
  });

  it('ALPN picks h2; the back-end gets HTTP/1.1 with Host from :authority and X-Forwarded-Proto https; the client gets HSTS and no hop-by-hop fields', async () => {
    backend.reset((req, conn) => conn.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=5\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-App: yes\r\n\r\nhi'));
    const s = session();
    const answer = await ask(s, { ':path': '/p?q=1', 'x-custom': 'v' });
    assert.equal(answer.status, 200);
    assert.equal(answer.body, 'hi');
    assert.equal(answer.headers['strict-transport-security'], 'max-age=600');
    assert.deepEqual([answer.headers['set-cookie']].flat().filter((c) => !c?.startsWith('cohort_srv=')), ['a=1', 'b=2']);
    assert.equal(answer.headers['x-app'], 'yes');
    assert.equal(answer.headers['keep-alive'], undefined);
    assert.equal(s.alpnProtocol, 'h2');
    assert.equal(s.remoteSettings.maxConcurrentStreams, 100, 'the stream limit is announced');
    const r = only();
    assert.match(r.head, /^GET \/p\?q=1 HTTP\/1\.1\r\n/);
    assert.deepEqual(field(r, 'host'), [`${NAME}:${fc.port}`]);
    assert.deepEqual(field(r, 'x-forwarded-proto'), ['https']);
    assert.deepEqual(field(r, 'x-custom'), ['v']);
  });

  it("a back-end's repeated fields, single-value ones too, reach the client as they came (not a reset)", async () => {
    backend.reset((req, conn) => conn.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\nContent-Type: text/html\r\nX-App: a\r\nX-App: b\r\n\r\nhi'));
    const s = session();
    const raw = await new Promise<string[]>((resolve, reject) => {
      const req = s.request({ ':path': '/' });
      req.on('response', (_h, _f, rawHeaders: string[]) => resolve(rawHeaders));
      req.on('error', reject);
      req.resume();
    });
    assert.equal(raw[1], '200');
    const pairs = Array.from({ length: raw.length / 2 }, (_, i) => [raw[2 * i], raw[2 * i + 1]]);
    assert.deepEqual(pairs.filter(([n]) => n === 'content-type').map(([, v]) => v), ['text/plain', 'text/html']);
    assert.deepEqual(pairs.filter(([n]) => n === 'x-app').map(([, v]) => v), ['a', 'b']);
  });

  it('a large answer to a stream that stops reading arrives byte for byte (body bytes are views of the upstream read buffer, on loan until node:http2 has sent them)', async () => {
    const size = 8 << 20;
    const body = patternBytes(size, 7);
    backend.script = (_req, conn) => {
      conn.write(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`);
      let at = 0;
      const next = () => {
        if (at >= size) return;
        conn.write(body.subarray(at, (at += 20_000)).toString('latin1'));
        setImmediate(next);
      };
      next();
    };
    const got = await readAfterPause(session().request({ ':path': '/big' }), 400);
    assert.equal(got.length, size);
    assert.equal(sha256Hex(got), sha256Hex(body), 'the answer arrived as sent');
  });

  it('cookie crumbs are merged with "; " (RFC 9113 §8.2.3) before the sticky cookie is read, and it is Secure', async () => {
    const s = session();
    const first = await ask(s, { ':path': '/' });
    const setCookie = [first.headers['set-cookie']].flat().find((c) => c?.startsWith('cohort_srv='));
    assert.ok(setCookie, 'a new session gets the sticky cookie');
    assert.match(setCookie, /; Secure/);
    const sticky = setCookie.split(';')[0];
    backend.reset();
    // node:http2's client sends each array item as a field of its own.
    const second = await ask(s, { ':path': '/', cookie: ['a=1', sticky, 'b=2'] });
    assert.equal(second.status, 200);
    assert.equal([second.headers['set-cookie']].flat().some((c) => c?.startsWith('cohort_srv=')), false, 'the crumb was read as the session cookie: not issued again');
    assert.deepEqual(field(only(), 'cookie'), ['a=1; b=2'], 'one field, without the sticky cookie');
  });

  it('a body without content-length goes chunked or with its length; more or less data than content-length resets the stream, never forwarded', async () => {
    const s = session();
    const posted = await ask(s, { ':method': 'POST', ':path': '/post' }, 'hello');
    assert.equal(posted.status, 200);
    const r = only();
    assert.deepEqual(field(r, 'content-length'), ['5']);
    assert.equal(r.body, 'hello');
    backend.reset();
    const post = (length: string): [string, string][] => [[':method', 'POST'], [':scheme', 'https'], [':path', '/cl'], [':authority', NAME], ['content-length', length]];
    // Less data than content-length: nghttp2 resets the stream at END_STREAM.
    const short = await raw();
    short.headers(1, post('10'), false);
    short.data(1, 'abc');
    await short.until('the reset', () => short.resetCode(1) !== undefined);
    assert.equal(short.resetCode(1), NGHTTP2_PROTOCOL_ERROR);
    // More: node:http2 takes it as a connection error (GOAWAY), and the smuggled request behind it goes nowhere.
    const long = await raw();
    long.headers(1, post('3'), false);
    long.data(1, 'abcdef' + 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n');
    await long.until('GOAWAY', () => long.goaway !== undefined || long.resetCode(1) !== undefined).catch(() => {});
    await waitFor('the connection closed', () => long.closed);
    assert.equal(backend.requests.length, 0, backend.requests.map((x) => x.target).join());
  });

  it('smuggling through pseudo-headers and connection fields: each stream reset with PROTOCOL_ERROR, nothing forwarded, the connection serves on', async () => {
    const h = await raw();
    const base = (path = '/ok'): [string, string][] => [[':method', 'GET'], [':scheme', 'https'], [':path', path], [':authority', NAME]];
    const cases: [string, [string, string][]][] = [
      ['CR LF in :path', base('/a HTTP/1.1\r\nHost: x\r\n\r\nGET /smuggled')],
      ['a space in :path', base('/a /smuggled')],
      ['NUL in :path', base('/a\0b')],
      [':path not origin-form', base('smuggled')],
      ['a space in :method', [[':method', 'GET /smuggled'], [':scheme', 'https'], [':path', '/'], [':authority', NAME]]],
      ['CR LF in :authority', [[':method', 'GET'], [':scheme', 'https'], [':path', '/'], [':authority', `${NAME}\r\nx-injected: 1`]]],
      ['an upper-case field name', [...base(), ['X-Upper', '1']]],
      ['transfer-encoding', [...base(), ['transfer-encoding', 'chunked']]],
      ['connection', [...base(), ['connection', 'keep-alive']]],
      ['te other than trailers', [...base(), ['te', 'gzip']]],
      ['host differing from :authority', [...base(), ['host', 'other.example']]],
      ['two differing content-lengths', [...base(), ['content-length', '0'], ['content-length', '5']]],
      ['a pseudo-header after a field', [[':method', 'GET'], [':scheme', 'https'], ['x-a', '1'], [':path', '/'], [':authority', NAME]]],
      ['no :path', [[':method', 'GET'], [':scheme', 'https'], [':authority', NAME]]],
      ['plain CONNECT', [[':method', 'CONNECT'], [':authority', 'internal.example:22']]],
    ];
    let stream = 1;
    for (const [, fields] of cases) {
      h.headers(stream, fields);
      stream += 2;
    }
    await h.until('a reset for each', () => cases.every((_, i) => h.resetCode(1 + 2 * i) !== undefined || h.answered(1 + 2 * i)));
    cases.forEach(([what], i) => assert.equal(h.resetCode(1 + 2 * i), NGHTTP2_PROTOCOL_ERROR, what));
    assert.equal(backend.requests.length, 0, backend.requests.map((x) => x.head).join('\n'));
    // Stream errors, not connection errors: the next request on the same connection is served.
    // A field value with CR or LF is one that nghttp2 drops by itself: the request goes on without it.
    h.headers(stream, [...base('/after'), ['x-a', 'v\r\nx-injected: 1']]);
    await h.until('the answer', () => h.answered(stream));
    const after = only();
    assert.equal(after.target, '/after');
    assert.deepEqual(after.headers.filter(([n]) => n === 'x-a' || n === 'x-injected'), []);
    assert.equal(h.goaway, undefined);
  });

  it('100-continue: the front answers 100 and takes the body; HEAD and 204 end without data; interim answers from the back-end are dropped', async () => {
    const s = session();
    const continued = await new Promise<H2Answer>((resolve, reject) => {
      const req = s.request({ ':method': 'PUT', ':path': '/up', expect: '100-continue' }, { endStream: false });
      req.on('continue', () => req.end('later'));
      let status = 0;
      req.on('response', (h) => (status = Number(h[':status'])));
      req.resume();
      req.on('end', () => resolve({ status, headers: {}, body: '' }));
      req.on('error', reject);
    });
    assert.equal(continued.status, 200);
    assert.equal(only().body, 'later');
    backend.reset((req, conn) => conn.write(req.method === 'HEAD' ? 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n' : 'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n'));
    const head = await ask(s, { ':method': 'HEAD', ':path': '/h' });
    assert.deepEqual([head.status, head.headers['content-length'], head.body], [200, '5', '']);
    const empty = await ask(s, { ':path': '/e' });
    assert.deepEqual([empty.status, empty.body], [204, '']);
  });

  it("an answer larger than the stream's window ends, and its upstream connection serves the next request", async () => {
    // The back-end's whole answer comes in one read: the stream takes 64 KiB before the client's
    // WINDOW_UPDATE, so the upstream connection is paused when the answer ends (and HTTP/2 streams
    // that ended never say 'drain').
    const big = 'x'.repeat(200_000);
    backend.reset((req, conn) => conn.write(`HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n${big}`));
    const s = session();
    for (let i = 0; i < 3; i++) {
      const answer = await ask(s, { ':path': `/big${i}` });
      assert.deepEqual([answer.status, answer.body.length], [200, big.length]);
    }
    assert.equal(new Set(backend.requests.map((r) => r.conn)).size, 1, 'one upstream connection, reused');
  });

  it("a back-end's broken answer is a 502 on its stream only", async () => {
    backend.reset((req, conn) => conn.write(req.target === '/bad' ? 'HTTP/1.1 200 OK\r\nX-Bad: a\u0001b\r\nContent-Length: 0\r\n\r\n' : 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    const s = session();
    const [bad, good] = await Promise.all([ask(s, { ':path': '/bad' }), ask(s, { ':path': '/good' })]);
    assert.equal(bad.status, 502);
    assert.equal(good.status, 200);
  });

  it('RST_STREAM from the client aborts its upstream request', async () => {
    backend.reset(() => {}); // never answers
    const s = session();
    const req = s.request({ ':path': '/held' });
    req.on('error', () => {});
    await waitFor('the back-end has the request', () => backend.requests.length === 1);
    const upstream = backend.requests[0].conn;
    assert.ok(backend.open.has(upstream));
    assert.deepEqual((await fc.status()).protocols, { http1: 0, h2: 1, h2Streams: 1 }, '/status counts the h2 connection and its stream');
    req.close(NGHTTP2_CANCEL);
    await waitFor('the upstream connection closed', () => !backend.open.has(upstream));
  });

  it('past 100 open streams a new one is refused; a rapid-reset flood ends in GOAWAY with upstream connections bounded', async () => {
    backend.reset(() => {}); // holds every request
    const h = await raw();
    const get = (path: string): [string, string][] => [[':method', 'GET'], [':scheme', 'https'], [':path', path], [':authority', NAME]];
    for (let i = 0; i < 101; i++) h.headers(1 + 2 * i, get(`/open${i}`));
    // Past a limit the client has acknowledged, nghttp2 ends the connection (RFC 9113 §5.1.2 allows
    // PROTOCOL_ERROR); before the acknowledgement it refuses the stream alone.
    await h.until('the 101st stream refused', () => h.resetCode(201) !== undefined || h.goaway !== undefined);
    if (h.goaway === undefined) assert.equal(h.resetCode(201), NGHTTP2_REFUSED_STREAM);
    else assert.equal(h.goaway, NGHTTP2_PROTOCOL_ERROR);
    h.destroy();
    await waitFor('their upstream connections closed', () => backend.requests.every((r) => !backend.open.has(r.conn)));
    assert.ok(backend.requests.length <= 100, `${backend.requests.length} forwarded`);
    assert.ok(!backend.requests.some((r) => r.target === '/open100'), 'the 101st never reached the back-end');

    // Rapid reset (CVE-2023-44487): each stream opened and cancelled at once, so the stream limit never bites.
    backend.reset(() => {});
    const before = backend.connectionCount;
    const flood = await raw();
    const FLOOD = 5000;
    const batch: Buffer[] = [];
    for (let i = 0; i < FLOOD; i++) {
      const id = 1 + 2 * i;
      batch.push(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, headerBlock(get(`/flood${i}`))));
      const code = Buffer.alloc(4);
      code.writeUInt32BE(NGHTTP2_CANCEL);
      batch.push(frame(FRAME.RST_STREAM, 0, id, code));
    }
    flood.write(Buffer.concat(batch));
    await flood.until('GOAWAY', () => flood.goaway !== undefined, 10_000);
    await waitFor('the flood connection closed', () => flood.closed);
    const opened = backend.connectionCount - before;
    // Each stream the front took before the GOAWAY holds one upstream connection at most.
    const bound = 2 * HTTP2_BOUNDS.streamResetBurst;
    assert.ok(opened <= bound, `${opened} upstream connections for ${FLOOD} reset streams`);
    assert.ok(backend.requests.length <= bound, `${backend.requests.length} requests forwarded`);
    // The front serves on.
    backend.reset();
    assert.equal((await ask(session(), { ':path': '/after' })).status, 200);
  });

  it('a CONTINUATION flood (CVE-2024-27316) closes the connection; the front serves on', async () => {
    const h = await raw();
    h.write(frame(FRAME.HEADERS, 0, 1, headerBlock([[':method', 'GET'], [':scheme', 'https'], [':path', '/'], [':authority', NAME]])));
    const crumb = frame(FRAME.CONTINUATION, 0, 1, headerBlock([['x-filler', 'y'.repeat(100)]]));
    for (let i = 0; i < 10_000 && !h.closed; i++) h.write(crumb);
    await waitFor('the connection closed', () => h.closed, 10_000);
    // (nghttp2 takes a few CONTINUATION frames per header block, then sends GOAWAY; a client still
    // writing may get a reset instead, so the test asks only that the connection ends.)
    assert.equal(backend.requests.length, 0);
    assert.equal((await ask(session(), { ':path': '/after' })).status, 200);
  });

  it('a WebSocket over HTTP/2 (RFC 8441): extended CONNECT becomes an HTTP/1.1 upgrade, and bytes flow both ways', async () => {
    backend.reset((req, conn) => {
      const key = field(req, 'sec-websocket-key')[0];
      conn.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${webSocketAccept(key)}\r\n\r\n`);
      conn.tunnel();
    });
    const s = session();
    await new Promise<void>((resolve) => s.once('remoteSettings', () => resolve()));
    assert.equal(s.remoteSettings.enableConnectProtocol, true);
    const stream = s.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':path': '/ws', 'sec-websocket-version': '13' }, { endStream: false });
    const status = await new Promise<number>((resolve) => stream.once('response', (h) => resolve(Number(h[':status']))));
    assert.equal(status, 200);
    const r = only();
    assert.match(r.head, /^GET \/ws HTTP\/1\.1\r\n/);
    assert.deepEqual(field(r, 'upgrade'), ['websocket']);
    let echoed = '';
    stream.on('data', (d: Buffer) => (echoed += d.toString()));
    stream.write('ping');
    await waitFor('the echo', () => echoed === 'echo:ping');
    stream.close();
  });

  it('closing the front sends GOAWAY and lets the stream under way finish', async () => {
    backend.reset((req, conn) => setTimeout(() => conn.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone'), 500));
    const s = session();
    const goaway = new Promise<void>((resolve) => s.once('goaway', () => resolve()));
    const pending = ask(s, { ':path': '/slow' });
    await waitFor('the back-end has the request', () => backend.requests.length === 1);
    fc.signalFront('SIGTERM');
    await goaway;
    const answer = await pending;
    assert.deepEqual([answer.status, answer.body], [200, 'done']);
    await fc.startFront();
    await waitFor('the raw back-end ready', () => fc.allReady());
  });

  it('a back-end that answers before the body came: that stream gets the answer at once, the connection serves on', async () => {
    backend.reset((req, conn) => conn.write('HTTP/1.1 413 Content Too Large\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno'), true);
    const s = session();
    const upload = s.request({ ':method': 'POST', ':path': '/upload', 'content-length': '100000' }, { endStream: false });
    upload.on('error', () => {});
    upload.write('x'.repeat(1000));
    const sent = Date.now();
    const status = await new Promise<number>((resolve) => upload.once('response', (h) => resolve(Number(h[':status']))));
    assert.equal(status, 413);
    assert.ok(Date.now() - sent < 1000, 'answered without waiting for the body');
    backend.reset();
    assert.equal((await ask(s, { ':path': '/next' })).status, 200, 'the same connection');
    upload.close();
  });

  it('a stream answered before the client ended its request is reset with NO_ERROR after the answer (it cannot hold the connection)', async () => {
    backend.reset((req, conn) => conn.write('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'), true);
    const h = await raw();
    // No END_STREAM: the back-end answers at the head, and the stream must not stay half-open after it.
    h.headers(1, [[':method', 'POST'], [':scheme', 'https'], [':path', '/never-ends'], [':authority', NAME]], false);
    await h.until('the answer and the reset', () => h.answered(1) && h.resetCode(1) !== undefined, 5000);
    assert.equal(h.resetCode(1), 0, 'RST_STREAM NO_ERROR (RFC 9113 §8.1)');
    await waitFor('no stream left open', async () => (await fc.status()).protocols.h2Streams === 0);
  });

  it('a header block dripped in CONTINUATION frames (slow-loris) is cut off at the header timeout', async () => {
    const h = await raw();
    const opened = Date.now();
    h.write(frame(FRAME.HEADERS, 0, 1, headerBlock([[':method', 'GET'], [':scheme', 'https'], [':path', '/'], [':authority', NAME]])));
    const drip = setInterval(() => h.write(frame(FRAME.CONTINUATION, 0, 1, headerBlock([['x-drip', '1']]))), 300);
    try {
      await waitFor('the front closes it', () => h.closed, 6000);
    } finally {
      clearInterval(drip);
    }
    assert.ok(Date.now() - opened < 4000, `closed after ${Date.now() - opened} ms (headersMs 1500)`);
    assert.equal(backend.requests.length, 0);
  });

  it('mangled frames (seeded: bytes flipped, cut, repeated) never take the front down', async () => {
    const seed = Number(process.env.FRONT_FUZZ_SEED ?? Date.now() % 100_000);
    const random = seededRandom(seed);
    const get: [string, string][] = [[':method', 'GET'], [':scheme', 'https'], [':path', '/f'], [':authority', NAME], ['cookie', 'a=1']];
    const valid = [
      frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, headerBlock(get)),
      Buffer.concat([frame(FRAME.HEADERS, FLAG.END_HEADERS, 1, headerBlock([...get, ['content-length', '5']])), frame(FRAME.DATA, FLAG.END_STREAM, 1, Buffer.from('hello'))]),
      Buffer.concat([frame(FRAME.HEADERS, 0, 1, headerBlock(get.slice(0, 2))), frame(FRAME.CONTINUATION, FLAG.END_HEADERS, 1, headerBlock(get.slice(2)))]),
      Buffer.concat([frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, headerBlock(get)), frame(FRAME.RST_STREAM, 0, 1, Buffer.from([0, 0, 0, 8]))]),
      Buffer.concat([frame(FRAME.PING, 0, 0, Buffer.alloc(8)), frame(FRAME.WINDOW_UPDATE, 0, 0, Buffer.from([0, 0, 1, 0]))]),
    ];
    const mangle = (bytes: Buffer): Buffer => {
      const out = [...bytes];
      for (let n = 1 + Math.floor(random() * 4); n > 0; n--) {
        const at = Math.floor(random() * out.length);
        const op = Math.floor(random() * 3);
        if (op === 0) out[at] = Math.floor(random() * 256);
        else if (op === 1) out.splice(at, Math.floor(random() * 8));
        else out.splice(at, 0, ...out.slice(at, at + Math.floor(random() * 16)));
      }
      return Buffer.from(out);
    };
    for (let i = 0; i < 60; i++) {
      const h = await raw();
      h.write(mangle(valid[Math.floor(random() * valid.length)]));
      await h.until('an answer, a reset or a close', () => h.frames.some((f) => f.type === FRAME.HEADERS || f.type === FRAME.RST_STREAM || f.type === FRAME.GOAWAY), 3000).catch(() => {});
      h.destroy();
    }
    assert.equal((await ask(session(), { ':path': '/after' })).status, 200, `still serving (FRONT_FUZZ_SEED=${seed})`);
    assert.doesNotMatch(fc.frontLog, /"event":"(front_bug|proxy_bug)"/, `no internal error (FRONT_FUZZ_SEED=${seed})`);
  });

  it('a connection that opens no stream is closed at the header timeout', async () => {
    const h = await raw();
    const opened = Date.now();
    await waitFor('closed', () => h.closed, 5000);
    assert.ok(Date.now() - opened >= 1000, 'not before the timeout');
  });
});
