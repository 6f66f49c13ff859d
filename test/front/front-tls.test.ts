import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { connect as connectH2 } from 'node:http2';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { connect as connectTcp } from 'node:net';
import { connect, type PeerCertificate } from 'node:tls';
import { ADMIN_TOKEN, FrontCluster } from '../harness/front-cluster.ts';
import { http } from '../harness/http-client.ts';
import { seededRandom } from '../harness/random.ts';
import { rawExchange } from '../harness/raw-http.ts';
import { waitFor } from '../harness/wait.ts';
import { captureHello, issueTestCert, makeTestCa, type TestCert } from '../harness/test-certs.ts';

// The front's HTTPS listener (front.listen.tls): Mozilla's intermediate profile, SNI over RSA
// and ECDSA certificates, HSTS and Secure cookies over TLS only, a 308 from plain HTTP, and
// certificates swapped by a reload while connections stay open.
const STICKY_KEY = 'sticky-key-0123456789abcdef';
const ECDSA_ONLY = 'ecdsa_secp256r1_sha256';
/** Reloads that swap a certificate while clients connect (README: FRONT_TLS_SWAPS). */
const SWAPS = Number(process.env.FRONT_TLS_SWAPS ?? 1000);
const RSA_SUITES = 'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305';
const ECDSA_SUITES = 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305';

describe('the front over HTTPS', () => {
  let fc: FrontCluster;
  let ca: string;
  let certs: Record<'fallback' | 'aRsa' | 'aEc' | 'wild', TestCert>;
  let original: { cert: Buffer; key: Buffer };
  const tlsConfig = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    listen: { host: '127.0.0.1', port: fc.port, tls: { certificates: [certs.fallback, certs.aRsa, certs.aEc, certs.wild].map((c) => ({ cert: c.cert, key: c.key })), hsts: { maxAgeS: 600 }, ...extra } },
    redirect: { host: '127.0.0.1', port: fc.sparePort },
    sticky: { mode: 'cookie', keys: [STICKY_KEY] },
    timeouts: { headersMs: 1000, idleMs: 60_000, connectMs: 2000, upstreamMs: 30_000 },
    ...limits,
  });
  let limits: Record<string, unknown> = {};
  const reload = () => fetch(`http://127.0.0.1:${fc.adminPort}/reload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });

  /** A handshake (and nothing else): the certificate the front chose, or the error. */
  const handshake = (opts: { servername?: string; sigalgs?: string; minVersion?: 'TLSv1.2' | 'TLSv1.3'; maxVersion?: 'TLSv1.2' | 'TLSv1.3'; ciphers?: string }) =>
    new Promise<{ cert: PeerCertificate; protocol: string | null }>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: fc.port, ca, ...opts, servername: opts.servername, rejectUnauthorized: false }, () => {
        const result = { cert: socket.getPeerCertificate(), protocol: socket.getProtocol() };
        socket.destroy();
        resolve(result);
      });
      socket.on('error', reject);
    });

  /** An HTTPS request to the front as `name` (resolved to 127.0.0.1), checked against the test CA. */
  const https = (name: string, path: string, agent: Agent | false = false) =>
    new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: fc.port, servername: name, path, ca, agent, headers: { host: name } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      req.on('error', reject);
      req.end();
    });

  before(async () => {
    fc = await FrontCluster.create(['a']);
    ca = makeTestCa(fc.dir);
    certs = {
      fallback: issueTestCert(fc.dir, 'fallback', ['fallback.example'], 'ec'),
      aRsa: issueTestCert(fc.dir, 'a-rsa', ['a.example'], 'rsa'),
      aEc: issueTestCert(fc.dir, 'a-ec', ['a.example'], 'ec'),
      wild: issueTestCert(fc.dir, 'wild', ['*.wild.example'], 'ec'),
    };
    original = { cert: readFileSync(certs.aEc.cert), key: readFileSync(certs.aEc.key) };
    fc.writeConfig(tlsConfig());
    await fc.startFront();
  });
  // What a test changes (a.example's files, the limits, the config) is put back even when it fails midway.
  afterEach(async () => {
    limits = {};
    writeFileSync(certs.aEc.cert, original.cert);
    writeFileSync(certs.aEc.key, original.key);
    fc.writeConfig(tlsConfig());
    await reload();
  });
  after(async () => {
    await fc?.destroy();
  });

  it("SNI picks the name's certificate, RSA or ECDSA as the client accepts, then a one-label wildcard, then the default", async () => {
    assert.equal((await handshake({ servername: 'a.example', sigalgs: ECDSA_ONLY })).cert.serialNumber, certs.aEc.serial);
    // A TLS 1.2 client that has only RSA suites, and one that has only ECDSA ones (the test CA signs
    // with ECDSA, so restricting TLS 1.3's signature algorithms to RSA would refuse the chain too).
    assert.equal((await handshake({ servername: 'a.example', maxVersion: 'TLSv1.2', ciphers: RSA_SUITES })).cert.serialNumber, certs.aRsa.serial);
    assert.equal((await handshake({ servername: 'a.example', maxVersion: 'TLSv1.2', ciphers: ECDSA_SUITES })).cert.serialNumber, certs.aEc.serial);
    assert.equal((await handshake({ servername: 'A.Example.' })).cert.subject.CN, 'a.example', 'names are case-blind, a final dot ignored');
    assert.equal((await handshake({ servername: 'x.wild.example' })).cert.serialNumber, certs.wild.serial);
    assert.equal((await handshake({ servername: 'y.x.wild.example' })).cert.serialNumber, certs.fallback.serial, 'a wildcard covers one label only');
    assert.equal((await handshake({ servername: 'unknown.example' })).cert.serialNumber, certs.fallback.serial);
    assert.equal((await handshake({})).cert.serialNumber, certs.fallback.serial, 'no SNI: the default');
    const status = (await fc.status()) as unknown as { certificates: { names: string[]; keyType: string; serial: string }[] };
    assert.deepEqual(status.certificates.map((c) => [c.names, c.keyType, c.serial]), [
      [['fallback.example'], 'ec', certs.fallback.serial],
      [['a.example'], 'rsa', certs.aRsa.serial],
      [['a.example'], 'ec', certs.aEc.serial],
      [['*.wild.example'], 'ec', certs.wild.serial],
    ]);
  });

  it('speaks TLS 1.2 and 1.3 with AEAD suites only: a CBC suite is refused (and sslscan finds nothing else)', async () => {
    assert.equal((await handshake({ servername: 'a.example', maxVersion: 'TLSv1.2' })).protocol, 'TLSv1.2');
    assert.equal((await handshake({ servername: 'a.example' })).protocol, 'TLSv1.3');
    await assert.rejects(handshake({ servername: 'a.example', maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA384:AES128-SHA' }));
    const scan = execFileSync('sslscan', ['--no-colour', '--no-heartbleed', '--no-renegotiation', '--no-compression', '--sni-name=a.example', `127.0.0.1:${fc.port}`], { encoding: 'utf8' });
    const accepted = [...scan.matchAll(/^(?:Preferred|Accepted)\s+(\S+)\s+\d+ bits\s+(\S+)/gm)].map((m) => [m[1], m[2]]);
    assert.ok(accepted.length >= 4, scan);
    for (const [version, cipher] of accepted) {
      assert.match(version, /^TLSv1\.[23]$/, `${version} ${cipher}`);
      assert.match(cipher, /GCM|CHACHA20/, `${version} ${cipher} is not an AEAD suite`);
    }
    assert.match(scan, /TLSv1\.0\s+disabled/);
    assert.match(scan, /TLSv1\.1\s+disabled/);
  });

  it('over HTTPS: X-Forwarded-Proto https to the back-end, HSTS on the answer, the sticky cookie Secure', async () => {
    const r = await https('a.example', '/echo');
    assert.equal(r.status, 200, r.body);
    assert.equal(JSON.parse(r.body).headers['x-forwarded-proto'], 'https');
    assert.equal(r.headers['strict-transport-security'], 'max-age=600');
    const cookie = ([] as string[]).concat(r.headers['set-cookie'] ?? []).find((c) => c.startsWith('cohort_srv='));
    assert.match(cookie ?? '', /; Secure;/);
  });

  it('plain HTTP gets a 308 to the same path and query over HTTPS, never HSTS; ACME challenges and bad requests are not redirected', async () => {
    const r = await http(`http://127.0.0.1:${fc.sparePort}/some/path?q=1&r=%20`, { method: 'POST', headers: { host: `a.example:${fc.sparePort}` }, body: 'x' });
    assert.equal(r.status, 308);
    assert.equal(r.headers.location, `https://a.example:${fc.port}/some/path?q=1&r=%20`);
    assert.equal(r.headers['strict-transport-security'], undefined);
    assert.equal((await http(`http://127.0.0.1:${fc.sparePort}/.well-known/acme-challenge/token`, { headers: { host: 'a.example' } })).status, 404);
    assert.equal((await http(`http://127.0.0.1:${fc.sparePort}/`, { headers: { host: 'evil.example\\@x' } })).status, 400);
    assert.equal((await http(`http://127.0.0.1:${fc.sparePort}/`, { headers: { host: 'elsewhere.example' } })).status, 404, 'never a Location to a name without a certificate here');
    assert.equal((await http(`http://127.0.0.1:${fc.sparePort}/`, { headers: { host: 'x.wild.example' } })).headers.location, `https://x.wild.example:${fc.port}/`);
    const twoHosts = await rawExchange(fc.sparePort, 'GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n');
    assert.match(twoHosts.text, /^HTTP\/1\.1 400 /);
    fc.writeConfig({ ...tlsConfig(), redirect: { host: '127.0.0.1', port: fc.sparePort, httpsPort: 443 } });
    assert.match(await (await reload()).text(), /front\.redirect cannot change on reload/, 'the redirect listener is set at start');
    fc.writeConfig(tlsConfig());
    const absolute = await rawExchange(fc.sparePort, 'GET http://a.example/p?q HTTP/1.1\r\nHost: a.example\r\n\r\n');
    assert.match(absolute.text, new RegExp(`^HTTP/1\\.1 308 [^]*\r\nlocation: https://a\\.example:${fc.port}/p\\?q\r\n`, 'i'));
    // Plain HTTP sent to the HTTPS port: a 400 that says so, then the connection closes.
    const plain = await rawExchange(fc.port, 'GET /echo HTTP/1.1\r\nHost: a.example\r\n\r\n');
    assert.match(plain.text, /^HTTP\/1\.1 400 [^]*plain HTTP was sent to the HTTPS port/);
    assert.ok(plain.closed);
  });

  it('a reload swaps certificates for new handshakes while an open connection goes on; a broken file keeps the ones in service', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const first = await https('a.example', '/echo', agent);
    assert.equal(first.status, 200);
    const renewed = issueTestCert(fc.dir, 'a-ec-2', ['a.example'], 'ec');
    copyFileSync(renewed.cert, certs.aEc.cert);
    copyFileSync(renewed.key, certs.aEc.key);
    assert.equal((await reload()).status, 200);
    assert.equal((await handshake({ servername: 'a.example', sigalgs: ECDSA_ONLY })).cert.serialNumber, renewed.serial, 'a new handshake gets the new certificate');
    const again = await https('a.example', '/echo', agent);
    assert.equal(again.status, 200, 'the connection opened before the reload still serves');
    // A broken certificate: the reload is refused and the renewed one stays.
    writeFileSync(certs.aEc.cert, '-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n');
    const refused = await reload();
    assert.notEqual(refused.status, 200);
    assert.match(await refused.text(), /a-ec\.pem: not a PEM certificate/);
    assert.equal((await handshake({ servername: 'a.example', sigalgs: ECDSA_ONLY })).cert.serialNumber, renewed.serial);
    // A key that is not the certificate's: refused too.
    copyFileSync(renewed.cert, certs.aEc.cert);
    copyFileSync(certs.aRsa.key, certs.aEc.key);
    assert.match(await (await reload()).text(), /a-ec\.key is not the key of .*a-ec\.pem/);
    agent.destroy();
    copyFileSync(renewed.key, certs.aEc.key);
  });

  it('a renewal written over the files (a new file renamed over the old, as ACME clients do) is served without a reload', async () => {
    const renewed = issueTestCert(fc.dir, 'a-ec-3', ['a.example'], 'ec');
    const reloadsBefore = (await fc.status()).reloads;
    const count = (event: string) => fc.frontLog.split(`"event":"${event}"`).length - 1;
    const [reloaded, rejected] = [count('certificates_reloaded'), count('certificates_rejected')];
    // Key first, then certificate: the watch waits for the changes to settle.
    renameSync(renewed.key, certs.aEc.key);
    renameSync(renewed.cert, certs.aEc.cert);
    await waitFor('new handshakes get the renewed certificate', async () => (await handshake({ servername: 'a.example', sigalgs: ECDSA_ONLY })).cert.serialNumber === renewed.serial);
    assert.equal((await fc.status()).reloads, reloadsBefore, 'no reload was needed');
    await waitFor('the renewal in the log', () => count('certificates_reloaded') > reloaded);
    // A half-written certificate is not served: the renewed one stays, and the log says why.
    writeFileSync(certs.aEc.cert, '-----BEGIN CERTIFICATE-----\nMIIB');
    await waitFor('the broken file in the log', () => count('certificates_rejected') > rejected);
    assert.equal((await handshake({ servername: 'a.example', sigalgs: ECDSA_ONLY })).cert.serialNumber, renewed.serial);
  });

  it(`certificates swapped ${SWAPS} times under load: no handshake fails, kept-alive h1, h2 and WebSocket connections live on, the last swap is served`, async () => {
    const sets = [issueTestCert(fc.dir, 'swap-0', ['a.example'], 'ec'), issueTestCert(fc.dir, 'swap-1', ['a.example'], 'ec')];
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    assert.equal((await https('a.example', '/echo', agent)).status, 200);
    const h2 = connectH2(`https://127.0.0.1:${fc.port}`, { ca, servername: 'a.example' });
    h2.on('error', () => {});
    const h2get = () => new Promise<number>((resolve, reject) => {
      const req = h2.request({ ':path': '/echo', ':authority': 'a.example' });
      req.on('response', (h) => resolve(Number(h[':status']))).on('error', reject).resume();
    });
    assert.equal(await h2get(), 200);
    // A WebSocket over the h2 connection (RFC 8441), as a browser opens one.
    const h2ws = h2.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':path': '/chat', ':authority': 'a.example', 'sec-websocket-version': '13' }, { endStream: false });
    assert.equal(await new Promise((resolve) => h2ws.once('response', (h) => resolve(h[':status']))), 200);
    const ws = new WebSocket(`wss://127.0.0.1:${fc.port}/chat`, { ca, servername: 'a.example', headers: { host: 'a.example' } } as WebSocket.ClientOptions); // https options reach tls.connect
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    let swapping = true;
    let handshakes = 0;
    const failures: string[] = [];
    const load = Array.from({ length: 4 }, async () => {
      while (swapping) {
        try {
          const r = await https('a.example', '/echo');
          if (r.status !== 200) failures.push(`status ${r.status}`);
          handshakes++;
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    });
    try {
      for (let i = 0; i < SWAPS; i++) {
        copyFileSync(sets[i % 2].cert, certs.aEc.cert);
        copyFileSync(sets[i % 2].key, certs.aEc.key);
        const r = await reload();
        assert.equal(r.status, 200, await r.text());
      }
    } finally {
      swapping = false;
      await Promise.all(load);
    }
    assert.deepEqual(failures, [], `${failures.length} of ${handshakes + failures.length} requests on new connections failed`);
    assert.ok(handshakes >= 20, `only ${handshakes} handshakes ran during the swaps`);
    assert.equal((await handshake({ servername: 'a.example', sigalgs: ECDSA_ONLY })).cert.serialNumber, sets[(SWAPS - 1) % 2].serial);
    assert.equal((await https('a.example', '/echo', agent)).status, 200, 'the kept-alive connection still serves');
    assert.equal(await h2get(), 200, 'the h2 connection still serves');
    const echoed = new Promise<string>((resolve) => ws.once('message', (m) => resolve(m.toString())));
    ws.send('still here');
    assert.match(await echoed, /still here/);
    // A masked text frame "h2 here" (RFC 6455 §5.2) on the h2 stream: the back-end's echo comes back unmasked.
    const text = Buffer.from('h2 here');
    const mask = Buffer.from([1, 2, 3, 4]);
    h2ws.write(Buffer.concat([Buffer.from([0x81, 0x80 | text.length]), mask, text.map((b, i) => b ^ mask[i % 4])]));
    const reply = await new Promise<Buffer>((resolve) => h2ws.once('data', resolve));
    assert.match(reply.subarray(2).toString(), /h2 here/);
    ws.close();
    h2ws.close();
    h2.close();
    agent.destroy();
  });

  it('a certificate for IP addresses only can be the default (clients that connect by address send no SNI), and only that', async () => {
    const byAddress = issueTestCert(fc.dir, 'by-address', ['IP:127.0.0.1'], 'ec');
    const certificates = (first: TestCert[]) => ({ ...tlsConfig(), listen: { host: '127.0.0.1', port: fc.port, tls: { certificates: first.map((c) => ({ cert: c.cert, key: c.key })) } } });
    fc.writeConfig(certificates([byAddress, certs.aEc]));
    assert.equal((await reload()).status, 200);
    assert.equal((await handshake({})).cert.serialNumber, byAddress.serial);
    assert.equal((await https('127.0.0.1', '/echo')).status, 200, 'verified against its IP address');
    assert.equal((await handshake({ servername: 'a.example' })).cert.subject.CN, 'a.example');
    fc.writeConfig(certificates([certs.aEc, byAddress]));
    assert.match(await (await reload()).text(), /by-address\.pem: names no host .*only the first \(default\) certificate may be for IP addresses only/);
    fc.writeConfig(tlsConfig());
    assert.equal((await reload()).status, 200);
  });

  it('strict SNI: a name without a certificate is refused at the handshake, and so is a client that names none', async () => {
    fc.writeConfig(tlsConfig({ strictSni: true }));
    assert.equal((await reload()).status, 200);
    assert.equal((await handshake({ servername: 'x.wild.example' })).cert.serialNumber, certs.wild.serial);
    await assert.rejects(handshake({ servername: 'unknown.example' }));
    await assert.rejects(https('127.0.0.1', '/echo'), 'no SNI (an IP address is never sent as one)');
    // A connection made for one name carries no request for another (421, RFC 9110 §15.5.20).
    const fronted = await rawExchange(fc.port, 'GET /echo HTTP/1.1\r\nHost: elsewhere.example\r\n\r\n', 2000, { ca, servername: 'a.example' });
    assert.match(fronted.text, /^HTTP\/1\.1 421 /);
    assert.equal((await https('A.example', '/echo')).status, 200, 'the same name, any case');
    fc.writeConfig(tlsConfig());
    assert.equal((await reload()).status, 200);
  });

  it('a client that trickles its hello, or sends none, is cut off by the header timeout; handshakes count against maxClientConnections', async () => {
    const opened = Date.now();
    const silent = rawExchange(fc.port, '', 5000);
    const trickle = connectTcp(fc.port, '127.0.0.1');
    trickle.on('error', () => {});
    const trickleClosed = new Promise<number>((resolve) => trickle.once('close', () => resolve(Date.now())));
    const hello = await captureHello({ servername: 'a.example' });
    let at = 0;
    const drip = setInterval(() => at < hello.length && trickle.write(hello.subarray(at, ++at)), 100);
    let cutAfter: number;
    try {
      assert.ok((await silent).closed);
      cutAfter = (await trickleClosed) - opened;
    } finally {
      clearInterval(drip);
    }
    assert.ok(cutAfter < 4000, `the trickling hello was cut after ${cutAfter} ms (headersMs 1000)`);
    // Three connections that have not finished a handshake fill a limit of three: a fourth is closed on arrival.
    limits = { limits: { maxClientConnections: 3 } };
    fc.writeConfig(tlsConfig());
    assert.equal((await reload()).status, 200);
    const held = Array.from({ length: 3 }, () => connectTcp(fc.port, '127.0.0.1').on('error', () => {}));
    await waitFor('three connections held', () => held.every((h) => h.readyState === 'open'));
    await assert.rejects(handshake({ servername: 'a.example' }), 'a fourth connection is closed on arrival');
    for (const h of held) h.destroy();
    await waitFor('a handshake goes through again', () => handshake({ servername: 'a.example' }).then(() => true, () => false));
    limits = {};
    fc.writeConfig(tlsConfig());
    assert.equal((await reload()).status, 200);
  });

  it('mangled hellos (seeded: bytes flipped, cut, repeated) never take the front down', async () => {
    const seed = Number(process.env.FRONT_FUZZ_SEED ?? Date.now() % 100_000);
    const random = seededRandom(seed);
    const hello = await captureHello({ servername: 'a.example' });
    await Promise.all(Array.from({ length: 4 }, async () => {
      for (let i = 0; i < 50; i++) {
        const bytes = Buffer.from(hello);
        for (let n = 1 + Math.floor(random() * 4); n > 0; n--) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
        const cut = random() < 0.3 ? bytes.subarray(0, Math.floor(random() * bytes.length)) : bytes;
        await rawBytes(fc.port, cut, 200);
      }
    }));
    assert.equal((await https('a.example', '/echo')).status, 200, `still serving (FRONT_FUZZ_SEED=${seed})`);
    assert.doesNotMatch(fc.frontLog, /"event":"(front_bug|proxy_bug)"/, `no internal error (FRONT_FUZZ_SEED=${seed})`);
  });
});

/** Sends bytes on a new connection; resolves when the front closes it or after waitMs. */
function rawBytes(port: number, bytes: Buffer, waitMs: number): Promise<void> {
  return new Promise((resolve) => {
    const s = connectTcp(port, '127.0.0.1');
    const done = () => {
      s.destroy();
      resolve();
    };
    const timer = setTimeout(done, waitMs);
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
    s.write(bytes);
  });
}
