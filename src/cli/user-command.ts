import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import type { Command } from 'commander';
import { findNode, loadHostTable } from '../config/host-table.ts';
import { CliError, EXIT_USAGE, configOption, fromOption, withClient } from './common.ts';

/** Reads the password from a prompt (no echo) on a terminal, or the first line of stdin otherwise. */
async function readPassword(prompt: string): Promise<string> {
  if (process.stdin.isTTY) {
    const muted = new Writable({ write: (_chunk, _enc, done) => done() });
    process.stderr.write(prompt);
    const rl = createInterface({ input: process.stdin, output: muted, terminal: true });
    const line = await new Promise<string>((resolve) => rl.once('line', resolve));
    rl.close();
    process.stderr.write('\n');
    return line;
  }
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  return text.split(/\r?\n/)[0];
}

export function addUserCommand(program: Command): void {
  const user = program.command('user').description("users: created on their home library node");
  user
    .command('add')
    .description('create user NAME in DOMAIN with home node HOME; the password comes from stdin or a prompt, never the command line')
    .argument('<name>', 'user name')
    .requiredOption('--domain <domain>', 'her domain')
    .requiredOption('--home <node>', 'her home: a library node of the domain')
    .addOption(configOption())
    .option('-f, --from <node>', 'the node whose local socket to use (default: the home node)')
    .action(async (name: string, opts: { domain: string; home: string; config: string; from?: string }) => {
      const table = loadHostTable(opts.config);
      findNode(table, opts.home);
      const password = await readPassword(`password for ${name}@${opts.domain}: `);
      if (!password) throw new CliError('no password given (type it at the prompt or pipe it on stdin)', EXIT_USAGE);
      await withClient({ config: opts.config, from: opts.from ?? opts.home }, (client) => client.auth.addUser({ domain: opts.domain, user: name }, opts.home, password));
      process.stdout.write(`created ${name}@${opts.domain} on ${opts.home}\n`);
    });
  user
    .command('move')
    .description("move user NAME of DOMAIN to library node TO of her domain: her records are copied there and her home switched, her writes waiting meanwhile (none is lost). Exit 1 when TO has not taken her yet: her home finishes the move by itself once it does")
    .argument('<name>', 'user name')
    .requiredOption('--domain <domain>', 'her domain')
    .requiredOption('--to <node>', 'her new home: another library node of the domain')
    .addOption(configOption())
    .addOption(fromOption())
    .option('--json', 'print the outcome as JSON')
    .action(async (name: string, opts: { domain: string; to: string; config: string; from: string; json?: boolean }) => {
      const table = loadHostTable(opts.config);
      const to = table.nodes.find((n) => n.id === opts.to);
      if (!to || to.role !== 'library' || to.domain !== opts.domain) throw new CliError(`--to must be a library node of domain '${opts.domain}', not '${opts.to}'`, EXIT_USAGE);
      const reply = await withClient(opts, (client) => client.auth.moveUser({ domain: opts.domain, user: name }, opts.to));
      process.stdout.write(opts.json ? `${JSON.stringify(reply)}\n` : `${name}@${opts.domain} moved from ${reply.from} to ${reply.to} (${reply.rows} rows)\n`);
    });
  user
    .command('passwd')
    .description("set a new password for user NAME of DOMAIN, on her home; it comes from stdin or a prompt. Refused (exit 1) while her home's backup is out of step")
    .argument('<name>', 'user name')
    .requiredOption('--domain <domain>', 'her domain')
    .addOption(configOption())
    .addOption(fromOption())
    .action(async (name: string, opts: { domain: string; config: string; from: string }) => {
      const password = await readPassword(`new password for ${name}@${opts.domain}: `);
      if (!password) throw new CliError('no password given (type it at the prompt or pipe it on stdin)', EXIT_USAGE);
      const reply = await withClient(opts, (client) => client.auth.resetPassword({ domain: opts.domain, user: name }, password));
      process.stdout.write(`password of ${name}@${opts.domain} set on ${reply.home}\n`);
    });
}
