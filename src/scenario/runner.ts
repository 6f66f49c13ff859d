import { Checker } from './checker.ts';
import { DemoRun } from './demo-run.ts';
import { newState, STEPS } from './steps.ts';

export interface StepResult {
  n: number;
  id: string;
  title: string;
  ok: boolean;
  ms: number;
  /** What was seen (ok), or what was wrong. */
  detail: string;
}

export interface ScenarioResult {
  ok: boolean;
  /** Seconds from starting `cohort demo` to its being ready. */
  readySeconds: number | null;
  steps: StepResult[];
  failed: StepResult | null;
  /** Set when the cluster itself could not be started or stopped. */
  error: string | null;
}

/**
 * Starts a demo cluster in `dir`, plays the steps in order and checks each outcome; the first
 * step whose outcome is wrong ends the run. The cluster is stopped in every case. `say` gets
 * the progress lines.
 */
export async function runScenario(opts: { dir: string; basePort: number; breakStep?: string; say: (line: string) => void }): Promise<ScenarioResult> {
  const { say } = opts;
  const run = new DemoRun(opts.dir);
  const result: ScenarioResult = { ok: false, readySeconds: null, steps: [], failed: null, error: null };
  // Ctrl-C or SIGTERM mid-run: the cluster is stopped before this process goes (exit 130); a
  // second signal waits for the same stop (the listeners stay, so it cannot kill us midway).
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    say('interrupted: stopping the cluster');
    void run.stop().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  say(`starting the demo cluster (cohort demo --dir ${opts.dir} --base-port ${opts.basePort})`);
  try {
    await run.start(opts.basePort);
    result.readySeconds = run.readySeconds;
    say(`the demo cluster is ready (in ${run.readySeconds} s): nodes A, E (library; B and K their backups), C, D, I, J (access, each with its app instances), the front`);
    const state = newState();
    for (const [i, step] of STEPS.entries()) {
      const n = i + 1;
      say(`step ${n}/${STEPS.length} ${step.id}: ${step.title}`);
      const started = Date.now();
      const broken = step.id === opts.breakStep;
      if (broken) say(`  broken on purpose (--break): ${step.breaks}`);
      try {
        const detail = await step.run({ run, check: new Checker(), state, broken });
        result.steps.push({ n, id: step.id, title: step.title, ok: true, ms: Date.now() - started, detail });
        say(`  ok (${((Date.now() - started) / 1000).toFixed(1)} s): ${detail}`);
      } catch (err) {
        // A StepFailure is a wrong outcome; anything else (a command that failed) is one too, said as it is.
        const detail = (err as Error).message;
        const failed = { n, id: step.id, title: step.title, ok: false, ms: Date.now() - started, detail };
        result.steps.push(failed);
        result.failed = failed;
        say(`  FAILED: ${detail}`);
        break;
      }
    }
    result.ok = result.failed === null && result.steps.length === STEPS.length;
  } catch (err) {
    result.error = (err as Error).message;
  } finally {
    say('stopping the cluster');
    await run.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return result;
}
