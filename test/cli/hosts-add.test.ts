import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../harness/cli.ts';
import { TestCluster } from '../harness/cluster.ts';

// `cohort hosts add` signs the new node's certificate with the cluster's CA, and nothing else:
// never a new CA (where ca.key is not kept), never new certificates for the nodes already there.
describe('cohort hosts add and the cluster CA', () => {
  let c: TestCluster;
  before(async () => {
    c = await TestCluster.create([{ id: 'A' }, { id: 'B' }]);
    const keygen = await runCli(['hosts', 'keygen', '-c', c.config]);
    assert.equal(keygen.code, 0, keygen.stderr);
  });
  after(() => c?.destroy());

  const add = (id: string, port: number) => runCli(['hosts', 'add', id, '--domain', 'msu', '--host', '127.0.0.1', '--link-port', String(port), '--http-port', String(port + 1), '-c', c.config]);
  const file = (name: string) => readFileSync(join(c.table.tlsDir, name), 'utf8');

  it("makes the new node's certificate only, leaving a missing one of another node missing", async () => {
    const [ca, a] = [file('ca.crt'), file('A.crt')];
    rmSync(join(c.table.tlsDir, 'B.crt'));
    const out = await add('N', 29990);
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual([file('ca.crt'), file('A.crt')], [ca, a]);
    assert.throws(() => file('B.crt'), /ENOENT/);
    assert.match(file('N.crt'), /BEGIN CERTIFICATE/);
  });

  it('refuses (exit 2) where the CA key is not kept, writing no CA and no table version', async () => {
    const [ca, table] = [file('ca.crt'), readFileSync(c.config, 'utf8')];
    rmSync(join(c.table.tlsDir, 'ca.key'));
    const out = await add('P', 29980);
    assert.equal(out.code, 2);
    assert.match(out.stderr, /no cluster CA/);
    assert.deepEqual([file('ca.crt'), readFileSync(c.config, 'utf8')], [ca, table]);
  });
});
