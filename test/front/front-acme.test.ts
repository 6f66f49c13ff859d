import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, type PeerCertificate } from 'node:tls';
import { parse, stringify } from 'yaml';
import { TestCluster } from '../harness/cluster.ts';
import { FrontProcess } from '../harness/front-process.ts';
import { logEvents } from '../harness/log.ts';
import { Pebble } from '../harness/pebble.ts';
import { freePorts } from '../harness/ports.ts';
import { stopProcess } from '../harness/stop.ts';
import { waitFor } from '../harness/wait.ts';

// front.listen.tls.acme against Pebble, Let's Encrypt's test CA (its nonce rejection left on at
// its own 5%: the orders go through it). Front 1 listens where Pebble checks challenges; fronts
// 2 and 3 elsewhere, so an order a front places may be checked at another front, which finds the
// answer in the node network (node A keeps the ACME state). Certificates live VALIDITY_S seconds:
// renewal comes at two thirds of that.
const VALIDITY_S = 15;
const TOKEN = 'acme-test-admin-token-0123456789';

interface Served {
  serial: string;
  names: string;
  authorized: boolean;
  validFrom: number;
  validTo: number;
}

/** The certificate a front serves for `servername`, checked against Pebble's root. */
function served(port: number, servername: string, root: string): Promise<Served> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername, ca: root, rejectUnauthorized: false }, () => {
      const cert = socket.getPeerCertificate() as PeerCertificate;
      resolve({ serial: cert.serialNumber, names: cert.subjectaltname ?? '', authorized: socket.authorized, validFrom: Date.parse(cert.valid_from), validTo: Date.parse(cert.valid_to) });
      socket.destroy();
    });
    socket.on('error', reject);
    socket.setTimeout(15_000, () => socket.destroy(new Error('no handshake within 15 s')));
  });
}

describe('ACME against Pebble: HTTP-01 and TLS-ALPN-01, one order per name across fronts, renewal, back-off', () => {
  let cluster: TestCluster;
  let pebble: Pebble;
  let root = '';
  const fronts: FrontProcess[] = [];
  const tlsPorts: number[] = [];
  const adminPorts: number[] = [];

  before(async () => {
    cluster = await TestCluster.create([{ id: 'A', role: 'library' }, { id: 'C', role: 'access' }]);
    await cluster.start('A');
    const ports = await freePorts(13);
    // Front 1: Pebble's ports; fronts 2-5: their own.
    const [tls1, http1, admin1, tls2, http2, admin2, tls3, admin3, tls4, admin4, tls5, admin5, backend] = ports;
    tlsPorts.push(tls1, tls2, tls3, tls4, tls5);
    adminPorts.push(admin1, admin2, admin3, admin4, admin5);
    pebble = await Pebble.start(cluster.dir, { httpPort: http1, tlsPort: tls1, validityS: VALIDITY_S, nonceRejectPercent: 5, blocked: ['blocked.test'] });
    root = await pebble.root();
    const base = parse(readFileSync(cluster.config, 'utf8'));
    // Node C's own HTTP port serves what the fronts order for one.test (it never orders itself).
    base.nodes[1].tls = { acme: { directory: pebble.directory, names: ['one.test'] } };
    writeFileSync(cluster.config, stringify(base));
    await cluster.start('C');
    const acme = (extra: Record<string, unknown>) => ({ directory: pebble.directory, caFile: pebble.caFile, email: 'ops@example.org', ...extra });
    const fronts_: [number, number, number | undefined, Record<string, unknown>][] = [
      [tls1, admin1, http1, acme({ names: ['one.test'], challenges: ['http-01'] })],
      [tls2, admin2, http2, acme({ names: ['one.test'], challenges: ['http-01'] })],
      [tls3, admin3, undefined, acme({ names: ['two.test'], challenges: ['tls-alpn-01'], onDemand: { allow: ['*.ondemand.test'], maxNames: 5 } })],
      // A name Pebble refuses (its block list), on two fronts: every order fails, and backs off across both.
      [tls4, admin4, undefined, acme({ names: ['blocked.test'], challenges: ['tls-alpn-01'], retry: { minS: 1, maxS: 4 } })],
      [tls5, admin5, undefined, acme({ names: ['blocked.test'], challenges: ['tls-alpn-01'], retry: { minS: 1, maxS: 4 } })],
    ];
    for (const [i, [tls, admin, redirect, acmeCfg]] of fronts_.entries()) {
      const file = join(cluster.dir, `front-${i + 1}.yaml`);
      writeFileSync(file, stringify({
        ...base,
        front: {
          node: 'A',
          listen: { host: '127.0.0.1', port: tls, tls: { acme: acmeCfg } },
          ...(redirect ? { redirect: { host: '127.0.0.1', port: redirect } } : {}),
          admin: { port: admin, token: TOKEN },
          // An on-demand handshake waits for its order within this (a loaded machine orders slowly).
          timeouts: { headersMs: 30_000 },
          backends: [{ id: 'b', host: '127.0.0.1', port: backend }],
        },
      }));
      fronts.push(FrontProcess.start(file, { port: admin, token: TOKEN }, { args: ['--log-level', 'debug'] }));
    }
  });
  after(async () => {
    await Promise.all(fronts.map((f) => f.stop()));
    await pebble?.stop();
    await cluster?.destroy();
  });

  const orders = (i: number, name: string) => logEvents(fronts[i].log, 'acme_order_placed').filter((e) => e.name === name);
  /** A first issuance: Pebble, the node network's ACME home and the front all take part; a loaded machine is slow (a full CI run once took over 30 s). On a timeout, what the fronts' logs said of ACME. */
  const FIRST_ORDER_MS = 90_000;
  const acmeTail = (i: number) => fronts[i].log.split('\n').filter((l) => l.includes('acme')).slice(-8).join('\n');
  const withAcmeLogs = <T>(which: number[], wait: Promise<T>): Promise<T> => wait.catch((err: Error) => {
    throw new Error(`${err.message}\n${which.map((i) => `front ${i + 1}'s ACME log lines:\n${acmeTail(i)}`).join('\n')}`);
  });

  it('HTTP-01: two fronts place one order for a name and serve the same certificate, chained to the CA', async () => {
    const [a, b] = await withAcmeLogs([0, 1], waitFor('one.test served by fronts 1 and 2', async () => {
      const got = await Promise.all([served(tlsPorts[0], 'one.test', root), served(tlsPorts[1], 'one.test', root)]).catch(() => undefined);
      return got && got[0].authorized && got[1].authorized ? got : undefined;
    }, FIRST_ORDER_MS, 200));
    assert.equal(a.serial, b.serial, 'the same certificate on both fronts');
    assert.match(a.names, /DNS:one\.test/);
    const first = [...orders(0, 'one.test'), ...orders(1, 'one.test')].filter((e) => e.renewing === null);
    assert.equal(first.length, 1, `one first order across both fronts: ${JSON.stringify(first)}`);
  });

  it("a node's HTTP port with tls.acme serves the certificate the fronts ordered for its name", async () => {
    const front = await served(tlsPorts[0], 'one.test', root);
    const port = cluster.table.nodes.find((n) => n.id === 'C')!.httpPort;
    const node = await waitFor("one.test's certificate on node C's port", async () => {
      const got = await served(port, 'one.test', root).catch(() => undefined);
      return got?.authorized && got.serial === front.serial ? got : undefined;
    }, 30_000, 200);
    assert.match(node.names, /DNS:one\.test/);
  });

  it('TLS-ALPN-01: a front that is not where the CA checks still gets its certificate (the challenge is answered by front 1 from the node network)', async () => {
    const two = await withAcmeLogs([0, 2], waitFor('two.test served by front 3', async () => {
      const got = await served(tlsPorts[2], 'two.test', root).catch(() => undefined);
      return got?.authorized ? got : undefined;
    }, FIRST_ORDER_MS, 200));
    assert.match(two.names, /DNS:two\.test/);
    assert.ok(logEvents(fronts[2].log, 'acme_certificate_issued').some((e) => e.name === 'two.test'));
  });

  it("on demand: a name the allow-list takes waits in its first handshake for its certificate; one it does not take is never ordered", async () => {
    const got = await served(tlsPorts[2], 'x.ondemand.test', root);
    assert.equal(got.authorized, true, 'the first handshake got a certificate the CA issued');
    assert.match(got.names, /DNS:x\.ondemand\.test/);
    const other = await served(tlsPorts[2], 'evil.example', root).catch((err: Error) => err);
    assert.ok(other instanceof Error || !/evil/.test(other.names), 'no certificate for a name off the list');
    assert.equal(orders(2, 'evil.example').length, 0);
  });

  it('renewal at two thirds of the lifetime: a new certificate, taken up by both fronts', async () => {
    const before = await served(tlsPorts[0], 'one.test', root);
    const renewed = await waitFor('a renewed one.test on both fronts', async () => {
      const got = await Promise.all([served(tlsPorts[0], 'one.test', root), served(tlsPorts[1], 'one.test', root)]).catch(() => undefined);
      return got && got[0].serial !== before.serial && got[0].serial === got[1].serial && got[0].authorized ? got[0] : undefined;
    }, VALIDITY_S * 1000 + 15_000, 250);
    const lifetime = before.validTo - before.validFrom;
    const issued = [...logEvents(fronts[0].log, 'acme_certificate_issued'), ...logEvents(fronts[1].log, 'acme_certificate_issued')].find((e) => e.name === 'one.test' && e.serial === renewed.serial);
    assert.ok(issued, 'the renewal is logged');
    // Not before a third of the lifetime is left (seconds in a certificate: a second of slack).
    assert.ok(Date.parse(String(issued.time)) >= before.validTo - lifetime / 3 - 1000, `renewed at ${issued.time}, due ${new Date(before.validTo - lifetime / 3).toISOString()}`);
    assert.notEqual(renewed.serial, before.serial);
    const renewals = [...orders(0, 'one.test'), ...orders(1, 'one.test')].filter((e) => e.renewing === before.serial);
    assert.equal(renewals.length, 1, `one renewal order across both fronts: ${JSON.stringify(renewals)}`);
  });

  it('a failed order backs off, doubling, across the fronts (one order at a time for the name), and the front keeps serving', async () => {
    const failures = await waitFor('three failed orders for blocked.test', () => {
      const f = [...logEvents(fronts[3].log, 'acme_order_failed'), ...logEvents(fronts[4].log, 'acme_order_failed')].filter((e) => e.name === 'blocked.test');
      return f.length >= 3 ? f.sort((a, b) => Date.parse(String(a.time)) - Date.parse(String(b.time))) : undefined;
    }, 30_000, 200);
    assert.deepEqual(failures.slice(0, 3).map((e) => e.attempts), [1, 2, 3]);
    assert.deepEqual(failures.slice(0, 3).map((e) => e.retryInS), [1, 2, 4]);
    const at = failures.map((e) => Date.parse(String(e.time)));
    assert.ok(at[1] - at[0] >= 1000 && at[2] - at[1] >= 2000, `orders spaced by the back-off: ${at[1] - at[0]} ms, ${at[2] - at[1]} ms`);
    assert.equal((await fronts[3].status()).backends.length, 1, 'the front answers its status');
  });

  it("a front restarted while the ACME home is down serves its certificate at once, from its own copy", async () => {
    // A fresh certificate (just renewed), so it outlives the restart on a loaded machine.
    const fresh = await waitFor('one.test issued within the last 3 s', async () => {
      const got = await served(tlsPorts[0], 'one.test', root).catch(() => undefined);
      return got?.authorized && got.validTo - Date.now() > (VALIDITY_S - 4) * 1000 ? got : undefined;
    }, VALIDITY_S * 1000 + 15_000, 200);
    await cluster.kill('A');
    await stopProcess(fronts[0].proc, 'SIGKILL'); // no graceful close: the copy must outlive the restart
    fronts[0] = FrontProcess.start(join(cluster.dir, 'front-1.yaml'), { port: adminPorts[0], token: TOKEN }, { args: ['--log-level', 'debug'] });
    const after = await waitFor('the restarted front to serve one.test', () => served(tlsPorts[0], 'one.test', root).catch(() => undefined), 10_000, 100);
    assert.equal(after.serial, fresh.serial, 'the certificate it held before, with the home down');
    assert.equal(after.authorized, true);
    assert.ok(logEvents(fronts[0].log, 'acme_home_unreachable').length > 0, 'the home did not answer');
  });
});
