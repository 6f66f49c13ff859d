import assert from 'node:assert/strict';
import { get } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { FrontCluster } from '../harness/front-cluster.ts';
import { patternBytes, readAfterPause, sha256Hex } from '../harness/pattern-bytes.ts';
import { RawHttp } from '../harness/raw-http.ts';
import { waitFor } from '../harness/wait.ts';

// The front's client side is its own (llhttp read straight from the socket), so the parts
// of HTTP/1.x that node:http used to do for it are checked here, byte by byte.
describe('the front speaks HTTP/1.x to clients', () => {
  let fc: FrontCluster;
  const conns: RawHttp[] = [];
  const open = async () => {
    const c = await RawHttp.open(fc.port);
    conns.push(c);
    return c;
  };

  before(async () => {
    fc = await FrontCluster.create(['b1', 'b2']);
    await fc.startFront();
    await waitFor('every back-end ready', () => fc.allReady());
  });
  after(async () => {
    for (const c of conns) c.destroy();
    await fc.destroy();
  });

  it('answers pipelined requests in order, each whole', async () => {
    const c = await open();
    // One write, three requests: a slow one first, so the others must wait their turn.
    c.write('GET /slow?ms=150 HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /third HTTP/1.1\r\nHost: x\r\n\r\n');
    const [a, b, c3] = await c.responses(3);
    assert.equal(a.status, 200);
    assert.match(a.body, /"backend":"b\d"/);
    assert.equal(JSON.parse(b.body).body, 'hello');
    assert.equal(JSON.parse(c3.body).path, '/third');
    assert.equal(c.closed, false, 'the connection stays open');
  });

  it('HTTP/1.0: a chunked upstream body reaches the client delimited by the close', async () => {
    const c = await open();
    c.write('GET /chunked HTTP/1.0\r\nHost: x\r\n\r\n');
    await c.waitClosed();
    const [r] = await c.responses(1);
    assert.equal(r.headers['transfer-encoding'], undefined, 'no chunked framing for an HTTP/1.0 client');
    assert.equal(r.headers.connection, 'close');
    assert.match(r.body, /^b\d:done$/);
  });

  it('HTTP/1.0 with Connection: keep-alive keeps the connection for the next request', async () => {
    const c = await open();
    c.write('GET /one HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
    const [r1] = await c.responses(1);
    assert.equal(r1.headers.connection, 'keep-alive');
    c.write('GET /two HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
    const [, r2] = await c.responses(2);
    assert.equal(JSON.parse(r2.body).path, '/two');
    assert.equal(c.closed, false);
  });

  it('a head of 40 fields and a long target reach the back-end whole', async () => {
    const c = await open();
    const fields = Array.from({ length: 40 }, (_, i) => `X-Field-${i}: value-${i}\r\n`).join('');
    const target = `/echo?${'q'.repeat(3000)}`;
    c.write(`GET ${target} HTTP/1.1\r\nHost: x\r\n${fields}\r\n`);
    const [r] = await c.responses(1);
    const echo = JSON.parse(r.body);
    assert.equal(echo.url, target);
    for (let i = 0; i < 40; i++) assert.equal(echo.headers[`x-field-${i}`], `value-${i}`);
  });

  it('a head of 40 fields on a kept-alive connection, after a first request, reaches the back-end whole', async () => {
    const c = await open();
    c.write('GET /echo HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.responses(1);
    const fields = Array.from({ length: 40 }, (_, i) => `X-Field-${i}: value-${i}\r\n`).join('');
    c.write(`GET /echo HTTP/1.1\r\nHost: x\r\n${fields}\r\n`);
    const [, r] = await c.responses(2);
    const echo = JSON.parse(r.body);
    for (let i = 0; i < 40; i++) assert.equal(echo.headers[`x-field-${i}`], `value-${i}`);
  });

  it('large answers to clients that read slowly, side by side, arrive byte for byte', async () => {
    // Body bytes go to clients as views of the upstream connection's read buffer: a write still
    // under way (a client that stopped reading, its socket's buffers full) must keep its bytes
    // while the connection reads on. The back-end sends 20,000-byte pieces: reads large enough to
    // go on as views, and writes short of their high-water mark, so the front reads on.
    const size = 16 << 20;
    const fetchSlowly = (seed: number, chunked = false) =>
      new Promise<Buffer>((resolve, reject) => {
        get(`${fc.url}/bytes?n=${size}&seed=${seed}&piece=20000${chunked ? '&chunked=1' : ''}`, (res) => resolve(readAfterPause(res, 400))).on('error', reject);
      });
    const seeds = [1, 2];
    const bodies = await Promise.all(seeds.map((seed) => fetchSlowly(seed)));
    for (const [i, body] of bodies.entries()) {
      assert.equal(body.length, size);
      assert.equal(sha256Hex(body), sha256Hex(patternBytes(size, seeds[i])), `answer ${i} arrived as sent`);
    }
    // A chunked answer is framed again for the client (cork, size line, the view, CRLF, writev).
    const chunked = await fetchSlowly(3, true);
    assert.equal(sha256Hex(chunked), sha256Hex(patternBytes(size, 3)), 'the chunked answer arrived as sent');
  });

  it('Expect: 100-continue is answered before the body is sent', async () => {
    const c = await open();
    c.write('POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n');
    const [interim] = await c.responses(1);
    assert.equal(interim.status, 100);
    c.write('ping');
    const [, final] = await c.responses(2);
    assert.equal(final.status, 200);
    assert.equal(JSON.parse(final.body).body, 'ping');
  });

  it('a chunked request body with trailers reaches the back-end as a whole body', async () => {
    const c = await open();
    c.write('POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\nX-Trailer: t\r\n\r\n');
    const [r] = await c.responses(1);
    const echo = JSON.parse(r.body);
    assert.equal(echo.body, 'abcdefg');
    assert.equal(echo.headers['content-length'], '7');
    assert.equal(echo.headers['transfer-encoding'], undefined);
  });

  it('a large chunked upload streams through whole, under back-pressure', async () => {
    const c = await open();
    const piece = 'abcdefghijklmnop'.repeat(512); // 8 KiB a chunk, 1024 chunks: 8 MiB
    // The back-end reads nothing for 300 ms: the front's writes to it fill up and must wait.
    c.write('POST /echo?stall=300 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
    for (let i = 0; i < 1024; i++) c.write(`${piece.length.toString(16)}\r\n${piece}\r\n`);
    c.write('0\r\n\r\n');
    const [r] = await c.responses(1, 30_000);
    const body = JSON.parse(r.body).body as string;
    assert.equal(body.length, piece.length * 1024);
    assert.ok(body === piece.repeat(1024), 'every byte in order');
  });

  it('a client that half-closes after its request still gets the answer', async () => {
    const c = await open();
    c.write('GET /slow?ms=100 HTTP/1.1\r\nHost: x\r\n\r\n');
    c.end();
    await c.waitClosed();
    const [r] = await c.responses(1);
    assert.equal(r.status, 200);
  });

  it('a response without a Date gets one on the way (RFC 9110 §6.6.1); one with a Date keeps it', async () => {
    const c = await open();
    c.write('GET /nodate HTTP/1.1\r\nHost: x\r\n\r\nGET /dated HTTP/1.1\r\nHost: x\r\n\r\n');
    const [added, kept] = await c.responses(2);
    // Repeated fields come joined with ', ', and one IMF-fixdate holds one comma.
    assert.equal(added.headers.date.split(',').length, 2, `one Date: ${added.headers.date}`);
    assert.ok(Math.abs(Date.parse(added.headers.date) - Date.now()) < 5000, `added: ${added.headers.date}`);
    assert.equal(kept.headers.date.split(',').length, 2, `the back-end's own Date, once: ${kept.headers.date}`);
  });

  it('HEAD gets the head only, and the connection goes on', async () => {
    const c = await open();
    c.write('HEAD /chunked HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor('both answers', () => (c.text.match(/HTTP\/1\.1 200/g) ?? []).length === 2 && c.text.includes('"path":"/after"'), 5000, 10);
    const [headAnswer] = c.text.split('\r\n\r\n');
    assert.doesNotMatch(headAnswer, /transfer-encoding/i);
    assert.match(c.text, /\r\n\r\nHTTP\/1\.1 200/, 'the second answer follows the first head directly');
  });
});
