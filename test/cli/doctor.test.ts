import assert from 'node:assert/strict';
import { appendFileSync, existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import type { Row } from '../../src/admin/doctor.ts';
import type { RegistrySnapshot } from '../../src/supervisor/registry.ts';
import { runCli } from '../harness/cli.ts';
import { TestCluster } from '../harness/cluster.ts';
import { freePortRange } from '../harness/ports.ts';
import { waitFor } from '../harness/wait.ts';

const TEST_APP = fileURLToPath(new URL('../harness/test-app.ts', import.meta.url));
let cluster: TestCluster | undefined;
after(async () => cluster?.destroy());

type Report = { nodes: string[]; rows: Row[]; summary: Record<string, number> };
const rowsOf = (r: Report, check: string, node: string) => r.rows.filter((x) => x.check.startsWith(check) && x.node === node);

test('cohort doctor: healthy, a killed app instance, a down link, a growing outbox', async () => {
  const basePort = await freePortRange(10);
  // Long redial back-off: a link that went down stays down until someone redials it.
  const c = (cluster = await TestCluster.create([
    { id: 'L', role: 'library' },
    { id: 'M', role: 'library' }, // L's backup, and L M's (issue 27)
    // Slow start (1.5 s): a killed instance stays missing long enough for the doctor to see it.
    { id: 'A', voter: true, app: { command: [process.execPath, TEST_APP], instances: 2, basePort, portSpan: 10, env: { TEST_APP_MODE: 'slow-start' }, health: { intervalMs: 200, timeoutMs: 200 }, startTimeoutMs: 5000 } },
    { id: 'B', proxied: true },
  ], { link: { backoffMinMs: 20_000, backoffMaxMs: 60_000 } }));
  await c.startAll();
  const registry = async () => (await (await c.client('A')).call('A', 'app.registry')) as RegistrySnapshot;
  const ready = async () => (await registry()).instances.filter((i) => i.state === 'ready');
  await waitFor('A\'s two instances ready', async () => (await ready()).length === 2);
  await waitFor('every link up', () => c.linksUp());
  const inStep = async (id: string) => ((await (await c.client(id)).call(id, 'home.backup', {})) as { home: { inSync: boolean } }).home.inSync;
  await waitFor('L and M each in step with its backup', async () => (await inStep('L')) && (await inStep('M')));
  const doctor = async (...args: string[]) => {
    // Free disk is the machine's, not the test's: its bounds are off here (the unit tests cover them).
    const r = await runCli(['doctor', '--config', c.config, '--json', '--min-free-mb', '0', '--min-free-pct', '0', ...args], { timeoutMs: 30_000 });
    assert.ok(r.code === 0 || r.code === 1, `exit ${r.code}: ${r.stderr}`);
    return { code: r.code, stderr: r.stderr, report: JSON.parse(r.stdout) as Report };
  };

  // (a) All healthy: every node whose socket is here, exit 0. The table form says the same.
  const healthy = await doctor();
  assert.equal(healthy.code, 0, JSON.stringify(healthy.report.rows, null, 1));
  assert.deepEqual(healthy.report.nodes, ['L', 'M', 'A', 'B']);
  assert.match(rowsOf(healthy.report, 'home backup', 'L')[0].detail, /^M in step/);
  assert.match(rowsOf(healthy.report, 'home lease', 'L')[0].detail, /^held at epoch [1-9]\d* \([23] of 3 voters answered\)$/, 'voters L, M and A');
  assert.deepEqual(rowsOf(healthy.report, 'home backup', 'A'), [], 'an access node is no home');
  assert.equal(healthy.report.summary.warn + healthy.report.summary.fail + healthy.report.summary.repaired, 0);
  for (const check of ['node', 'parts', 'links', 'outbox', 'disk', 'cert']) assert.ok(rowsOf(healthy.report, check, 'B').length > 0, check);
  assert.match(rowsOf(healthy.report, 'apps', 'A')[0].detail, /2\/2 instances ready/);
  appendFileSync(c.logFile('L'), `${'x'.repeat(99)}\n`.repeat(40)); // past the 1 KiB bound below
  const table = await runCli(['doctor', '--config', c.config, '--from', 'L', '--max-log-mb', '0.001', '--min-free-mb', '0', '--min-free-pct', '0']);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^CHECK +NODE +STATUS +DETAIL\n/);
  assert.match(table.stdout, /log +L +repaired +.*L\.log: .*rotated to/);
  assert.match(table.stderr, /doctor: L: rotating/);
  assert.ok(existsSync(`${c.logFile('L')}.1`) && statSync(c.logFile('L')).size < statSync(`${c.logFile('L')}.1`).size);
  assert.equal((await runCli(['doctor', '--config', c.config, '--from', 'nobody'])).code, 2);

  // (b) kill -9 an app instance: the doctor sees the slot missing and waits for the supervisor's replacement.
  const victim = (await ready())[0];
  process.kill(victim.pid!, 'SIGKILL');
  const killed = await doctor('--from', 'A');
  const apps = rowsOf(killed.report, 'apps', 'A');
  assert.equal(apps.length, 1);
  assert.equal(apps[0].status, 'repaired', apps[0].detail);
  assert.match(apps[0].detail, new RegExp(`slot ${victim.slot}.*killed by SIGKILL`));
  assert.match(apps[0].detail, /2\/2 (instances )?ready/, 'back to two ready (waited for, or already replaced when the doctor looked)');
  assert.equal(killed.code, 0, JSON.stringify(killed.report.rows, null, 1));
  assert.equal((await ready()).length, 2);
  // Run again (report only): the replacement is shown as the supervisor's repair, for a while.
  const later = rowsOf((await doctor('--from', 'A', '--no-repair')).report, 'apps', 'A')[0];
  assert.equal(later.status, 'repaired');
  assert.match(later.detail, new RegExp(`2/2 instances ready; slot ${victim.slot}: killed by SIGKILL; A\\.${victim.slot}\\.\\d+ took its place \\d+ s ago`));

  // (c) A's link to B down (B's proxy refuses, the open link is cut): a redial fails while B is unreachable...
  c.proxy('B').refuse(true);
  c.proxy('B').cut();
  await waitFor('A sees its link to B down', async () => (await c.peers('A')).find((p) => p.id === 'B')!.state === 'down');
  const down = await doctor('--from', 'A');
  assert.equal(down.code, 1);
  const link = rowsOf(down.report, 'link', 'A');
  assert.equal(link.length, 1);
  assert.equal(link[0].status, 'fail');
  assert.match(link[0].detail, /link to B down.*still down after a redial/);
  // ...and once B is reachable again the doctor's redial brings it up (A alone would wait out its back-off).
  c.proxy('B').refuse(false);
  const back = await doctor('--from', 'A', '--from', 'L');
  assert.equal(back.code, 0, JSON.stringify(back.report.rows, null, 1));
  assert.match(back.stderr, /doctor: A: link to B down.*redialing/);
  assert.deepEqual(rowsOf(back.report, 'link', 'A').map((r) => [r.status, r.detail]), [['repaired', 'link to B was down; redialed, up again']]);
  assert.equal((await c.peers('A')).find((p) => p.id === 'B')!.state, 'up');

  // (d) B killed, critical messages to it keep coming: A's outbox grows, the doctor warns, exit 1.
  await c.kill('B');
  const client = await c.client('A');
  // And one message L rejects for good: a dead letter on A.
  await assert.rejects(client.critical('L', 'no.such.command', {}), { code: 'unknown_cmd' });
  let n = 0;
  const sending = setInterval(() => {
    for (let i = 0; i < 5; i++) void client.critical('B', 'journal.append', { stream: 'doctor', entry: { n: ++n } }).catch(() => {});
  }, 50);
  try {
    await waitFor('messages queued for B', async () => n > 20);
    const growing = await doctor('--from', 'A', '--no-repair');
    assert.equal(growing.code, 1);
    const outbox = rowsOf(growing.report, 'outbox', 'A');
    assert.equal(outbox.length, 1);
    assert.equal(outbox[0].status, 'warn');
    assert.match(outbox[0].detail, /^to B growing: depth (\d+) -> (\d+) in \d\.\d s, link down/);
    const [, d1, d2] = /depth (\d+) -> (\d+)/.exec(outbox[0].detail)!;
    assert.ok(Number(d2) > Number(d1));
    assert.equal(rowsOf(growing.report, 'link', 'A')[0].status, 'fail');
    assert.deepEqual(rowsOf(growing.report, 'dead letters', 'A').map((r) => [r.status, r.detail]), [['warn', '1 dead letter (cohort outbox --dead; retry or drop them)']]);
  } finally {
    clearInterval(sending);
  }
});
