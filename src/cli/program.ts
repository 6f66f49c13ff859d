// The `cohort` command line: its subcommands, and how an error ends it (exit codes: common.ts).
import { Command, CommanderError } from 'commander';
import { addAppCommand } from './app-command.ts';
import { addHostsCommand } from './hosts-command.ts';
import { addUnitsCommand } from './units-command.ts';
import { addCertsCommand } from './certs-command.ts';
import { addDemoCommand } from './demo.ts';
import { addDoctorCommand } from './doctor-command.ts';
import { addNetworkCommands } from './network-commands.ts';
import { addFrontCommand } from './front-command.ts';
import { addHomesCommand } from './homes-command.ts';
import { addMaintenanceCommand } from './maintenance-command.ts';
import { addNodeCommand } from './node-command.ts';
import { addOutboxCommand } from './outbox-command.ts';
import { addResourceCommands } from './resources-command.ts';
import { addScenarioCommand } from './scenario-command.ts';
import { addUserCommand } from './user-command.ts';
import { EXIT_USAGE, reportError } from './common.ts';

const program = new Command('cohort')
  .description('Run one web application across many inexpensive servers')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

addDemoCommand(program);
addNodeCommand(program);
addCertsCommand(program);
addHostsCommand(program);
addUnitsCommand(program);
addNetworkCommands(program);
addOutboxCommand(program);
addUserCommand(program);
addHomesCommand(program);
addFrontCommand(program);
addAppCommand(program);
addMaintenanceCommand(program);
addResourceCommands(program);
addDoctorCommand(program);
addScenarioCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // --help and --version end here with exit code 0; usage errors were already printed.
    process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
  } else {
    process.exitCode = reportError(err);
  }
}
