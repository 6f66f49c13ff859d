import assert from 'node:assert/strict';
import type { ConnectionOptions } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { ADMIN_TOKEN, FrontCluster } from '../harness/front-cluster.ts';
import { issueTestCert, makeTestCa, type TestCert } from '../harness/test-certs.ts';
import { handshake as tlsHandshake } from '../harness/tls-handshake.ts';
import { waitFor } from '../harness/wait.ts';

// Session resumption across front processes (front.listen.tls.tickets): fronts that hold the
// same secret seal tickets with the same keys, rotated with overlap: a new key every rotateS,
// the previous ones still open tickets within lifetimeS.
const SECRET = 'ticket-secret-0123456789abcdef-0123456789';
const ROTATE_S = 2;
const LIFETIME_S = 4;

describe('TLS session resumption across front processes, with ticket keys rotated with overlap', () => {
  const fronts: FrontCluster[] = [];
  let ca: string;
  let cert: TestCert;

  const tlsFor = (fc: FrontCluster, tickets: Record<string, unknown> | undefined) => ({
    listen: { host: '127.0.0.1', port: fc.port, tls: { certificates: [{ cert: cert.cert, key: cert.key }], ...(tickets ? { tickets } : {}) } },
  });
  /** One handshake with `fc` (resuming `session` if given); it waits for the server's ticket. */
  const handshake = (fc: FrontCluster, opts: ConnectionOptions = {}) => tlsHandshake(fc.port, ca, opts);

  before(async () => {
    for (let i = 0; i < 3; i++) fronts.push(await FrontCluster.create(['b']));
    ca = makeTestCa(fronts[0].dir);
    cert = issueTestCert(fronts[0].dir, 'a', ['a.example'], 'ec');
    const tickets = { secret: SECRET, rotateS: ROTATE_S, lifetimeS: LIFETIME_S };
    // Two fronts with the cluster's secret, a third without one (its own random key).
    fronts[0].writeConfig(tlsFor(fronts[0], tickets));
    fronts[1].writeConfig(tlsFor(fronts[1], tickets));
    fronts[2].writeConfig(tlsFor(fronts[2], undefined));
    await Promise.all(fronts.map((fc) => fc.startFront()));
  });
  after(() => Promise.all(fronts.map((fc) => fc.destroy())));

  for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
    it(`${version}: a session begun on one front resumes on another that holds the secret, not on one without it`, async () => {
      const first = await handshake(fronts[0], { minVersion: version, maxVersion: version });
      assert.equal(first.reused, false);
      const other = await handshake(fronts[1], { minVersion: version, maxVersion: version, session: first.session! });
      assert.equal(other.reused, true, 'resumed on the second front process');
      const stranger = await handshake(fronts[2], { minVersion: version, maxVersion: version, session: first.session! });
      assert.equal(stranger.reused, false, 'a front without the secret makes a full handshake (and it succeeds)');
    });
  }

  it('after a rotation the new key seals new tickets and the previous one still opens its tickets; past the lifetime a full handshake', async () => {
    const tls12 = { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' } as const;
    const first = await handshake(fronts[0], tls12);
    const sealed = Date.now();
    assert.ok(first.keyName, 'a TLS 1.2 ticket names its key');
    await waitFor('a new generation of ticket key', async () => (await handshake(fronts[1], tls12)).keyName !== first.keyName, 10_000, 200);
    const resumed = await handshake(fronts[1], { ...tls12, session: first.session! });
    assert.equal(resumed.reused, true, 'a ticket of the previous generation still opens on either front');
    // A ticket older than lifetimeS: both its key and the session have lapsed.
    await waitFor('the first ticket past its lifetime', () => Date.now() - sealed > (LIFETIME_S + ROTATE_S) * 1000, 15_000, 200);
    assert.equal((await handshake(fronts[0], { ...tls12, session: first.session! })).reused, false);
  });

  it('a reload that changes nothing keeps the keys; a bad ticket setting is refused with why', async () => {
    const before = await handshake(fronts[2]);
    const reload = () => fetch(`http://127.0.0.1:${fronts[2].adminPort}/reload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal((await reload()).status, 200);
    assert.equal((await handshake(fronts[2], { session: before.session! })).reused, true, 'the random key outlived the reload');
    fronts[2].writeConfig(tlsFor(fronts[2], { secret: 'short' }));
    const refused = await reload();
    assert.notEqual(refused.status, 200);
    assert.match(await refused.text(), /ticket secret is at least 32 characters/);
    fronts[2].writeConfig(tlsFor(fronts[2], undefined));
  });
});
