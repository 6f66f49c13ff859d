import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { Option, type Command } from 'commander';
import { runScenario } from '../scenario/runner.ts';
import { BREAKABLE } from '../scenario/steps.ts';
import { CliError, EXIT_ERROR, EXIT_USAGE, demoBasePort } from './common.ts';

/** A file that marks a folder as the scenario's own: only such a folder is wiped for a fresh run. */
const MARKER = '.made-by-cohort-scenario';
const MARKER_TEXT = 'made by cohort scenario: this folder is wiped at its next run\n';

export function addScenarioCommand(program: Command): void {
  program
    .command('scenario')
    .description("start a fresh demo cluster and play seed 000's Example Transactions on it through the cohort CLI and HTTP, checking each outcome (servers D, I and E go down, D and E come back); exit 0 only when every step's outcome was right")
    .option('-d, --dir <dir>', "working folder (made fresh: one the scenario made before is wiped)", '.cohort-scenario')
    .option('--base-port <port>', "the demo cluster's first port (see cohort demo --help)", demoBasePort, 11101)
    .addOption(new Option('--break <step>', `break STEP on purpose, to see the scenario catch it: ${BREAKABLE.map((b) => `${b.id} (${b.breaks})`).join(', ')}`).choices(BREAKABLE.map((b) => b.id)))
    .option('--json', 'print the steps and their outcomes as one JSON object (progress goes to stderr)')
    .action(async (opts: { dir: string; basePort: number; break?: string; json?: boolean }) => {
      const dir = resolve(opts.dir);
      freshFolder(dir);
      const out = opts.json ? process.stderr : process.stdout;
      const result = await runScenario({ dir, basePort: opts.basePort, breakStep: opts.break, say: (line) => out.write(`cohort scenario: ${line}\n`) });
      if (opts.json) process.stdout.write(JSON.stringify(result) + '\n');
      if (result.failed) throw new CliError(`step ${result.failed.n} (${result.failed.id}: ${result.failed.title}) failed: ${result.failed.detail}`, EXIT_ERROR);
      if (!result.ok) throw new CliError(`${result.error ?? 'not every step ran'}; logs are in ${relative(process.cwd(), join(dir, 'logs'))}`, EXIT_ERROR);
      out.write(`cohort scenario: all ${result.steps.length} steps checked\n`);
    });
}

/**
 * An empty folder, or one an earlier scenario made (then wiped). Anything else is refused, and
 * so is the current folder, any folder above it, and the home folder, marker or not.
 */
function freshFolder(dir: string): void {
  const cwd = process.cwd();
  if (dir === homedir() || cwd === dir || cwd.startsWith(`${dir}${sep}`) || dir === sep) throw new CliError(`${dir} holds the current folder or is the home folder: give the scenario a folder of its own with --dir`, EXIT_USAGE);
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    const marker = join(dir, MARKER);
    const made = existsSync(marker) && lstatSync(marker).isFile() && readFileSync(marker, 'utf8') === MARKER_TEXT;
    if (!made) throw new CliError(`${dir} is not empty and was not made by cohort scenario; give another --dir`, EXIT_USAGE);
    rmSync(dir, { recursive: true, force: true });
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, MARKER), MARKER_TEXT);
}
