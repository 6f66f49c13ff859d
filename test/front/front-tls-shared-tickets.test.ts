import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { ensureWebCertificate } from '../../src/certs/web-certs.ts';
import { TestCluster } from '../harness/cluster.ts';
import { FrontProcess } from '../harness/front-process.ts';
import { freePorts } from '../harness/ports.ts';
import { handshake } from '../harness/tls-handshake.ts';
import { waitFor } from '../harness/wait.ts';

// Session ticket keys shared through the node network (no secret in the host table): two front
// processes, each with its own host table naming node A as its node, seal and open tickets with
// the same random keys, which A keeps; rotated with overlap; a restarted front has them back.
const ROTATE_S = 2;
const LIFETIME_S = 14;
const TOKEN = 'shared-tickets-admin-token-0123';

describe('TLS session ticket keys shared through the node network', () => {
  let cluster: TestCluster;
  let ca = '';
  const fronts: { config: string; port: number; admin: number; proc?: FrontProcess }[] = [];

  const start = (f: (typeof fronts)[number]) => {
    f.proc = FrontProcess.start(f.config, { port: f.admin, token: TOKEN });
    return f.proc.waitFor(`front on ${f.port}`, () => true, 30_000);
  };
  /** The key A keeps for the generation `now` falls in (48 bytes, base64), or undefined. */
  const storedKeyName = async (now: number) => {
    const item = (await (await cluster.client('A')).call('A', 'acme.get', { key: `tickets:${Math.floor(now / (ROTATE_S * 1000))}` })) as { value?: string };
    return item.value === undefined ? undefined : Buffer.from(item.value, 'base64').subarray(0, 16).toString('hex');
  };

  before(async () => {
    cluster = await TestCluster.create([{ id: 'A', role: 'library' }]);
    await cluster.startAll();
    const cert = ensureWebCertificate(cluster.table.tlsDir, 'front', ['a.example', '127.0.0.1']);
    ca = readFileSync(join(cluster.table.tlsDir, 'ca.crt'), 'utf8');
    const ports = await freePorts(5);
    const table = parse(readFileSync(cluster.config, 'utf8'));
    for (let i = 0; i < 2; i++) {
      const f = { config: join(cluster.dir, `front${i}.yaml`), port: ports[2 * i], admin: ports[2 * i + 1] };
      writeFileSync(f.config, stringify({
        ...table,
        front: {
          listen: { port: f.port, tls: { certificates: [{ cert: cert.cert, key: cert.key }], tickets: { rotateS: ROTATE_S, lifetimeS: LIFETIME_S } } },
          admin: { port: f.admin, token: TOKEN },
          backends: [{ id: 'b', host: '127.0.0.1', port: ports[4] }],
          node: 'A',
        },
      }));
      fronts.push(f);
    }
    await Promise.all(fronts.map(start));
  });
  after(async () => {
    await Promise.all(fronts.map((f) => f.proc?.stop()));
    await cluster?.destroy();
  });

  for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
    it(`${version}: a session begun on one front resumes on the other; the key is the one node A keeps`, async () => {
      const tls = { minVersion: version, maxVersion: version } as const;
      // Until a front has heard A's key it seals with a stand-in of its own: wait for agreement.
      const first = await waitFor('a ticket the other front opens', async () => {
        const h = await handshake(fronts[0].port, ca, tls);
        const other = await handshake(fronts[1].port, ca, { ...tls, session: h.session! });
        return other.reused ? h : undefined;
      }, 15_000, 100);
      if (version === 'TLSv1.2') {
        const sealedAt = Date.now();
        assert.ok([await storedKeyName(sealedAt), await storedKeyName(sealedAt - ROTATE_S * 1000)].includes(first.keyName), 'sealed with a key A keeps');
      }
    });
  }

  it('after a rotation both fronts seal with the new key and the previous one still opens; a restarted front resumes what the other sealed', async () => {
    const tls12 = { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' } as const;
    const first = await handshake(fronts[0].port, ca, tls12);
    const second = await waitFor('a new generation of ticket key', async () => {
      const h = await handshake(fronts[1].port, ca, tls12);
      return h.keyName !== first.keyName ? h : undefined;
    }, 10_000, 200);
    const next = await handshake(fronts[0].port, ca, tls12);
    assert.notEqual(next.keyName, first.keyName, 'front 0 seals with a newer key too');
    assert.equal((await handshake(fronts[1].port, ca, { ...tls12, session: first.session! })).reused, true, 'a ticket of the previous generation still opens');

    // Front 1 restarts: its keys come back from A, so the ticket front 0 sealed still opens there.
    const sealed = await handshake(fronts[0].port, ca, tls12);
    await fronts[1].proc!.stop();
    await start(fronts[1]);
    await waitFor('the restarted front to resume a ticket sealed before its restart', async () => (await handshake(fronts[1].port, ca, { ...tls12, session: sealed.session! })).reused, 10_000, 100);
  });
});
