import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect, type TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { Agent } from 'undici';
import { ensureWebCertificate } from '../../src/certs/web-certs.ts';
import { openssl } from '../../src/certs/openssl.ts';
import { UpstreamConnection } from '../../src/front/upstream/connection.ts';
import { clusterTrustContext } from '../../src/net/cluster-trust.ts';
import { TestCluster } from '../harness/cluster.ts';
import { FrontProcess } from '../harness/front-process.ts';
import { freePorts } from '../harness/ports.ts';
import { waitFor } from '../harness/wait.ts';

// Item 5 of "HTTPS to clients": a node's HTTP port (resources, publishing with a password, the
// dashboard, metrics) over HTTPS with the host table's node `tls`, and a front that reaches it
// over TLS, checking its certificate against the cluster CA.

const ADMIN_TOKEN = 'https-test-admin-token-0123';
const PAGE = '<!doctype html><p>over TLS all the way</p>';

/** The serial of the certificate a TLS server at `port` presents. */
function servedSerial(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerX509Certificate()!.serialNumber);
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

describe("a node's HTTP port over HTTPS", () => {
  let cluster: TestCluster;
  let front: FrontProcess;
  let frontPort = 0;
  let ca = '';
  let agent: Agent;
  let port = 0;
  let certFile = '';
  let keyFile = '';

  before(async () => {
    cluster = await TestCluster.create([
      { id: 'A', role: 'library' },
      { id: 'C', role: 'access', tls: { certificates: [{ cert: './tls/web/C.crt', key: './tls/web/C.key' }], hsts: { maxAgeS: 600 } } },
    ]);
    const web = ensureWebCertificate(cluster.table.tlsDir, 'C', ['127.0.0.1']);
    certFile = web.cert;
    keyFile = web.key;
    ca = readFileSync(join(cluster.table.tlsDir, 'ca.crt'), 'utf8');
    agent = new Agent({ connect: { ca } });
    port = cluster.table.nodes.find((n) => n.id === 'C')!.httpPort;
    await cluster.startAll();
    await waitFor('links up', () => cluster.linksUp(), 30_000);

    const a = await cluster.client('A');
    await a.auth.addUser({ domain: 'msu', user: 'ann' }, 'A', 'ann password');
    const file = join(cluster.dir, 'page.html');
    writeFileSync(file, PAGE);
    await a.call('A', 'res.publish', { url: '/res/msu/ann/page.html', file });

    // A front whose resources route goes to the access node's port (HTTPS: the node has tls).
    const [listen, admin] = await freePorts(2);
    frontPort = listen;
    const table = parse(readFileSync(cluster.config, 'utf8'));
    table.front = {
      listen: { port: listen },
      admin: { port: admin, token: ADMIN_TOKEN },
      backends: 'access',
      health: { path: '/healthz', intervalMs: 200, timeoutMs: 1000, rise: 1, fall: 1, slowStartMs: 0 },
    };
    writeFileSync(cluster.config, stringify(table));
    front = FrontProcess.start(cluster.config, { port: admin, token: ADMIN_TOKEN });
  });
  after(async () => {
    await front?.stop();
    await agent?.close();
    await cluster?.destroy();
  });

  it('serves /healthz, the dashboard and metrics over HTTPS with its certificate and HSTS; plain HTTP gets no answer', async () => {
    const health = await fetch(`https://127.0.0.1:${port}/healthz`, { dispatcher: agent } as RequestInit);
    assert.equal(health.status, 200);
    assert.equal(health.headers.get('strict-transport-security'), 'max-age=600');
    // A node on loopback without an admin token serves its metrics to whoever asks it directly.
    const metrics = await fetch(`https://127.0.0.1:${port}/metrics`, { dispatcher: agent } as RequestInit);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /^# (HELP|TYPE) /m);
    const dashboard = await fetch(`https://127.0.0.1:${port}/dashboard`, { dispatcher: agent } as RequestInit);
    assert.equal(dashboard.status, 200);
    assert.match(await dashboard.text(), /new EventSource/);
    assert.equal(await servedSerial(port, ca), new X509Certificate(readFileSync(certFile)).serialNumber);
    // Plain HTTP to the HTTPS port: no HTTP answer (the bytes are not a TLS hello).
    const plain = await new Promise<string>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/healthz', timeout: 5000 }, (res) => resolve(`answered ${res.statusCode}`));
      req.once('error', (err) => resolve(`failed: ${err.message}`));
      req.once('timeout', () => req.destroy(new Error('timeout')));
      req.end();
    });
    assert.match(plain, /^failed/);
  });

  it("offers Mozilla's intermediate profile: TLS 1.2 and 1.3 with AEAD suites, no TLS 1.1, no CBC suite", () => {
    const tryHandshake = (args: string[]) => spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, ...args], { input: '', encoding: 'utf8', timeout: 10_000 });
    assert.match(tryHandshake(['-tls1_3']).stdout, /Protocol\s*:\s*TLSv1\.3|New, TLSv1\.3/);
    assert.match(tryHandshake(['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256']).stdout, /Cipher is ECDHE-ECDSA-AES128-GCM-SHA256/);
    assert.doesNotMatch(tryHandshake(['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-SHA']).stdout, /Cipher is ECDHE-ECDSA-AES128-SHA\b/, 'a CBC suite');
    assert.doesNotMatch(tryHandshake(['-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0']).stdout, /Cipher is (?!\(NONE\))/, 'TLS 1.1');
  });

  it("a front's connections to the node resume the pool's last TLS session (no full handshake per connection)", async () => {
    const trust = clusterTrustContext(cluster.table.tlsDir);
    let session: Buffer | undefined;
    const first = await UpstreamConnection.open('127.0.0.1', port, 5000, 65_536, () => {}, { trust, session: undefined, onSession: (s) => (session = s) });
    let second: UpstreamConnection | undefined;
    try {
      await waitFor('a session ticket from the node', () => session !== undefined, 5000, 10);
      second = await UpstreamConnection.open('127.0.0.1', port, 5000, 65_536, () => {}, { trust, session, onSession: () => {} });
      assert.equal((first.socket as TLSSocket).isSessionReused(), false);
      assert.equal((second.socket as TLSSocket).isSessionReused(), true, 'the second connection resumed');
    } finally {
      first.destroy();
      second?.destroy();
    }
  });

  it("a front reaches the node's port over TLS: its health checks pass and a resource comes through", async () => {
    await front.waitFor('C ready behind the front', (s) => s.backends.some((b) => b.id === 'C' && b.state === 'ready'), 30_000);
    const page = await fetch(`http://127.0.0.1:${frontPort}/res/msu/ann/page.html`);
    assert.equal(page.status, 200);
    assert.equal(await page.text(), PAGE);
    assert.equal(page.headers.get('strict-transport-security'), null, "the node's HSTS is its own port's, not sent on what a front relays (here over plain HTTP)");
  });

  it('a new certificate file is served without a restart; one the cluster CA did not sign makes the front take the node out (its certificate is checked)', async () => {
    // A self-signed certificate for the same address: the node serves it, the front refuses it.
    const rogue = join(cluster.dir, 'rogue');
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${rogue}.key`, '-out', `${rogue}.crt`, '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '2']);
    const good = { cert: readFileSync(certFile), key: readFileSync(keyFile) };
    const rogueSerial = new X509Certificate(readFileSync(`${rogue}.crt`)).serialNumber;
    copyFileSync(`${rogue}.key`, keyFile);
    copyFileSync(`${rogue}.crt`, certFile);
    await waitFor('the node to serve the new certificate', async () => (await servedSerial(port, ca)) === rogueSerial, 15_000, 100);
    // The front's own upstream connections check it too (not only its health checks).
    const trust = { trust: clusterTrustContext(cluster.table.tlsDir) };
    await assert.rejects(UpstreamConnection.open('127.0.0.1', port, 5000, 65_536, () => {}, trust), (err: Error & { code?: string }) => err.code === 'connect_failed' && /self-signed|self signed|unable to verify/i.test(err.message));
    await front.waitFor('the front to take C out', (s) => s.backends.some((b) => b.id === 'C' && b.state !== 'ready'), 15_000);
    const refused = await fetch(`http://127.0.0.1:${frontPort}/res/msu/ann/page.html`);
    assert.equal(refused.status, 503, 'no back-end it trusts');

    writeFileSync(keyFile, good.key);
    writeFileSync(certFile, good.cert);
    await front.waitFor('C ready again', (s) => s.backends.some((b) => b.id === 'C' && b.state === 'ready'), 15_000);
    (await UpstreamConnection.open('127.0.0.1', port, 5000, 65_536, () => {}, trust)).destroy();
    assert.equal((await fetch(`http://127.0.0.1:${frontPort}/res/msu/ann/page.html`)).status, 200);
  });
});
