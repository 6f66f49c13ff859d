import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readClientHello, type ClientHello } from '../../src/tls/client-hello.ts';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as connectTls, createServer as createTlsServer } from 'node:tls';
import { captureHello, issueTestCert, makeTestCa } from '../harness/test-certs.ts';

const capture = captureHello;

/** The hello read from whole bytes (a number would mean it waits for more). */
function whole(bytes: Buffer): ClientHello {
  const hello = readClientHello(bytes);
  assert.ok(hello !== null && typeof hello === 'object', `read as ${hello}`);
  return hello;
}
const record = (part: Buffer) => Buffer.concat([Buffer.from([22, 3, 1, part.length >> 8, part.length & 0xff]), part]);

test('reads the name, ALPN, versions, signature schemes and suites of a real hello, whole or split over two records', async () => {
  const bytes = await capture({ servername: 'Shop.Example.org.', ALPNProtocols: ['h2', 'http/1.1'] });
  const message = bytes.subarray(5);
  for (const input of [bytes, Buffer.concat([record(message.subarray(0, 40)), record(message.subarray(40))])]) {
    const hello = whole(input);
    assert.equal(hello.serverName, 'shop.example.org');
    assert.deepEqual(hello.alpn, ['h2', 'http/1.1']);
    assert.ok(hello.versions.includes(0x0304), 'offers TLS 1.3');
    assert.ok(hello.sigalgs.includes(0x0403), 'ecdsa_secp256r1_sha256');
    assert.ok(hello.ciphers.includes(0x1301), 'TLS_AES_128_GCM_SHA256');
    assert.ok(hello.groups.includes(0x001d), 'x25519');
  }
  assert.deepEqual(whole(await capture({ servername: 'a.example', maxVersion: 'TLSv1.2' })).versions, [], 'a TLS 1.2 client sends no supported_versions');
  assert.equal(whole(await capture({})).serverName, undefined, 'no SNI');
});

test('waits for more while the hello is incomplete; refuses what is not one, or is malformed, or too big', async () => {
  const bytes = await capture({ servername: 'a.example' });
  for (const cut of [1, 4, 5, 20, bytes.length - 1]) {
    const need = readClientHello(bytes.subarray(0, cut));
    assert.ok(typeof need === 'number' && need > cut && need <= bytes.length, `cut at ${cut}: wait for ${need}`);
  }
  assert.equal(readClientHello(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n')), null, 'plain HTTP');
  assert.equal(readClientHello(Buffer.from([22, 3, 1, 0, 0])), null, 'an empty record');
  assert.equal(readClientHello(record(Buffer.from([2, 0, 0, 0]))), null, 'a handshake message that is not a ClientHello');
  assert.equal(readClientHello(Buffer.from([22, 3, 1, 0x7f, 0xff])), null, 'a record past the bound');
  assert.equal(readClientHello(record(Buffer.from([1, 0xff, 0xff, 0xff]))), null, 'a message past the bound');
  // A whole message whose fields run past its end (cut inside the cipher suites).
  // A hello in one-byte records (an attacker making every byte a record): refused past a few records.
  const message = bytes.subarray(5);
  assert.equal(readClientHello(Buffer.concat([...message].map((b) => record(Buffer.from([b]))))), null);
  const body = bytes.subarray(9, 9 + 50);
  assert.equal(readClientHello(record(Buffer.concat([Buffer.from([1, 0, 0, body.length]), body]))), null);
});

test('a name that is not a host name is no name (the default certificate, or a refusal under strict SNI)', async () => {
  const bytes = Buffer.from(await capture({ servername: 'a.example' }));
  bytes.write('a/example', bytes.indexOf('a.example'), 'latin1');
  assert.equal(whole(bytes).serverName, undefined);
});

test("reads the key name of the ticket a client offers to resume with (TLS 1.2's session_ticket, TLS 1.3's pre_shared_key)", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cohort-hello-'));
  makeTestCa(dir);
  const cert = issueTestCert(dir, 'a', ['a.example'], 'ec');
  const ticketKeys = randomBytes(48);
  const server = createTlsServer({ cert: readFileSync(cert.cert), key: readFileSync(cert.key), ticketKeys }, (s) => s.on('error', () => {})).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const port = (server.address() as { port: number }).port;
  try {
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const session = await new Promise<Buffer>((resolve, reject) => {
        const s = connectTls({ host: '127.0.0.1', port, servername: 'a.example', rejectUnauthorized: false, minVersion: version, maxVersion: version });
        // The connection stays open until the ticket comes (TLS 1.3 sends it after the handshake).
        s.once('session', (buf: Buffer) => {
          resolve(buf);
          s.destroy();
        }).on('error', reject);
      });
      const hello = whole(await capture({ servername: 'a.example', session, minVersion: version, maxVersion: version }));
      assert.equal(hello.ticketKeyName, ticketKeys.subarray(0, 16).toString('hex'), version);
    }
    assert.equal(whole(await capture({ servername: 'a.example' })).ticketKeyName, undefined, 'no ticket offered');
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
