import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../harness/cli.ts';
import { freePorts } from '../harness/ports.ts';

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

// `cohort node` with a bad config: a clear message naming file and field, exit code 2, nothing started.
describe('cohort node with a bad configuration', { concurrency: 4 }, () => {
  let dir: string;
  let port: number;
  let good: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cohort-cfg-'));
    [port] = await freePorts(1);
    good = `cluster: t\ndataDir: ./data\ntls: { dir: ./tls }\ndomains: [msu]\nnodes:\n  - { id: A, domain: msu, role: library, host: 127.0.0.1, linkPort: ${port}, httpPort: ${port + 1} }\n  - { id: B, domain: msu, role: access, host: 127.0.0.1, linkPort: ${port + 2}, httpPort: ${port + 3} }\n`;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const cases: [string, (g: string) => string, RegExp][] = [
    ['unknown field', (g) => g + 'extra: 1\n', /\(top level\): Unrecognized key: "extra"/],
    ['duplicate id', (g) => g.replace('id: B', 'id: A'), /nodes\[1\]\.id: duplicate node id 'A'/],
    ['duplicate port', (g) => g.replace(/linkPort: \d+, httpPort: (\d+) }\n$/, (_m, h) => `linkPort: ${port}, httpPort: ${h} }\n`), /nodes\[1\]\.linkPort: port 127\.0\.0\.1:\d+ is already used/],
    ['unknown domain', (g) => g.replace('domain: msu, role: access', 'domain: rice, role: access'), /nodes\[1\]\.domain: unknown domain 'rice'/],
    ['unknown role', (g) => g.replace('role: access', 'role: proxy'), /nodes\[1\]\.role: Invalid option/],
    ['broken YAML', (g) => g.replace('nodes:', 'nodes: {'), /YAML:/],
    ['node missing from the table', (g) => g.replace('id: A', 'id: Z'), /no node 'A' in the host table/],
    ['app: no command', (g) => g + 'app: { basePort: 9500 }\n', /app\.command: .*\(for node B\)/],
    ['app: command not a list', (g) => g + 'app: { command: "node app.js", basePort: 9500 }\n', /app\.command: Invalid input: expected array/],
    ['app: unknown field', (g) => g + 'app: { command: [node], basePort: 9500, instancez: 3 }\n', /app: Unrecognized key: "instancez"/],
    ['app: port range past 65535', (g) => g + 'app: { command: [node], basePort: 65500, portSpan: 100 }\n', /app\.portSpan: basePort \+ portSpan runs past port 65535/],
    ['app: range over a node port', (g) => g + `app: { command: [node], basePort: ${port}, portSpan: 10 }\n`, /nodes\[1\]\.app\.basePort: nodes\[1\] \(B\) app ports \d+-\d+ include port \d+ of nodes\[0\]\.linkPort/],
    ['app: two nodes, one range', (g) => g.replace('role: library,', 'role: library, app: {},') + 'app: { command: [node], basePort: 9500 }\n', /nodes\[1\]\.app\.basePort: .* overlap nodes\[0\] \(A\) app ports 9500-9599/],
    ['app: bad env name', (g) => g + 'app: { command: [node], basePort: 9500, env: { "1X": "y" } }\n', /app\.env\.1X: environment variable names/],
    ['app: timeout over interval', (g) => g + 'app: { command: [node], basePort: 9500, health: { intervalMs: 100, timeoutMs: 500 } }\n', /app\.health\.timeoutMs: must not exceed health\.intervalMs/],
    ['front: apps without front.node', (g) => g + 'app: { command: [node], basePort: 9500 }\nfront: { listen: { port: 9400 }, backends: apps }\n', /front\.node: 'backends: apps' follows the app registries through a node/],
    ['front: apps without any pool', (g) => g + 'front: { listen: { port: 9400 }, backends: apps, node: A }\n', /front\.backends: 'apps' needs an app: section/],
    ['app: NUL in the command', (g) => g + 'app: { command: [node, "a\\0b"], basePort: 9500 }\n', /app\.command\[1\]: a NUL byte cannot be passed to a program/],
    ['app: NUL in an env value', (g) => g + 'app: { command: [node], basePort: 9500, env: { X: "a\\0" } }\n', /app\.env\.X: a NUL byte/],
    ['spares: unknown node', (g) => g.replace('role: access,', 'role: access, spares: [Q],'), /nodes\[1\]\.spares\[0\]: no node 'Q' in the host table/],
    ['spares: itself', (g) => g.replace('role: access,', 'role: access, spares: [B],'), /nodes\[1\]\.spares\[0\]: a node is not its own spare/],
    ['publicUrl: not http', (g) => g.replace('role: access,', 'role: access, publicUrl: "ftp://x",'), /nodes\[1\]\.publicUrl/],
    ['app: node override wrong', (g) => g.replace('role: access,', 'role: access, app: { instances: -1 },') + 'app: { command: [node], basePort: 9500 }\n', /nodes\[1\]\.app\.instances: Too small/],
    ['admin: token too short', (g) => g + 'admin: { token: short }\n', /admin\.token: admin tokens are at least 16 characters/],
    ['no certificates yet', (g) => g, /tls\/A\.crt: invalid configuration\n.*cannot read TLS files for node A \(run 'cohort certs init'\)/],
  ];
  for (const [what, mutate, message] of cases) {
    it(`${what}: exit 2, message on stderr, nothing listening`, async () => {
      const file = join(dir, `${what.replace(/\W+/g, '-')}.yaml`);
      writeFileSync(file, mutate(good));
      const result = await runCli(['node', '--config', file, '--id', 'A']);
      assert.equal(result.code, 2, result.stderr);
      // The message names the file at fault: the host table, or the certificate it points to.
      if (what !== 'no certificates yet') assert.ok(result.stderr.includes(file), `stderr names the file: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.equal(result.stdout, '');
      assert.ok(await refused(port), 'nothing listens on the link port');
    });
  }

  it('a missing file: exit 2 and the reason', async () => {
    const result = await runCli(['node', '--config', join(dir, 'nope.yaml'), '--id', 'A']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /nope\.yaml: invalid configuration\n {2}- cannot read: ENOENT/);
  });

  it('bad CLI usage: exit 2 with help hint; --help exits 0', async () => {
    const missing = await runCli(['ping', 'B', '--config', join(dir, 'x.yaml')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /required option '-f, --from <node>' not specified/);
    const badJson = await runCli(['call', 'B', 'ping', '{oops', '--config', join(dir, 'x.yaml'), '--from', 'A']);
    assert.equal(badJson.code, 2);
    assert.match(badJson.stderr, /ARGS_JSON is not valid JSON/);
    for (const args of [['--help'], ['node', '--help'], ['certs', 'init', '--help'], ['call', '--help'], ['demo', '--help']]) {
      const help = await runCli(args);
      assert.equal(help.code, 0, args.join(' '));
      assert.match(help.stdout, /Usage: cohort/);
    }
  });
});
