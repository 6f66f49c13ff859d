import type { Command } from 'commander';
import { initClusterCerts } from '../certs/cluster-certs.ts';
import { ensureWebCertificate } from '../certs/web-certs.ts';
import { loadHostTable } from '../config/host-table.ts';
import { CliError, EXIT_USAGE, configOption } from './common.ts';

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
  certs
    .command('web')
    .description("an HTTPS certificate signed by the cluster CA, for a front's listener or a node's HTTP port (clients trust <tls dir>/ca.crt); kept while it covers the same hosts and has 30 days left")
    .argument('<name>', 'the file name: <tls dir>/web/<name>.crt and .key')
    .argument('<hosts...>', 'the DNS names and IP addresses it is for')
    .addOption(configOption())
    .option('--force', 'make it anew')
    .option('--json', 'print JSON')
    .action((name: string, hosts: string[], opts: { config: string; force?: boolean; json?: boolean }) => {
      const table = loadHostTable(opts.config);
      let made;
      try {
        made = ensureWebCertificate(table.tlsDir, name, hosts, { force: opts.force });
      } catch (err) {
        throw new CliError((err as Error).message, EXIT_USAGE);
      }
      if (opts.json) return void process.stdout.write(JSON.stringify(made) + '\n');
      process.stdout.write(`${made.created ? 'created' : 'kept'} ${made.cert} and ${made.key} (${hosts.join(', ')})\n`);
    });
}
