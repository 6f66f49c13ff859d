import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { fileURLToPath } from 'node:url';
import type { RegistrySnapshot } from '../../src/supervisor/registry.ts';
import { runCli } from '../harness/cli.ts';
import { TestCluster } from '../harness/cluster.ts';
import { freePortRange } from '../harness/ports.ts';
import { waitFor } from '../harness/wait.ts';

const TEST_APP = fileURLToPath(new URL('../harness/test-app.ts', import.meta.url));
let cluster: TestCluster | undefined;
after(async () => cluster?.destroy());

test('cohort app status and app reload, and a reload whose new command fails changes nothing', async () => {
  const [pa, pb] = [await freePortRange(10), await freePortRange(10)];
  const app = (basePort: number) => ({ command: [process.execPath, TEST_APP], instances: 2, basePort, portSpan: 10, health: { intervalMs: 200, timeoutMs: 200 }, startTimeoutMs: 3000, backoff: { minMs: 200, maxMs: 400 } });
  const c = (cluster = await TestCluster.create([{ id: 'L', role: 'library' }, { id: 'A', app: app(pa) }, { id: 'B', app: app(pb) }]));
  await c.startAll();
  const registry = async (id: string) => (await (await c.client(id)).call(id, 'app.registry')) as RegistrySnapshot;
  const readyPids = async (id: string) => (await registry(id)).instances.filter((i) => i.state === 'ready').map((i) => i.pid);
  await waitFor('both pools ready', async () => (await readyPids('A')).length === 2 && (await readyPids('B')).length === 2);

  const status = await runCli(['app', 'status', '--config', c.config, '--from', 'L']);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /node A: .*test-app\.ts\nINSTANCE +STATE +ADDRESS/);
  assert.match(status.stdout, /A\.1\.\d+ +ready +127\.0\.0\.1:\d+ +\d+/);
  assert.match(status.stdout, /node B:/);
  const json = JSON.parse((await runCli(['app', 'status', '--config', c.config, '--from', 'L', '--on', 'B', '--json'])).stdout) as RegistrySnapshot[];
  assert.deepEqual(json.map((r) => r.node), ['B']);

  const usage = await runCli(['app', 'reload', '--config', c.config, '--from', 'L']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--on NODE, or --all/);
  assert.equal((await runCli(['app', 'status', '--config', c.config, '--from', 'L', '--on', 'L'])).code, 2);

  const before = [...(await readyPids('A')), ...(await readyPids('B'))];
  const reload = await runCli(['app', 'reload', '--all', '--config', c.config, '--from', 'L'], { timeoutMs: 60_000 });
  assert.equal(reload.code, 0, reload.stderr);
  assert.match(reload.stderr, /A: rolling reload of 2 instances[\s\S]*A: 2\/2 replaced[\s\S]*B: 2\/2 replaced/);
  const afterPids = [...(await readyPids('A')), ...(await readyPids('B'))];
  assert.equal(afterPids.length, 4);
  for (const pid of afterPids) assert.ok(!before.includes(pid), 'every instance was replaced');

  // The host table on disk now names a command that fails: the reload stops, the old instances serve on.
  const text = readFileSync(c.config, 'utf8');
  const failing = parse(text);
  failing.nodes[1].app.env = { TEST_APP_MODE: 'exit' };
  writeFileSync(c.config, stringify(failing));
  let serving = await readyPids('A');
  const failed = await runCli(['app', 'reload', '--on', 'A', '--config', c.config, '--from', 'L'], { timeoutMs: 60_000 });
  assert.equal(failed.code, 1, failed.stdout + failed.stderr);
  assert.match(failed.stderr, /reload of A failed: the replacement of A\.\d\.\d+ did not become ready: exited with code 3: test-app: told to fail at start/);
  assert.deepEqual(await readyPids('A'), serving);
  // What starts after a failed reload starts as before it: a crash of an old instance is not a crash loop.
  process.kill(serving[0]!, 'SIGKILL');
  await waitFor('its replacement, on the old command', async () => (await readyPids('A')).filter((p) => p !== serving[0]).length === 2, 10_000);
  const shown = await runCli(['app', 'status', '--config', c.config, '--from', 'L', '--on', 'A']);
  assert.match(shown.stdout, /killed by SIGKILL/, 'the last error is shown');
  serving = await readyPids('A');

  // An invalid host table on disk: refused, nothing changes.
  // (the CLI reads a valid copy; the node re-reads its own file)
  const copy = c.config.replace('hosts.yaml', 'cli.yaml');
  writeFileSync(copy, text);
  writeFileSync(c.config, text + 'bogus: 1\n');
  const invalid = await runCli(['app', 'reload', '--on', 'A', '--config', copy, '--from', 'L']);
  assert.equal(invalid.code, 1);
  assert.match(invalid.stderr, /bad_args: the host table on disk is not valid; nothing was changed: .*\n.*Unrecognized key: "bogus"/);
  assert.deepEqual(await readyPids('A'), serving);
  writeFileSync(c.config, text);

  // The operator's copy says something else than the node's: refused, nothing changes.
  const other = parse(text);
  other.nodes[1].app.env = { GREETING: 'new version' };
  writeFileSync(copy, stringify(other));
  const differs = await runCli(['app', 'reload', '--on', 'A', '--config', copy, '--from', 'L']);
  assert.equal(differs.code, 1);
  assert.match(differs.stderr, /A's host table on disk gives other app settings than yours; copy your host table to every node first/);
  assert.deepEqual(await readyPids('A'), serving);
});
