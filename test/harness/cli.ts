// The real `cohort` command as a process: the scenario's own runner, shared.
export { runCli, type CliResult } from '../../src/cli/run-cli.ts';
