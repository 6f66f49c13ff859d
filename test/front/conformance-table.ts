// The front's HTTP/1.1 conformance table: one row per rule, with the section it checks.
// Each row sends raw bytes through a live front to a raw back-end that records what it got
// (test/harness/raw-backend.ts) and answers as scripted, malformed answers included.
import assert from 'node:assert/strict';
import type { ParsedResponse } from '../harness/raw-http.ts';
import type { RawRequest, Script } from '../harness/raw-backend.ts';

export interface Outcome {
  responses: ParsedResponse[];
  text: string;
  closed: boolean;
  /** The requests the back-end received. */
  got: RawRequest[];
  /** Bytes the back-end received after switching protocols, by connection. */
  tunnelled: Map<number, string>;
}

export interface Row {
  section: string;
  rule: string;
  /** Client bytes; pieces after the first are sent once the previous response arrived. */
  send: string[];
  backend?: Script;
  /** The back-end answers as soon as a head is whole, before the body. */
  early?: boolean;
  /** Responses to wait for (default 1). */
  responses?: number;
  /** Which responses answer HEAD requests (they have no body). */
  heads?: number[];
  /** The back-end is drained for this row: the front answers 503 itself. */
  drained?: boolean;
  /** Wait for the front to close the connection. */
  closes?: boolean;
  /** The response (and the close, with `closes`) must come within this many ms of the last piece sent. */
  withinMs?: number;
  check(o: Outcome): void;
  /**
   * Over HTTP/2 (front-conformance.test.ts): why the row does not apply, or its own check
   * where HTTP/2 answers otherwise. Without it the row's requests are sent as streams where
   * HTTP/2 can carry them, and `check` holds.
   */
  h2?: string | ((o: Outcome) => void);
}

const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
const WS_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const WS_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';
const ws = (extra = '', path = '/ws') => `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n${extra}`;
const wsRequest = (extra = '') => `${ws(`Sec-WebSocket-Key: ${WS_KEY}\r\n${extra}`)}\r\n`;
const reply = (status: string, fields = '', body = '') => `HTTP/1.1 ${status}\r\n${fields}Content-Length: ${body.length}\r\n\r\n${body}`;
const field = (r: RawRequest, name: string) => r.headers.filter(([n]) => n === name).map(([, v]) => v);
const only = (o: Outcome) => {
  assert.equal(o.got.length, 1, `the back-end got ${o.got.length} requests: ${o.got.map((r) => r.target).join(', ')}`);
  return o.got[0];
};
const status = (o: Outcome, ...codes: number[]) => assert.deepEqual(o.responses.map((r) => r.status), codes, o.text.slice(0, 200));
const refusedUnseen = (code: number) => (o: Outcome) => {
  status(o, code);
  assert.equal(o.got.length, 0, 'never forwarded');
};
/** Over HTTP/2 a malformed request's stream is reset with PROTOCOL_ERROR (RFC 9113 §8.1.1), never forwarded. */
const resetUnseen = (o: Outcome) => {
  assert.deepEqual(o.responses.map((r) => [r.status, r.headers['x-reset']]), [[0, '1']], o.text.slice(0, 200));
  assert.equal(o.got.length, 0, 'never forwarded');
};

/** Absolute-form targets and Host fields naming the same origin (RFC 9110 §4.2.3): served. */
const SAME_AUTHORITY: [string, string][] = [
  ['http://example/p', 'example:80'],
  ['http://example:80/p', 'example'],
  ['https://example/p', 'example:443'],
  ['https://example:443/p', 'example'],
  ['HTTP://EXAMPLE/p', 'example'],
  ['http://example/p', 'EXAMPLE:80'],
  ['http://example:/p', 'example'],
  ['http://example./p', 'example'],
  ['http://[::1]/p', '[::1]:80'],
  ['http://example:0080/p', 'example'],
];
/** ...and naming another: refused. */
const OTHER_AUTHORITY: [string, string][] = [
  ['http://example:443/p', 'example'],
  ['https://example/p', 'example:80'],
  ['http://evil.example/p', 'good.example'],
];

export const ROWS: Row[] = [
  // ---- request framing ----------------------------------------------------------------
  ...([
    ['Content-Length with Transfer-Encoding', 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 'RFC 9112 §6.3'],
    ['two different Content-Lengths', 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!', 'RFC 9112 §6.3'],
    ['an invalid chunk size', 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n', 'RFC 9112 §7.1'],
    ['chunked applied twice', 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n', 'RFC 9112 §7'],
    ['chunked not the final coding', 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n', 'RFC 9112 §6.3'],
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n  b\r\n\r\n', 'RFC 9112 §5.2'],
    ['a bare CR in a field value', 'GET / HTTP/1.1\r\nHost: x\r\nX-Bad: a\rb\r\n\r\n', 'RFC 9110 §5.5'],
    ['a bare LF in a field value', 'GET / HTTP/1.1\r\nHost: x\r\nX-Bad: a\nb: c\r\n\r\n', 'RFC 9112 §2.2'],
    ['a head over limits.maxHeaderBytes', `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 'RFC 6585 §5'],
  ] as const).map(([what, bytes, section]): Row => ({
    section,
    rule: `${what}: refused (4xx), never forwarded`,
    send: [bytes],
    closes: true,
    // Over HTTP/2 only the size can be said: 431 on its stream.
    h2: what.includes('maxHeaderBytes') ? refusedUnseen(431) : 'HTTP/1.1 framing or field syntax (front-h2.test.ts sends their HTTP/2 forms)',
    check: (o) => {
      assert.match(o.text, /^HTTP\/1\.1 4\d\d /);
      assert.equal(o.got.length, 0, 'never forwarded');
    },
  })),
  {
    section: 'RFC 9112 §6.1',
    rule: 'a request coding other than chunked (gzip, chunked): 501, never forwarded',
    send: ['POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
    closes: true,
    check: refusedUnseen(501),
  },
  {
    section: 'RFC 9112 §6.1',
    rule: 'an HTTP/1.0 request with Transfer-Encoding is answered, then its connection closes',
    send: ['POST /old HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
    closes: true,
    check: (o) => {
      status(o, 200);
      assert.equal(only(o).body, 'hello');
      assert.equal(o.responses[0].headers.connection, 'close');
    },
  },
  {
    section: 'RFC 9110 §7.6.1',
    rule: 'Connection naming Content-Length cannot strip it: the body stays one request',
    send: [`POST /a HTTP/1.1\r\nHost: x\r\nConnection: content-length\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`],
    check: (o) => {
      status(o, 200);
      const r = only(o);
      assert.deepEqual([r.target, field(r, 'content-length'), r.body], ['/a', [String(SMUGGLED.length)], SMUGGLED]);
    },
  },
  {
    section: 'RFC 9110 §7.6.1',
    rule: 'Connection naming Host cannot strip it',
    send: ['GET /h HTTP/1.1\r\nHost: app.example\r\nConnection: host\r\n\r\n'],
    check: (o) => assert.deepEqual(field(only(o), 'host'), ['app.example']),
  },
  {
    section: 'RFC 9110 §7.6.1',
    rule: 'fields that Connection names (in any of its lines) and hop-by-hop fields are not forwarded',
    send: ['GET /hop HTTP/1.1\r\nHost: x\r\nConnection: x-one\r\nConnection: keep-alive, X-Two\r\nX-One: 1\r\nX-Two: 2\r\nX-Three: 3\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: Basic eA==\r\nUpgrade: h2c\r\n\r\n'],
    check: (o) => {
      const names = only(o).headers.map(([n]) => n);
      for (const gone of ['connection', 'x-one', 'x-two', 'keep-alive', 'te', 'proxy-authorization', 'upgrade']) assert.ok(!names.includes(gone), `${gone} was forwarded`);
      assert.ok(names.includes('x-three'));
    },
  },
  {
    section: 'front',
    rule: "the front's own fields (X-Cohort-*, the admin token among them) never reach a back-end",
    send: ['GET /own HTTP/1.1\r\nHost: x\r\nX-Cohort-Explain: not-the-token\r\nX-Cohort-Route: forged\r\n\r\n'],
    check: (o) => assert.ok(!only(o).headers.some(([n]) => n.startsWith('x-cohort-'))),
  },
  // ---- request target and Host ----------------------------------------------------------
  {
    section: 'RFC 9112 §3.2',
    rule: 'two Host fields: 400, never forwarded',
    send: ['GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n'],
    closes: true,
    check: refusedUnseen(400),
  },
  {
    section: 'RFC 9112 §3.2',
    rule: 'an HTTP/1.1 request without Host: 400',
    send: ['GET / HTTP/1.1\r\n\r\n'],
    closes: true,
    check: refusedUnseen(400),
  },
  {
    section: 'RFC 9112 §3.2',
    rule: 'a Host that is not host[:port]: 400',
    send: ['GET / HTTP/1.1\r\nHost: a/b@c\r\n\r\n'],
    closes: true,
    check: refusedUnseen(400),
    h2: resetUnseen,
  },
  ...SAME_AUTHORITY.map(([target, host]): Row => ({
    section: 'RFC 9110 §4.2.3',
    rule: `${target} with Host ${host}: the same origin, forwarded in origin-form`,
    send: [`GET ${target} HTTP/1.1\r\nHost: ${host}\r\n\r\n`],
    check: (o) => {
      status(o, 200);
      assert.deepEqual([only(o).target, field(only(o), 'host')], ['/p', [host]]);
    },
    // Over HTTP/2 the target's authority is :authority, and that is the Host forwarded (RFC 9113 §8.3.1).
    h2: (o) => {
      status(o, 200);
      assert.deepEqual([only(o).target, field(only(o), 'host')], ['/p', [/^https?:\/\/([^/]*)/i.exec(target)![1]]]);
    },
  })),
  ...OTHER_AUTHORITY.map(([target, host]): Row => ({
    section: 'RFC 9112 §3.2.2',
    rule: `${target} with Host ${host}: another origin, 400`,
    send: [`GET ${target} HTTP/1.1\r\nHost: ${host}\r\n\r\n`],
    closes: true,
    check: refusedUnseen(400),
    h2: resetUnseen,
  })),
  // ---- upgrades -------------------------------------------------------------------------
  {
    section: 'RFC 9110 §7.8',
    rule: 'an upgrade the back-end refuses leaves the connection under HTTP parsing: a bad request behind it is refused',
    send: [`${wsRequest()}GET /second HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n`],
    backend: (req, conn) => conn.write(reply('403 Forbidden', '', 'no')),
    responses: 2,
    closes: true,
    check: (o) => {
      status(o, 403, 400);
      assert.deepEqual(o.got.map((r) => r.target), ['/ws']);
    },
  },
  {
    section: 'RFC 9110 §7.8',
    rule: 'after a refused upgrade, the next request on the connection is forwarded as HTTP',
    send: [wsRequest(), 'GET /next HTTP/1.1\r\nHost: x\r\n\r\n'],
    backend: (req, conn) => conn.write(req.target === '/ws' ? reply('400 Bad Request', '', 'no') : reply('200 OK', '', 'next')),
    responses: 2,
    check: (o) => {
      status(o, 400, 200);
      assert.deepEqual(o.got.map((r) => r.target), ['/ws', '/next']);
      assert.equal(o.closed, false);
    },
  },
  {
    section: 'RFC 9110 §7.8',
    rule: 'an upgrade the front answers itself (503: no back-end ready) leaves what follows under HTTP parsing',
    send: ['GET /up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n'],
    drained: true,
    responses: 2,
    check: (o) => {
      status(o, 503, 503);
      assert.equal(o.got.length, 0);
      assert.equal(o.closed, false);
    },
  },
  {
    section: 'RFC 9110 §7.8',
    rule: 'an upgrade to a protocol not in front.upgrades (h2c) is forwarded as a plain request',
    send: ['GET /h2c HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n'],
    check: (o) => {
      status(o, 200);
      const names = only(o).headers.map(([n]) => n);
      assert.ok(!names.includes('upgrade') && !names.includes('connection') && !names.includes('http2-settings'), names.join(','));
    },
  },
  {
    section: 'RFC 6455 §4.2.1',
    rule: 'a WebSocket handshake without Sec-WebSocket-Key: 400, never forwarded',
    send: [`${ws()}\r\n`],
    closes: true,
    check: refusedUnseen(400),
  },
  {
    section: 'RFC 6455 §4.2.2',
    rule: 'a WebSocket version other than 13: 426 with Sec-WebSocket-Version: 13',
    send: [wsRequest().replace('Version: 13', 'Version: 8')],
    closes: true,
    check: (o) => {
      refusedUnseen(426)(o);
      assert.equal(o.responses[0].headers['sec-websocket-version'], '13');
    },
  },
  {
    section: 'RFC 6455 §4.1',
    rule: 'a 101 whose Sec-WebSocket-Accept does not answer the key: 502',
    send: [wsRequest()],
    backend: (req, conn) => conn.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n'),
    check: (o) => status(o, 502),
  },
  {
    section: 'RFC 9110 §7.8',
    rule: 'a 101 to a protocol the request did not offer: 502',
    send: [wsRequest()],
    backend: (req, conn) => conn.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${WS_ACCEPT}\r\n\r\n`),
    check: (o) => status(o, 502),
  },
  {
    section: 'RFC 9110 §15.2.2',
    rule: 'a 101 before the request body was forwarded: 502',
    send: [`${wsRequest('Content-Length: 200\r\n')}${'b'.repeat(100)}`],
    early: true,
    backend: (req, conn) => conn.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${WS_ACCEPT}\r\n\r\n`),
    check: (o) => status(o, 502),
  },
  {
    section: 'RFC 6455 §4.1',
    rule: 'a valid 101 switches: bytes sent right behind the request, and after, flow both ways',
    send: [`${wsRequest('X-Cohort-Explain: secret\r\n')}early`, 'late'],
    backend: (req, conn) => {
      conn.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${WS_ACCEPT}\r\n\r\n`);
      conn.tunnel();
    },
    responses: 1,
    check: (o) => {
      status(o, 101);
      assert.equal(o.responses[0].headers.upgrade, 'websocket');
      assert.match(o.text, /echo:early/);
      assert.ok(!only(o).headers.some(([n]) => n.startsWith('x-cohort-')), 'no X-Cohort-* through the tunnel either');
      assert.equal([...o.tunnelled.values()].join(''), 'earlylate');
    },
  },
  // ---- a back-end that answers before the body has come --------------------------------------
  {
    section: 'RFC 9110 §10.1.1, RFC 9112 §9.6',
    rule: 'a back-end that answers before the request body came: the client gets that answer at once, then its connection closes',
    send: ['POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n'],
    early: true,
    backend: (req, conn) => conn.write(reply('413 Content Too Large', '', 'no')),
    closes: true,
    withinMs: 1000,
    check: (o) => {
      status(o, 413);
      assert.deepEqual([o.responses[0].body, o.responses[0].headers.connection], ['no', 'close']);
      assert.equal(only(o).target, '/upload');
    },
  },
  {
    section: 'RFC 9110 §10.1.1, RFC 9112 §9.6',
    rule: 'a back-end that closes before the request body came: the client gets 502 at once, then its connection closes',
    send: ['POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n'],
    early: true,
    backend: (req, conn) => conn.end(),
    closes: true,
    withinMs: 1000,
    check: (o) => {
      status(o, 502);
      assert.equal(o.responses[0].headers.connection, 'close');
    },
  },
  // ---- response framing from bad back-ends ------------------------------------------------
  {
    section: 'RFC 9112 §6.3',
    rule: 'a response with Transfer-Encoding and Content-Length reaches the client without the length',
    send: ['GET /te-cl HTTP/1.1\r\nHost: x\r\n\r\n'],
    backend: (req, conn) => conn.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'),
    check: (o) => {
      status(o, 200);
      assert.deepEqual([o.responses[0].headers['content-length'], o.responses[0].body], [undefined, 'hello']);
    },
  },
  ...['gzip', 'chunked, gzip', 'chunked, gzip, chunked', 'gzip, chunked', 'chunked, chunked'].map((coding): Row => ({
    section: 'RFC 9112 §6.1',
    rule: `a response coded '${coding}' (not chunked once): 502, the coding is never lost`,
    send: ['GET /coded HTTP/1.1\r\nHost: x\r\n\r\n'],
    backend: (req, conn) => conn.write(`HTTP/1.1 200 OK\r\nTransfer-Encoding: ${coding}\r\n\r\n5\r\nhello\r\n0\r\n\r\n`),
    check: (o) => status(o, 502),
  })),
  {
    section: 'RFC 9112 §6.1',
    rule: 'an HTTP/1.0 response with Transfer-Encoding: the client connection closes after it',
    send: ['GET /old-te HTTP/1.1\r\nHost: x\r\n\r\n'],
    backend: (req, conn) => conn.write('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'),
    closes: true,
    check: (o) => {
      status(o, 200);
      assert.deepEqual([o.responses[0].body, o.responses[0].headers.connection], ['hello', 'close']);
    },
    // HTTP/2 has no connection field: the body arrives whole (the upstream connection is the one that closes).
    h2: (o) => {
      status(o, 200);
      assert.equal(o.responses[0].body, 'hello');
    },
  },
  {
    section: 'RFC 9112 §6.3',
    rule: 'bytes after a whole response: the client keeps its answer and connection; that upstream connection goes',
    send: ['GET /first HTTP/1.1\r\nHost: x\r\n\r\n', 'GET /second HTTP/1.1\r\nHost: x\r\n\r\n'],
    backend: (req, conn) => conn.write(req.target === '/first' ? `${reply('200 OK', '', 'one')}GARBAGE` : reply('200 OK', '', 'two')),
    responses: 2,
    check: (o) => {
      status(o, 200, 200);
      assert.deepEqual(o.responses.map((r) => r.body), ['one', 'two']);
      assert.equal(o.closed, false);
      assert.notEqual(o.got[0].conn, o.got[1].conn, 'the second request went on a fresh upstream connection');
    },
  },
  {
    section: 'RFC 9110 §9.3.2',
    rule: 'a body after a response to HEAD: the client gets the head and keeps its connection',
    send: ['HEAD /head HTTP/1.1\r\nHost: x\r\n\r\n', 'GET /after HTTP/1.1\r\nHost: x\r\n\r\n'],
    backend: (req, conn) => conn.write(req.method === 'HEAD' ? reply('200 OK', '', 'body-that-must-not-be') : reply('200 OK', '', 'after')),
    responses: 2,
    heads: [0],
    check: (o) => {
      // A response to HEAD has no body whatever its length says: the test's reader is told so.
      assert.equal(o.responses[0].status, 200);
      assert.equal(o.closed, false);
      assert.match(o.text, /after$/);
      assert.ok(!o.text.includes('body-that-must-not-be'));
    },
  },
  {
    section: 'RFC 9110 §9.3.2',
    rule: 'a body sent late after a response to HEAD reaches no other request: that connection is not reused',
    send: ['HEAD /head HTTP/1.1\r\nHost: x\r\n\r\n', 'GET /after HTTP/1.1\r\nHost: x\r\n\r\n'],
    backend: (req, conn) => {
      if (req.method !== 'HEAD') return conn.write(reply('200 OK', '', 'after'));
      conn.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n');
      setTimeout(() => conn.write('hello'), 30); // a broken back-end: the body comes in a later packet
    },
    responses: 2,
    heads: [0],
    check: (o) => {
      status(o, 200, 200);
      assert.equal(o.responses[1].body, 'after');
      assert.notEqual(o.got[0].conn, o.got[1].conn);
    },
  },
  {
    section: 'RFC 9110 §5.5',
    rule: 'a response field with a control character: 502, and the client keeps its connection for the next request',
    send: ['GET /bad HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n'],
    backend: (req, conn) => {
      if (req.target !== '/bad') return conn.write(reply('200 OK', '', 'next'));
      conn.write('HTTP/1.1 200 OK\r\nX-Bad: a\x01b\r\nContent-Length: 5\r\n\r\n');
      setTimeout(() => conn.write('hello'), 30); // the body in a later packet, after the front refused the head
    },
    responses: 2,
    check: (o) => {
      status(o, 502, 200);
      assert.equal(o.responses[1].body, 'next');
      assert.equal(o.closed, false);
    },
  },
  {
    section: 'RFC 9110 §8.6',
    rule: 'a response that repeats the same Content-Length reaches the client with one',
    send: ['GET /cl2 HTTP/1.1\r\nHost: x\r\n\r\n'],
    backend: (req, conn) => conn.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok'),
    check: (o) => {
      status(o, 200);
      assert.deepEqual([o.responses[0].headers['content-length'], o.responses[0].body], ['2', 'ok']);
    },
  },
  {
    section: 'front',
    rule: "a back-end's X-Cohort-* fields never reach the client",
    send: ['GET /spoof HTTP/1.1\r\nHost: x\r\n\r\n'],
    backend: (req, conn) => conn.write(reply('200 OK', 'X-Cohort-Route: {"chose":"forged"}\r\n', 'x')),
    check: (o) => assert.equal(o.responses[0].headers['x-cohort-route'], undefined),
  },
  {
    section: 'RFC 9110 §15.2',
    rule: 'interim responses (100, 103) from the back-end are dropped; the final one follows',
    send: ['GET /interim HTTP/1.1\r\nHost: x\r\n\r\n'],
    backend: (req, conn) => conn.write(`HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n${reply('200 OK', '', 'final')}`),
    check: (o) => {
      status(o, 200);
      assert.equal(o.responses[0].body, 'final');
    },
  },
];

