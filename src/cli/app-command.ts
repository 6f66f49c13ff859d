import type { Command } from 'commander';
import type { CohortClient } from '../client/client.ts';
import { appSettingsDigest, appSettingsFor, findNode, type HostTable } from '../config/host-table.ts';
import type { RegistrySnapshot } from '../supervisor/registry.ts';
import { setMaintenance } from './set-maintenance.ts';
import { CliError, EXIT_ERROR, EXIT_USAGE, configOption, formatTable, fromOption, withClient } from './common.ts';

type Opts = { config: string; from: string; on?: string; all?: boolean; json?: boolean; maintenance?: boolean; message?: string };

/** The nodes an `app` subcommand is about: --on NODE, or every node that runs a pool. */
function targets(table: HostTable, opts: Opts, needOne: boolean): string[] {
  if (opts.on && opts.all) throw new CliError('give --on NODE or --all, not both', EXIT_USAGE);
  if (opts.on) {
    findNode(table, opts.on);
    if (!appSettingsFor(table, opts.on)) throw new CliError(`node ${opts.on} runs no app pool (no app: section applies to it)`, EXIT_USAGE);
    return [opts.on];
  }
  if (needOne && !opts.all) throw new CliError('name the node to reload with --on NODE, or --all', EXIT_USAGE);
  const nodes = table.nodes.filter((n) => appSettingsFor(table, n.id)).map((n) => n.id);
  if (nodes.length === 0) throw new CliError('no node of the host table runs an app pool (add an app: section)', EXIT_USAGE);
  return nodes;
}

const age = (ms: number | null) => (ms === null ? '-' : ms < 90_000 ? `${Math.round(ms / 1000)}s` : ms < 5_400_000 ? `${Math.round(ms / 60_000)}m` : `${Math.round(ms / 3_600_000)}h`);

export function formatPool(r: RegistrySnapshot, now = Date.now()): string {
  const head = `node ${r.node}: ${r.command.join(' ')}${r.problem ? `\n  PROBLEM: ${r.problem}` : ''}${r.reload.state !== 'idle' ? `\n  reload: ${r.reload.state}, ${r.reload.replaced}/${r.reload.total} replaced${r.reload.error ? ` (${r.reload.error})` : ''}` : ''}\n`;
  return head + formatTable(['INSTANCE', 'STATE', 'ADDRESS', 'PID', 'UP', 'REQUESTS', 'RESTARTS', 'SESSIONS', 'RSS', 'LAST ERROR'],
    r.instances.map((i) => [i.id, i.state === 'stopped' && i.retryAt ? `stopped (retry in ${age(Math.max(0, i.retryAt - now))})` : i.state, i.port === null ? '-' : `${i.host}:${i.port}`, String(i.pid ?? '-'), age(i.startedAt === null ? null : now - i.startedAt),
      String(i.requests), String(i.restarts), i.sessions === null ? '-' : String(i.sessions), i.rssBytes === null ? '-' : `${Math.round(i.rssBytes / 1048576)}M`, i.lastError ?? '']));
}

/** Starts a rolling reload on `node` and follows its registry until it is done or failed. */
async function reloadNode(client: CohortClient, table: HostTable, node: string, progress: (line: string) => void): Promise<RegistrySnapshot> {
  // The node reloads from its own copy of the host table; it must say the same as ours.
  const started = (await client.call(node, 'app.reload', { expect: appSettingsDigest(table, node) })) as { version: number; boot: string; instances: number };
  progress(`${node}: rolling reload of ${started.instances} instances`);
  let after = started.version;
  let shown = -1;
  for (;;) {
    const r = (await client.call(node, 'app.registry', { after, boot: started.boot, waitMs: 5000 })) as RegistrySnapshot;
    if (r.boot !== started.boot) throw new CliError(`${node} restarted during the reload`, EXIT_ERROR);
    after = r.version;
    if (r.reload.replaced !== shown) progress(`${node}: ${(shown = r.reload.replaced)}/${r.reload.total} replaced`);
    if (r.reload.state === 'done' || r.reload.state === 'failed') return r;
  }
}

/**
 * Maintenance on (returns its `at`) or, given that `at`, off again: only where the setting is
 * still the reload's own, so an operator's "on" made meanwhile stays. A node that refused or
 * failed stops the reload before it changes anything more.
 */
async function maintenance(client: CohortClient, table: HostTable, message: string, progress: (line: string) => void, offAfter?: number): Promise<number> {
  const on = offAfter === undefined;
  // "off" is at+1 over the reload's own "on": whatever order the nodes hear it in, an
  // operator's setting made meanwhile (a later at) wins over it everywhere alike.
  const at = on ? Date.now() : offAfter + 1;
  const outcomes = await setMaintenance(client, table, on, message, progress, { at, ifAt: offAfter });
  const failed = outcomes.filter((o) => o.status === 'error');
  if (failed.length) throw new CliError(`maintenance ${on ? 'on' : 'off'} failed on ${failed.map((o) => o.node).join(', ')}${on ? '; nothing was reloaded' : ''}`, EXIT_ERROR);
  const kept = outcomes.filter((o) => o.status === 'ok' && !o.applied);
  // A newer "off" where we asked for "on": that node would take new sessions during the update.
  const stillOff = kept.filter((o) => o.status === 'ok' && !o.state.on).map((o) => o.node);
  if (on && stillOff.length) throw new CliError(`maintenance stays off on ${stillOff.join(', ')} (a newer setting there); nothing was reloaded`, EXIT_ERROR);
  if (kept.length) progress(`maintenance was set again meanwhile on ${kept.map((o) => o.node).join(', ')}: left as it is`);
  return at;
}

export function addAppCommand(program: Command): void {
  const app = program.command('app').description("the app servers each node supervises (the host table's app: section)");

  app
    .command('status')
    .description('the pool of each node that runs one (or of --on NODE), as a table')
    .addOption(configOption())
    .addOption(fromOption())
    .option('--on <node>', 'only this node')
    .option('--json', 'print JSON (one registry per node)')
    .action(async (opts: Opts) => {
      let failed = 0;
      const out = await withClient(opts, async (client, table) => {
        const pools: (RegistrySnapshot | { node: string; error: string })[] = [];
        for (const node of targets(table, opts, false)) {
          try {
            pools.push((await client.call(node, 'app.registry')) as RegistrySnapshot);
          } catch (err) {
            failed++;
            pools.push({ node, error: `${(err as { code?: string }).code ?? 'error'}: ${(err as Error).message}` });
          }
        }
        return pools;
      });
      if (opts.json) process.stdout.write(JSON.stringify(out) + '\n');
      else process.stdout.write(out.map((p) => ('error' in p ? `node ${p.node}: cannot read its registry (${p.error})\n` : formatPool(p))).join('\n'));
      if (failed) process.exitCode = EXIT_ERROR;
    });

  app
    .command('reload')
    .description('rolling reload: replace each instance in turn, each replacement ready before its predecessor drains (one node after another with --all)')
    .addOption(configOption())
    .addOption(fromOption())
    .option('--on <node>', 'the node whose pool to reload')
    .option('--all', 'every node that runs a pool, one after another')
    .option('--maintenance', 'with --all: maintenance mode on for the whole cluster during the reload (seed 004: a consistent update), off once every node is done')
    .option('--message <text>', 'the maintenance page\'s message', 'This site is being updated. Please try again in a minute.')
    .option('--json', 'print the final registries as JSON')
    .action(async (opts: Opts) => {
      if (opts.maintenance && !opts.all) throw new CliError('--maintenance wraps a cluster-wide reload: use it with --all', EXIT_USAGE);
      const progress = (line: string) => process.stderr.write(`${line}\n`);
      const results = await withClient(opts, async (client, table) => {
        const nodes = targets(table, opts, true);
        const maintenanceAt = opts.maintenance ? await maintenance(client, table, opts.message!, progress) : undefined;
        const done: RegistrySnapshot[] = [];
        for (const node of nodes) {
          const r = await reloadNode(client, table, node, progress);
          done.push(r);
          // Half the cluster on the new version: maintenance stays on until the operator decides.
          if (r.reload.state === 'failed') throw new CliError(`reload of ${node} failed: ${r.reload.error}${opts.maintenance ? '; maintenance mode stays on (cohort maintenance off when the cluster is consistent)' : ''}`, EXIT_ERROR);
        }
        if (maintenanceAt !== undefined) await maintenance(client, table, '', progress, maintenanceAt);
        return done;
      });
      if (opts.json) process.stdout.write(JSON.stringify(results) + '\n');
      else process.stdout.write(results.map((r) => formatPool(r)).join('\n'));
    });
}
