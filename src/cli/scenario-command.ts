import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { runScenario, STEP_IDS } from '../scenario/runner.ts';
import { CliError, EXIT_ERROR, EXIT_USAGE } from './common.ts';

/** Marks a folder as the scenario's own: only such a folder is wiped for a fresh run. */
const MARKER = '.cohort-scenario';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1024 || n > 63_000) throw new InvalidArgumentError('must be a whole number from 1024 to 63000');
  return n;
}

export function addScenarioCommand(program: Command): void {
  program
    .command('scenario')
    .description("start a fresh demo cluster and play seed 000's Example Transactions on it through the cohort CLI and HTTP, checking each outcome (servers D, I and E go down, D and E come back); exit 0 only when every step's outcome was right")
    .option('-d, --dir <dir>', "working folder (made fresh: one the scenario made before is wiped)", '.cohort-scenario')
    .option('--base-port <port>', "the demo cluster's first port (see cohort demo --help)", port, 11101)
    .addOption(new Option('--expect-wrong <step>', "check STEP against deliberately wrong outcomes, to see how a failing step is reported").choices(STEP_IDS))
    .option('--json', 'print the steps and their outcomes as one JSON object (progress goes to stderr)')
    .action(async (opts: { dir: string; basePort: number; expectWrong?: string; json?: boolean }) => {
      const dir = resolve(opts.dir);
      freshFolder(dir);
      const out = opts.json ? process.stderr : process.stdout;
      const result = await runScenario({ dir, basePort: opts.basePort, expectWrong: opts.expectWrong, say: (line) => out.write(`cohort scenario: ${line}\n`) });
      if (opts.json) process.stdout.write(JSON.stringify(result) + '\n');
      if (result.error) throw new CliError(`${result.error}${result.steps.length ? '' : `; see ${relative(process.cwd(), join(dir, 'logs'))}`}`, EXIT_ERROR);
      if (result.failed) throw new CliError(`step ${result.failed.n} (${result.failed.id}: ${result.failed.title}) failed: ${result.failed.detail}`, EXIT_ERROR);
      out.write(`cohort scenario: all ${result.steps.length} steps checked\n`);
    });
}

/** An empty folder, or one an earlier scenario made (then wiped); anything else is refused. */
function freshFolder(dir: string): void {
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    if (!existsSync(join(dir, MARKER))) throw new CliError(`${dir} is not empty and was not made by cohort scenario; give another --dir`, EXIT_USAGE);
    rmSync(dir, { recursive: true, force: true });
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, MARKER), 'made by cohort scenario: wiped at its next run\n');
}
