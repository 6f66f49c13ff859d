import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { findNode, loadHostTable } from '../config/host-table.ts';
import { frontUnit, nodeUnit } from '../service/systemd-units.ts';
import { CliError, configOption, EXIT_USAGE } from './common.ts';

/** `cohort units`: systemd units for this machine's nodes and front (src/service/systemd-units.ts). */
export function addUnitsCommand(program: Command): void {
  program
    .command('units')
    .description('write systemd units for nodes of the host table and the front: restart on failure, SIGHUP to reload, sandboxed')
    .addOption(configOption())
    .option('--node <id>', 'a node this machine runs (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--front', "the front's unit too")
    .option('--user <name>', 'the account they run as', 'cohort')
    .option('--out <dir>', 'write <unit>.service files here (default: print them)')
    .action((opts: { config: string; node: string[]; front?: boolean; user: string; out?: string }) => {
      const table = loadHostTable(opts.config);
      if (!opts.node.length && !opts.front) throw new CliError('name at least one --node, or --front', EXIT_USAGE);
      if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(opts.user)) throw new CliError(`--user '${opts.user}' is not an account name`, EXIT_USAGE);
      for (const id of opts.node) findNode(table, id);
      if (opts.front && !table.front) throw new CliError(`${table.file} has no front section`, EXIT_USAGE);
      const o = { config: table.file, cluster: table.cluster, dataDir: table.dataDir, user: opts.user };
      const units: [string, string][] = [...opts.node.map((id): [string, string] => [`cohort-node-${id}.service`, nodeUnit(id, o)]), ...(opts.front ? [['cohort-front.service', frontUnit(o)] as [string, string]] : [])];
      if (!opts.out) return void process.stdout.write(units.map(([name, text]) => `# ${name}\n${text}`).join('\n'));
      mkdirSync(opts.out, { recursive: true });
      for (const [name, text] of units) writeFileSync(join(opts.out, name), text);
      process.stdout.write(`wrote ${units.map(([name]) => join(opts.out!, name)).join(', ')}\n`);
    });
}
