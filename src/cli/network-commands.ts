import type { Command } from 'commander';
import type { PeerStatus } from '../net/peer.ts';
import { configOption, formatTable, fromOption, parseArgsJson, withClient } from './common.ts';

type PeersReply = { node: string; peers: (PeerStatus & { inbound: boolean })[] };

/** ping, peers, call, reconnect: the operator's way into the network through a node's local socket. */
export function addNetworkCommands(program: Command): void {
  program
    .command('ping')
    .description('send ping to NODE through the local node; exit 0 on a reply')
    .argument('<node>', 'target node id')
    .addOption(configOption())
    .addOption(fromOption())
    .action(async (node: string, opts: { config: string; from: string }) => {
      await withClient(opts, async (client) => {
        const started = process.hrtime.bigint();
        const reply = await client.ping(node);
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        process.stdout.write(`reply from ${reply.node} via ${opts.from}: ${ms.toFixed(2)} ms\n`);
      });
    });

  program
    .command('peers')
    .description("show the local node's links to its peers")
    .addOption(configOption())
    .addOption(fromOption())
    .option('--json', 'print JSON')
    .action(async (opts: { config: string; from: string; json?: boolean }) => {
      const reply = (await withClient(opts, (client) => client.call(opts.from, 'peers'))) as PeersReply;
      if (opts.json) return void process.stdout.write(JSON.stringify(reply) + '\n');
      process.stdout.write(formatPeers(reply));
    });

  program
    .command('call')
    .description('send any COMMAND to NODE and print the reply as JSON')
    .argument('<node>', 'target node id')
    .argument('<command>', 'command name, e.g. ping, load, peers')
    .argument('[args_json]', 'arguments as a JSON object')
    .addOption(configOption())
    .addOption(fromOption())
    .option('--critical', "send as a critical message: prints 'ok' and the reply, or 'delayed' and the message id")
    .action(async (node: string, command: string, argsJson: string | undefined, opts: { config: string; from: string; critical?: boolean }) => {
      const args = parseArgsJson(argsJson);
      if (opts.critical) {
        const result = await withClient(opts, (client) => client.critical(node, command, args));
        const detail = result.status === 'ok' ? JSON.stringify(result.reply ?? null) : result.id;
        return void process.stdout.write(`${result.status} ${detail}\n`);
      }
      const reply = await withClient(opts, (client) => client.call(node, command, args));
      process.stdout.write(JSON.stringify(reply ?? null) + '\n');
    });

  program
    .command('reconnect')
    .description('make the local node redial every peer that is down, now (seed: USR1)')
    .addOption(configOption())
    .addOption(fromOption())
    .action(async (opts: { config: string; from: string }) => {
      const reply = (await withClient(opts, (client) => client.call(opts.from, 'reconnect'))) as { redialed: string[] };
      process.stdout.write(reply.redialed.length ? `redialing ${reply.redialed.join(', ')}\n` : 'every link is up or being dialed\n');
    });
}

export function formatPeers(reply: PeersReply, now = Date.now()): string {
  const rows = reply.peers.map((p) => [
    p.id,
    p.state,
    `${((now - p.since) / 1000).toFixed(1)}s`,
    p.inbound ? 'yes' : 'no',
    String(p.attempts),
    p.tableVersion === undefined ? '-' : String(p.tableVersion),
    p.lastError ?? '',
  ]);
  return `links of ${reply.node}:\n` + formatTable(['PEER', 'OUT', 'FOR', 'IN', 'FAILED DIALS', 'TABLE', 'LAST ERROR'], rows);
}
