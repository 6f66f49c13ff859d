import { InvalidArgumentError, type Command } from 'commander';
import type { OutboxPeerStatus } from '../critical/critical-service.ts';
import type { DeadLetter } from '../critical/outbox-store.ts';
import { configOption, formatTable, fromOption, withClient } from './common.ts';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive whole number');
  return n;
}

export function addOutboxCommand(program: Command): void {
  const outbox = program
    .command('outbox')
    .description("the local node's critical messages waiting per peer; --dead lists the dead letters")
    .addOption(configOption())
    .addOption(fromOption())
    .option('--dead', 'list dead letters: messages a peer rejected for good')
    .option('--json', 'print JSON')
    .action(async (opts: { config: string; from: string; dead?: boolean; json?: boolean }) => {
      if (opts.dead) {
        const { dead } = (await withClient(opts, (c) => c.call(opts.from, 'outbox.dead'))) as { dead: DeadLetter[] };
        if (opts.json) return void process.stdout.write(JSON.stringify(dead) + '\n');
        const rows = dead.map((d) => [String(d.seq), d.peer, d.cmd, d.code, new Date(d.failedAt).toISOString(), d.reason]);
        return void process.stdout.write(rows.length ? formatTable(['ID', 'PEER', 'COMMAND', 'CODE', 'FAILED AT', 'REASON'], rows) : 'no dead letters\n');
      }
      const status = (await withClient(opts, (c) => c.call(opts.from, 'outbox.status'))) as { peers: OutboxPeerStatus[]; dead: number };
      if (opts.json) return void process.stdout.write(JSON.stringify(status) + '\n');
      const rows = status.peers.map((p) => [
        p.peer,
        p.link,
        String(p.depth),
        String(p.inFlight),
        p.oldestAgeMs === null ? '-' : `${(p.oldestAgeMs / 1000).toFixed(1)}s`,
        String(p.delivered),
      ]);
      process.stdout.write(formatTable(['PEER', 'LINK', 'DEPTH', 'IN FLIGHT', 'OLDEST', 'DELIVERED'], rows));
      process.stdout.write(`dead letters: ${status.dead}\n`);
    });
  outbox
    .command('retry')
    .description('queue dead letter ID again (at the tail, as a new message)')
    .argument('<id>', 'dead letter id (from `cohort outbox --dead`)', positiveInt)
    // --config and --from belong to `outbox` and are read from there.
    .action(async (id: number, _opts: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals() as { config: string; from: string };
      const reply = (await withClient(opts, (c) => c.call(opts.from, 'outbox.retry', { id }))) as { requeued: string; peer: string };
      process.stdout.write(`dead letter ${id} queued again for ${reply.peer} as ${reply.requeued}\n`);
    });
}
