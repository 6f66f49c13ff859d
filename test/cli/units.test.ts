import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { COHORT_BIN } from '../../src/service/systemd-units.ts';
import { runCli } from '../harness/cli.ts';

// Running Cohort as a service (issue 28, item 7): `cohort` on PATH after a global install, on
// the Node.js it was installed with, and systemd units that systemd itself accepts.
describe('cohort as a service: the command on PATH and systemd units', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cohort-units-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'hosts.yaml');
  writeFileSync(config, stringify({
    cluster: 'prod', dataDir: './data', tls: { dir: './tls' }, domains: ['msu'],
    nodes: [{ id: 'A', domain: 'msu', role: 'library', host: '127.0.0.1', linkPort: 21000, httpPort: 21001 }, { id: 'C', domain: 'msu', role: 'access', host: '127.0.0.1', linkPort: 21002, httpPort: 21003 }],
    front: { listen: { port: 8443 }, backends: 'access' },
  }));

  it('`cohort units` writes a node\'s and the front\'s units: systemd-analyze verify finds nothing to say', async () => {
    const out = join(dir, 'units');
    const r = await runCli(['units', '-c', config, '--node', 'A', '--node', 'C', '--front', '--user', 'cohort', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const names = ['cohort-node-A.service', 'cohort-node-C.service', 'cohort-front.service'];
    const node = readFileSync(join(out, names[0]), 'utf8');
    assert.match(node, new RegExp(`^ExecStart=${COHORT_BIN} node --config ${join(dir, 'hosts.yaml')} --id A$`, 'm'));
    for (const line of ['ExecReload=/bin/kill -HUP $MAINPID', 'Restart=always', 'User=cohort', `ReadWritePaths=${join(dir, 'data')}`, 'ProtectSystem=strict', 'NoNewPrivileges=yes', 'WantedBy=multi-user.target']) {
      assert.ok(node.split('\n').includes(line), line);
    }
    assert.match(readFileSync(join(out, names[2]), 'utf8'), /^AmbientCapabilities=CAP_NET_BIND_SERVICE$/m);
    // systemd's own check (Debian's systemd package): unknown keys and bad values are warnings on stderr, so both must be empty.
    const verify = spawnSync('systemd-analyze', ['verify', ...names.map((n) => join(out, n))], { encoding: 'utf8' });
    assert.equal(verify.error, undefined, 'systemd-analyze runs (Debian package systemd)');
    assert.deepEqual([verify.status, verify.stderr.trim(), verify.stdout.trim()], [0, '', '']);
  });

  it('refuses a node not in the table, no unit asked for, and a bad account name (exit 2), writing nothing', async () => {
    for (const [args, why] of [[['--node', 'Z'], /no node 'Z'/], [[], /at least one --node, or --front/], [['--node', 'A', '--user', 'root;rm'], /not an account name/]] as const) {
      const r = await runCli(['units', '-c', config, ...args, '--out', join(dir, 'nothing')]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, why);
    }
    assert.throws(() => readFileSync(join(dir, 'nothing', 'cohort-node-A.service')));
  });

  it('a global install from a checkout puts `cohort` on PATH, running on Node 24 whatever `node` is on PATH', () => {
    const prefix = join(dir, 'global');
    execFileSync('npm', ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', '--offline', realpathSync(join(import.meta.dirname, '..', '..'))], { stdio: 'pipe' });
    // A PATH whose `node` (if any) is the system's, not the one this test runs on.
    const r = spawnSync(join(prefix, 'bin', 'cohort'), ['--version'], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout.trim(), /^\d+\.\d+\.\d+$/);
    const help = spawnSync(join(prefix, 'bin', 'cohort'), ['hosts', '--help'], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
    assert.match(help.stdout, /host table versions/);
  });
});
