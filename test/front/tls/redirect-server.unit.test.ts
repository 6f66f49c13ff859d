import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { RedirectServer } from '../../../src/front/tls/redirect-server.ts';
import { http } from '../../harness/http-client.ts';
import { rawExchange } from '../../harness/raw-http.ts';
import { freePorts } from '../../harness/ports.ts';

// The plain listener's 308s, in process: the HTTPS port clients reach (443 is left out of the
// Location), IPv6 literals, and a Host the HTTPS listener has no certificate for.
let port: number;
let server: RedirectServer;
before(async () => {
  [port] = await freePorts(1);
  server = new RedirectServer(443, { maxConnections: 100, headersMs: 10_000, maxHeaderBytes: 16_384 }, (name) => name === 'shop.example' || name === '[::1]');
  await server.listen(port, '127.0.0.1');
});
after(() => server.close());

test('to the HTTPS port clients reach: 443 is not written', async () => {
  const r = await http(`http://127.0.0.1:${port}/cart?id=7`, { headers: { host: `shop.example:${port}` } });
  assert.equal(r.status, 308);
  assert.equal(r.headers.location, 'https://shop.example/cart?id=7');
});

test('an IPv6 literal host keeps its brackets; a host without a certificate gets no Location', async () => {
  assert.equal((await http(`http://127.0.0.1:${port}/`, { headers: { host: `[::1]:${port}` } })).headers.location, 'https://[::1]/');
  const other = await http(`http://127.0.0.1:${port}/`, { headers: { host: 'attacker.example' } });
  assert.equal(other.status, 404);
  assert.equal(other.headers.location, undefined);
});

test("an asterisk or authority target, and no Host at all, are bad requests", async () => {
  assert.match((await rawExchange(port, 'OPTIONS * HTTP/1.1\r\nHost: shop.example\r\n\r\n')).text, /^HTTP\/1\.1 400 /);
  assert.match((await rawExchange(port, 'GET / HTTP/1.0\r\n\r\n')).text, /^HTTP\/1\.1 400 /);
});
