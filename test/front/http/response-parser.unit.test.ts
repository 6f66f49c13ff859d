import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResponseParser } from '../../../src/front/http/response-parser.ts';
import { UpstreamError } from '../../../src/front/upstream/upstream-error.ts';

interface Seen { status: number; reason: string; headers: string[]; lower: string[]; body: string; ended: boolean }

/** Feeds `wire` in pieces of `size` bytes; returns what the parser reported. */
function parse(wire: string, size = wire.length, head = false, close = false, upgrade = false): Seen & { keepAlive: boolean; closeAfter: boolean; overrun: boolean; switched: ResponseParser['switched'] } {
  const p = new ResponseParser(1024);
  const seen: Seen & { closeAfter: boolean } = { status: 0, reason: '', headers: [], lower: [], body: '', ended: false, closeAfter: false };
  p.expect({
    onHead: (status, reason, headers, lower, closeAfter) => Object.assign(seen, { status, reason, headers, lower, closeAfter }),
    onBody: (chunk) => (seen.body += chunk.toString('latin1')),
    onEnd: () => (seen.ended = true),
  }, head, upgrade);
  const bytes = Buffer.from(wire, 'latin1');
  for (let i = 0; i < bytes.length; i += size) {
    if (p.switched) break;
    p.push(bytes.subarray(i, i + size));
  }
  if (close) p.close();
  return { ...seen, keepAlive: p.keepAlive, overrun: p.overrun, switched: p.switched };
}

describe('upstream response parser', () => {
  const chunked = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n';
  const sized = 'HTTP/1.1 201 Created\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello';

  it('parses length-delimited and chunked bodies however the bytes are split', () => {
    for (let size = 1; size <= chunked.length; size++) {
      const c = parse(chunked, size);
      assert.deepEqual([c.status, c.body, c.ended, c.keepAlive], [200, 'hello world', true, true], `chunked, pieces of ${size}`);
      const s = parse(sized, size);
      assert.deepEqual([s.status, s.reason, s.body, s.ended], [201, 'Created', 'hello', true], `sized, pieces of ${size}`);
    }
    assert.deepEqual(parse(sized).headers, ['Content-Length', '5', 'Content-Type', 'text/plain']);
    assert.deepEqual(parse(sized).lower, ['content-length', 'content-type']);
  });

  it('reads to the close when there is no length, and then the connection is not reusable', () => {
    const r = parse('HTTP/1.1 200 OK\r\nX: y\r\n\r\nall of it', undefined, false, true);
    assert.deepEqual([r.body, r.ended, r.keepAlive], ['all of it', true, false]);
  });

  it('knows bodies that are not there: HEAD, 204, 304; skips 100 and 103', () => {
    assert.deepEqual([parse('HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n', undefined, true).ended], [true]);
    assert.equal(parse('HTTP/1.1 204 No Content\r\n\r\n').ended, true);
    assert.equal(parse('HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n').ended, true);
    const r = parse('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    assert.deepEqual([r.status, r.body], [200, 'ok']);
  });

  it('honours Connection: close and HTTP/1.0 without keep-alive', () => {
    assert.equal(parse('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n').keepAlive, false);
    assert.equal(parse('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n').keepAlive, false);
    assert.equal(parse('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n').keepAlive, true);
  });

  for (const [what, wire] of [
    ['a bad status line', 'HTTP/2 200 OK\r\n\r\n'],
    ['conflicting Content-Lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'],
    ['a non-numeric Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello'],
    ['a bad chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n'],
    ['a header line without a colon', 'HTTP/1.1 200 OK\r\nBroken\r\n\r\n'],
    ['a head over the limit', `HTTP/1.1 200 OK\r\nX: ${'a'.repeat(2000)}\r\n\r\n`],
    ['a transfer coding other than chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx'],
    ['chunked not last', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n'],
    ['a coding before chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n'],
    ['chunked twice', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['a 101 to a request that asked for no upgrade', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n'],
  ] as const) {
    it(`refuses ${what}`, () => assert.throws(() => parse(wire), (err) => err instanceof UpstreamError && err.code === 'protocol'));
  }

  it('bytes after a whole response end it normally and mark the connection out of step', () => {
    const r = parse('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA');
    assert.deepEqual([r.body, r.ended, r.overrun], ['ok', true, true]);
    const h = parse('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello', undefined, true);
    assert.deepEqual([h.body, h.ended, h.overrun], ['', true, true], 'a body after a response to HEAD');
  });

  it('with Transfer-Encoding, Content-Length is dropped (RFC 9112 §6.3); HTTP/1.0 with it closes after (§6.1)', () => {
    const r = parse('HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n');
    assert.deepEqual([r.body, r.lower.includes('content-length'), r.closeAfter], ['ok', false, false]);
    const old = parse('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n');
    assert.deepEqual([old.body, old.closeAfter, old.keepAlive], ['ok', true, false]);
  });

  it('a 101 to an upgrade request hands over the head and the bytes after it', () => {
    const r = parse('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x02hi', undefined, false, false, true);
    assert.equal(r.status, 0, 'not announced as a response');
    assert.deepEqual(r.switched?.lowerNames, ['upgrade', 'connection']);
    assert.equal(r.switched?.rest.toString('latin1'), '\x81\x02hi');
    const plain = parse('HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\nno', undefined, false, false, true);
    assert.deepEqual([plain.status, plain.body, plain.switched], [400, 'no', undefined], 'any other answer is an ordinary response');
  });

  it('bytes that do not start like a response: out of step, and the request counts as unanswered', () => {
    const p = new ResponseParser(1024);
    p.expect({ onHead: () => {}, onBody: () => {}, onEnd: () => {} }, false);
    assert.throws(() => p.push(Buffer.from('helloHTTP/1.1 200 OK\r\n\r\n')), /out of step/);
    assert.equal(p.started, false, 'a replayable request may go elsewhere');
    const q = new ResponseParser(1024);
    q.expect({ onHead: () => {}, onBody: () => {}, onEnd: () => {} }, false);
    q.push(Buffer.from('HT'));
    assert.equal(q.started, true, 'a status line in pieces is a response');
  });

  it('a close before the end of a sized body is an error', () => {
    assert.throws(() => parse('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort', undefined, false, true), /closed in the middle/);
  });
});
