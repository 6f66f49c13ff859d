import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { certPaths, initClusterCerts } from '../../src/certs/cluster-certs.ts';
import { loadHostTable } from '../../src/config/host-table.ts';
import { runCli } from '../harness/cli.ts';
import { TestCluster } from '../harness/cluster.ts';
import { collect, frame, rawTls } from '../harness/raw.ts';
import { waitFor } from '../harness/wait.ts';

function creds(tlsDir: string, id: string) {
  const p = certPaths(tlsDir, id);
  return { ca: readFileSync(p.ca), cert: readFileSync(p.cert), key: readFileSync(p.key) };
}

// Issue 28, item 4: the host table pins each node's certificate (certSha256). Another
// certificate for the same node id, signed by the same cluster CA (one retired, or stolen with
// its key), is refused on the links although the CA check passes.
describe("a node's certificate pinned in the host table", () => {
  let c: TestCluster;
  const otherDir = mkdtempSync(join(tmpdir(), 'cohort-pin-'));

  before(async () => {
    c = await TestCluster.create([{ id: 'A' }, { id: 'B' }, { id: 'C' }]);
    for (const args of [['hosts', 'keygen'], ['hosts', 'pin']]) {
      const out = await runCli([...args, '-c', c.config]);
      assert.equal(out.code, 0, out.stderr);
    }
    // B's and C's other certificates: new keys, the same CA.
    cpSync(c.table.tlsDir, otherDir, { recursive: true });
    for (const f of ['B.crt', 'B.key', 'C.crt', 'C.key']) rmSync(join(otherDir, f));
    initClusterCerts(otherDir, c.table.cluster, ['B', 'C']);
    await c.startAll();
    await waitFor('every link up', () => c.linksUp());
  });
  after(async () => {
    await c?.destroy();
    rmSync(otherDir, { recursive: true, force: true });
  });

  it('`cohort hosts pin` writes each certificate\'s SHA-256 in a signed new version; the pinned certificates link', () => {
    const table = loadHostTable(c.config);
    assert.equal(table.version, 1);
    for (const n of table.nodes) assert.match(n.certSha256 ?? '', /^[0-9a-f]{64}$/, n.id);
  });

  it("refuses B's other certificate from the same CA, and keeps serving", async () => {
    const linkPortA = c.table.nodes.find((n) => n.id === 'A')!.linkPort;
    const socket = await rawTls(linkPortA, creds(otherDir, 'B'));
    socket.write(frame(JSON.stringify({ t: 'hello', v: 1, cluster: c.table.cluster, node: 'B' })));
    const outcome = await collect(socket);
    assert.ok(outcome.closed);
    assert.equal(outcome.frames[0]?.t, 'refuse');
    assert.match(String(outcome.frames[0]?.message), /not the one the host table pins for it/);
    assert.deepEqual(await (await c.client('B')).ping('A'), { node: 'A' }, "B's pinned certificate still links");
  });

  it('a node whose own certificate is not the one pinned does not start, and says why', async () => {
    await c.kill('C');
    for (const f of ['C.crt', 'C.key']) cpSync(join(otherDir, f), join(c.table.tlsDir, f));
    const out = await runCli(['node', '-c', c.config, '-i', 'C']);
    assert.notEqual(out.code, 0);
    assert.match(out.stderr, /the host table pins [0-9a-f]{64} for node C \(certSha256\)/);
  });
});
