import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runCli, type CliResult } from '../harness/cli.ts';
import { freePorts } from '../harness/ports.ts';

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

const STEPS = ['setup', 'd-down', 'publish', 'i-current', 'i-down', 'h-on-j', 'h-answers', 'e-down', 'e-back', 'd-back'];

/** cohort scenario --json in `dir`, on a free block of ports (another block when one was busy). */
async function scenario(dir: string, extra: string[] = []): Promise<{ r: CliResult; result: Result }> {
  for (let attempt = 0; ; attempt++) {
    const [base] = await freePorts(1);
    const r = await runCli(['scenario', '--dir', dir, '--base-port', String(base), '--json', ...extra], { timeoutMs: 240_000 });
    const result = JSON.parse(r.stdout) as Result;
    if (result.error && /are in use/.test(result.error) && attempt < 4) continue;
    return { r, result };
  }
}

/** Processes whose command line names the folder (nodes, apps, the front) that are still running. */
function processesOf(dir: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir);
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe('cohort scenario', () => {
  const root = mkdtempSync(join(tmpdir(), 'cohort-scenario-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  it("plays seed 000's Example Transactions and checks every step's outcome (exit 0)", async () => {
    const dir = join(root, 'good');
    const { r, result } = await scenario(dir);
    assert.equal(r.code, 0, `${r.stderr}`);
    assert.equal(result.ok, true);
    assert.deepEqual(result.steps.map((s) => [s.id, s.ok]), STEPS.map((id) => [id, true]));
    for (const id of STEPS) assert.match(r.stderr, new RegExp(`step \\d+/10 ${id}: .*\\n.*ok \\(`), `progress for ${id}`);
    assert.match(r.stderr, /all 10 steps checked/);
    assert.ok(result.readySeconds > 0);
    console.log(`scenario: demo ready in ${result.readySeconds} s; ${result.steps.map((s) => `${s.id}: ${s.detail}`).join('\n  ')}`);
    assert.deepEqual(processesOf(dir), [], 'every process of the cluster stopped');
  });

  it('fails (exit 1) naming the step whose outcome is wrong, and stops the cluster', async () => {
    const dir = join(root, 'broken');
    const { r, result } = await scenario(dir, ['--expect-wrong', 'publish']);
    assert.equal(r.code, 1);
    assert.equal(result.ok, false);
    assert.deepEqual(result.steps.map((s) => [s.id, s.ok]), [['setup', true], ['d-down', true], ['publish', false]], 'the steps before it passed; none after it ran');
    assert.equal(result.failed?.id, 'publish');
    assert.match(r.stderr, /cohort: step 3 \(publish: the author publishes a new version .*\) failed: the new version: expected \d+, saw \d+/);
    assert.deepEqual(processesOf(dir), [], 'every process of the cluster stopped');
  });

  it('refuses a folder it did not make, and an unknown step (exit 2), touching nothing', async () => {
    const foreign = join(root, 'foreign');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'keep.txt'), 'mine');
    const r = await runCli(['scenario', '--dir', foreign]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /is not empty and was not made by cohort scenario/);
    assert.deepEqual(readdirSync(foreign), ['keep.txt']);
    const bad = await runCli(['scenario', '--dir', join(root, 'unused'), '--expect-wrong', 'no-such-step']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Allowed choices are setup, d-down/);
    assert.ok(!existsSync(join(root, 'unused')));
  });
});
