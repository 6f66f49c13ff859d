import type { Command } from 'commander';
import { MAX_MESSAGE_CHARS, type MaintenanceSnapshot } from '../supervisor/maintenance.ts';
import { EXIT_ERROR, configOption, formatTable, fromOption, withClient } from './common.ts';
import { setMaintenance } from './set-maintenance.ts';

type Opts = { config: string; from: string; message?: string; json?: boolean; force?: boolean };
type NodeStatus = MaintenanceSnapshot | { node: string; error: string };

/** One line of a table cell: the message without its line breaks, cut short. */
const oneLine = (text: string, max = 60) => {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

export function formatMaintenance(rows: NodeStatus[]): string {
  return formatTable(['NODE', 'MAINTENANCE', 'SINCE', 'BY', 'MESSAGE'],
    rows.map((r) => ('error' in r
      ? [r.node, 'unreachable', '-', '-', r.error]
      : [r.node, r.state.on ? 'on' : 'off', r.state.at ? new Date(r.state.at).toISOString() : '-', r.state.by ?? '-', oneLine(r.state.message)])));
}

async function set(opts: Opts, on: boolean): Promise<void> {
  const message = opts.message ?? '';
  const progress = (line: string) => process.stderr.write(`${line}\n`);
  const outcomes = await withClient(opts, (client, table) => setMaintenance(client, table, on, message, progress, { force: opts.force }));
  if (opts.json) process.stdout.write(JSON.stringify(outcomes) + '\n');
  const count = (s: string) => outcomes.filter((o) => o.status === s).length;
  const stale = outcomes.filter((o) => o.status === 'ok' && !o.applied).length;
  if (!opts.json) process.stdout.write(`maintenance ${on ? 'on' : 'off'}: ${count('ok') - stale} nodes applied it, ${count('delayed')} get it when they are back${stale ? `, ${stale} kept a newer setting` : ''}${count('error') ? `, ${count('error')} refused it` : ''}\n`);
  // A refusal, or a newer setting that stays, means the cluster is not as asked.
  if (count('error') || stale) process.exitCode = EXIT_ERROR;
}

const FORCE_HELP = "replace a node's setting even when it is newer, if it is stamped ahead of that node's clock (a wrong clock)";

export function addMaintenanceCommand(program: Command): void {
  const maintenance = program
    .command('maintenance')
    .description('cluster-wide maintenance mode: fronts answer new sessions with a maintenance page (503); existing sessions and admins pass');

  maintenance
    .command('on')
    .description('turn maintenance mode on for every node (a critical message each: a node that is down gets it when it is back)')
    .addOption(configOption())
    .addOption(fromOption())
    .option('-m, --message <text>', `plain text for the maintenance page (at most ${MAX_MESSAGE_CHARS} characters)`)
    .option('--force', FORCE_HELP)
    .option('--json', 'print each node\'s outcome as JSON')
    .action((opts: Opts) => set(opts, true));

  maintenance
    .command('off')
    .description('turn maintenance mode off for every node')
    .addOption(configOption())
    .addOption(fromOption())
    .option('--force', FORCE_HELP)
    .option('--json', 'print each node\'s outcome as JSON')
    .action((opts: Opts) => set(opts, false));

  maintenance
    .command('status')
    .description('each node\'s copy of the setting, as a table; exit 1 when a node cannot be reached')
    .addOption(configOption())
    .addOption(fromOption())
    .option('--json', 'print JSON (one entry per node)')
    .action(async (opts: Opts) => {
      const rows = await withClient(opts, (client, table) =>
        Promise.all(table.nodes.map(async ({ id: node }): Promise<NodeStatus> => {
          try {
            return (await client.call(node, 'maintenance.get')) as MaintenanceSnapshot;
          } catch (err) {
            return { node, error: `${(err as { code?: string }).code ?? 'error'}: ${(err as Error).message}` };
          }
        })));
      if (opts.json) process.stdout.write(JSON.stringify(rows) + '\n');
      else process.stdout.write(formatMaintenance(rows));
      const seen = new Set(rows.flatMap((r) => ('error' in r ? [] : [r.state.on])));
      if (seen.size > 1) process.stderr.write('cohort: the nodes disagree (a node that was down may not have its setting yet)\n');
      if (rows.some((r) => 'error' in r)) process.exitCode = EXIT_ERROR;
    });
}
