import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { translateRequest, type TranslatedRequest } from '../../../src/front/http2/http2-request.ts';

const GET = [':method', 'GET', ':scheme', 'https', ':path', '/p?q=1', ':authority', 'a.example'];
const ok = (raw: string[], endStream = true): TranslatedRequest => {
  const t = translateRequest(raw, endStream, 16_384);
  assert.ok(!('malformed' in t), JSON.stringify(t));
  return t;
};
const refused = (raw: string[], endStream = true) => {
  const t = translateRequest(raw, endStream, 16_384);
  assert.ok('malformed' in t, `accepted: ${JSON.stringify(raw)}`);
  return t;
};

describe('HTTP/2 requests as the HTTP/1.1 path takes them (RFC 9113 §8)', () => {
  it(':authority becomes Host, first; cookie crumbs become one field joined with "; "', () => {
    const t = ok([...GET, 'cookie', 'a=1', 'x-a', '1', 'cookie', 'b=2']);
    assert.deepEqual([t.method, t.url, t.hasBody], ['GET', '/p?q=1', false]);
    assert.deepEqual(t.rawHeaders, ['host', 'a.example', 'cookie', 'a=1; b=2', 'x-a', '1']);
    assert.deepEqual(t.lowerNames, ['host', 'cookie', 'x-a']);
  });

  it('a body of unknown length is marked chunked; a declared length is kept once', () => {
    const post = [':method', 'POST', ':scheme', 'https', ':path', '/', ':authority', 'a'];
    assert.deepEqual(ok(post, false).rawHeaders.slice(-2), ['transfer-encoding', 'chunked']);
    const t = ok([...post, 'content-length', '5', 'content-length', '05'], false);
    assert.deepEqual([t.contentLength, t.rawHeaders.filter((x) => x === 'content-length').length], [5, 1]);
    assert.equal(ok([...post, 'content-length', '0'], false).hasBody, false);
  });

  it('an extended CONNECT for websocket becomes an HTTP/1.1 GET upgrade with a key of the front', () => {
    const t = ok([':method', 'CONNECT', ':protocol', 'websocket', ':scheme', 'https', ':path', '/ws', ':authority', 'a', 'sec-websocket-version', '13'], false);
    assert.equal(t.method, 'GET');
    assert.equal(t.websocket, true);
    assert.equal(t.hasBody, false, 'the stream carries the tunnel, not a body');
    const key = t.rawHeaders[t.rawHeaders.indexOf('sec-websocket-key') + 1];
    assert.match(key, /^[A-Za-z0-9+/]{22}==$/);
  });

  it('host naming the same origin as :authority is folded into it; te: trailers passes', () => {
    assert.deepEqual(ok([...GET, 'host', 'A.example:443', 'te', 'trailers']).rawHeaders, ['host', 'a.example', 'te', 'trailers']);
    assert.deepEqual(ok([':method', 'GET', ':scheme', 'https', ':path', '/', 'host', 'h.example']).rawHeaders, ['host', 'h.example']);
  });

  for (const [what, raw, endStream] of [
    ['CR LF in :path', [':method', 'GET', ':scheme', 'https', ':path', '/a\r\nx', ':authority', 'a']],
    ['a space in :path', [':method', 'GET', ':scheme', 'https', ':path', '/a b', ':authority', 'a']],
    ['a byte past 0x7e in :path', [':method', 'GET', ':scheme', 'https', ':path', '/\u00e9', ':authority', 'a']],
    ['an asterisk for GET', [':method', 'GET', ':scheme', 'https', ':path', '*', ':authority', 'a']],
    ['a method that is not a token', [':method', 'GE T', ':scheme', 'https', ':path', '/', ':authority', 'a']],
    ['a scheme that is not http(s)', [':method', 'GET', ':scheme', 'ftp', ':path', '/', ':authority', 'a']],
    ['an authority with userinfo', [':method', 'GET', ':scheme', 'https', ':path', '/', ':authority', 'u@a']],
    ['a second :path', [...GET, ':path', '/x']],
    [':status in a request', [...GET.slice(0, 6), ':status', '200']],
    ['an upper-case name', [...GET, 'X-A', '1']],
    ['edge white space in a value', [...GET, 'x-a', ' 1']],
    ['keep-alive', [...GET, 'keep-alive', 'timeout=5']],
    ['proxy-connection', [...GET, 'proxy-connection', 'close']],
    ['upgrade', [...GET, 'upgrade', 'websocket']],
    ['two hosts', [':method', 'GET', ':scheme', 'https', ':path', '/', 'host', 'a', 'host', 'b']],
    ['content-length with END_STREAM', [...GET, 'content-length', '3'], true],
    ['content-length that is not a number', [...GET, 'content-length', '3x'], false],
    [':protocol other than websocket', [':method', 'CONNECT', ':protocol', 'h2c', ':scheme', 'https', ':path', '/', ':authority', 'a'], false],
    [':protocol without CONNECT', [...GET, ':protocol', 'websocket']],
  ] as [string, string[], boolean?][]) {
    it(`refused: ${what}`, () => void refused(raw, endStream ?? true));
  }

  it('a header list over the limit is a 431, counted as RFC 9113 counts it (32 bytes a field)', () => {
    const big = [...GET, 'x-big', 'a'.repeat(16_384)];
    assert.equal(refused(big).status, 431);
    assert.equal(refused([...GET, 'x-a', 'v\r\n']).status, undefined, 'a malformed one resets its stream');
  });
});
