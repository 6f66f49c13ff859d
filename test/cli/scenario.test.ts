import assert from 'node:assert/strict';
import { processRunning } from '../../src/process-state.ts';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runCli, type CliResult } from '../harness/cli.ts';
import { freeDemoBase } from '../harness/ports.ts';

// `npm run scenario` (cohort scenario) on its own demo cluster: every step of seed 000's Example
// Transactions checked; a step checked against a deliberately wrong outcome fails the run,
// naming the step; the cluster is stopped in both cases.
interface Result {
  ok: boolean;
  readySeconds: number;
  steps: { n: number; id: string; ok: boolean; detail: string }[];
  failed: { n: number; id: string; detail: string } | null;
  error: string | null;
}

const STEPS = ['setup', 'd-down', 'publish', 'i-current', 'i-down', 'h-on-j', 'h-answers', 'e-down', 'g-home-down', 'e-back', 'd-back', 'l-joins', 'f-moves'];

/** cohort scenario --json in `dir`, on a free block of ports (another block when one was busy). */
async function scenario(dir: string, extra: string[] = []): Promise<{ r: CliResult; result: Result }> {
  for (let attempt = 0; ; attempt++) {
    const base = await freeDemoBase();
    const r = await runCli(['scenario', '--dir', dir, '--base-port', String(base), '--json', ...extra], { timeoutMs: 240_000 });
    const result = JSON.parse(r.stdout) as Result;
    if (result.error && /are in use/.test(result.error) && attempt < 4) continue;
    return { r, result };
  }
}

/** Running processes whose command line or environment names the folder: nodes, the front, app instances. */
function processesOf(dir: string): number[] {
  const mine = (pid: string) => {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir) || readFileSync(`/proc/${pid}/environ`, 'utf8').includes(dir)) return processRunning(Number(pid));
    } catch {
      // gone, or not ours to read
    }
    return false;
  };
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid && mine(p)).map(Number);
}

describe('cohort scenario', () => {
  const root = mkdtempSync(join(tmpdir(), 'cohort-scenario-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  // One run shows both: the first four steps pass with every outcome checked, and the fifth,
  // broken on purpose (--break i-down: server I is left running), fails by its own check, named.
  // CI runs `npm run scenario` as README gives it, unbroken: all thirteen steps must pass there.
  it("plays seed 000's Example Transactions checking each outcome, and fails (exit 1) naming a step broken on purpose; the cluster is stopped", async () => {
    const dir = join(root, 'run');
    const { r, result } = await scenario(dir, ['--break', 'i-down']);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(result.ok, false);
    assert.deepEqual(result.steps.map((s) => [s.id, s.ok]), STEPS.slice(0, 5).map((id) => [id, id !== 'i-down']), `failed: ${JSON.stringify(result.failed)}\n${r.stderr}`);
    for (const id of STEPS.slice(0, 4)) assert.match(r.stderr, new RegExp(`step \\d+/${STEPS.length} ${id}: .*\\n.*ok \\(`), `progress for ${id}`);
    assert.equal(result.failed?.id, 'i-down');
    assert.match(r.stderr, /broken on purpose \(--break\): I is left running/);
    assert.match(r.stderr, /cohort: step 5 \(i-down: server I goes offline; learner H cannot reach it\) failed: H's requests to I's app instances and its own port: expected \["refused","refused","refused"\], saw \["answered 200","answered 200","answered 404"\]/);
    assert.ok(result.readySeconds > 0, 'the demo said how long it took to be ready');
    console.log(`scenario: demo ready in ${result.readySeconds} s; ${result.steps.map((s) => `${s.id}: ${s.detail}`).join('\n  ')}`);
    assert.deepEqual(processesOf(dir), [], 'every process of the cluster stopped');
  });

  it('refuses a folder it did not make, the current folder, and a step that cannot be broken (exit 2), touching nothing', async () => {
    const foreign = join(root, 'foreign');
    mkdirSync(join(foreign, '.cohort-scenario'), { recursive: true });
    writeFileSync(join(foreign, 'keep.txt'), 'mine');
    const r = await runCli(['scenario', '--dir', foreign]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /is not empty and was not made by cohort scenario/);
    assert.deepEqual(readdirSync(foreign).sort(), ['.cohort-scenario', 'keep.txt']);
    const here = await runCli(['scenario', '--dir', '.']);
    assert.equal(here.code, 2);
    assert.match(here.stderr, /holds the current folder/);
    const bad = await runCli(['scenario', '--dir', join(root, 'unused'), '--break', 'h-answers']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Allowed choices are d-down, i-down, e-down, e-back, d-back/);
    assert.ok(!existsSync(join(root, 'unused')));
  });
});
