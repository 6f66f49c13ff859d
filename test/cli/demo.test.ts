import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runCli } from '../harness/cli.ts';
import { freePorts } from '../harness/ports.ts';

describe('cohort demo', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cohort-demo-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the host table and certificates, starts six nodes, their supervised app instances and the front, shows every link up, serves a request, and stops them', async () => {
    // Below the kernel's ephemeral range (32768 and up), so no client socket of another test
    // sits on the block; the demo refuses a busy block, and then we try another.
    let result;
    for (let attempt = 0; ; attempt++) {
      const [base] = await freePorts(1);
      result = await runCli(['demo', '--dir', dir, '--base-port', String(base), '--until-ready'], { timeoutMs: 60_000 });
      if (!/are in use/.test(result.stderr) || attempt === 4) break;
    }
    assert.equal(result.code, 0, result.stderr + result.stdout);
    assert.match(result.stdout, /all 30 links up in \d+ ms/);
    const matrix = result.stdout.split('\n').filter((l) => /^[ACDEIJ] /.test(l));
    assert.equal(matrix.length, 6);
    for (const row of matrix) assert.equal(row.split(/\s+/).filter((c) => c === 'up').length, 5, row);
    assert.match(result.stdout, /front ready on http:\/\/127\.0\.0\.1:\d+\/: 2 app instances on each of C, D, I, J \(least_conn, sticky cookie\)/);
    assert.match(result.stdout, /through the front: Hello from the app on node [CDIJ], instance [CDIJ]\.\d+\.\d+/);
    assert.ok(existsSync(join(dir, 'hosts.yaml')));
    assert.equal(statSync(join(dir, 'tls', 'A.key')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'tls', 'ca.key')).mode & 0o777, 0o600);
    assert.equal(existsSync(join(dir, 'data', 'A', 'cohort.sock')), false, 'the socket file is removed on a clean stop');
  });
});
