import type { Command } from 'commander';
import { initClusterCerts } from '../certs/cluster-certs.ts';
import { loadHostTable } from '../config/host-table.ts';
import { configOption } from './common.ts';

export function addCertsCommand(program: Command): void {
  const certs = program.command('certs').description('the cluster CA and node certificates');
  certs
    .command('init')
    .description('create the cluster CA and a certificate per node (keeps existing ones unless --force)')
    .addOption(configOption())
    .option('--force', 'make everything anew, CA included')
    .action((opts: { config: string; force?: boolean }) => {
      const table = loadHostTable(opts.config);
      const result = initClusterCerts(table.tlsDir, table.cluster, table.nodes.map((n) => n.id), { force: opts.force });
      if (result.createdCa) process.stdout.write(`created cluster CA in ${table.tlsDir}\n`);
      if (result.created.length) process.stdout.write(`created certificates for ${result.created.join(', ')}\n`);
      if (result.kept.length) process.stdout.write(`kept existing certificates for ${result.kept.join(', ')}\n`);
    });
}
