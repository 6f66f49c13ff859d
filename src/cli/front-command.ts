import { Option, type Command } from 'commander';
import { loadHostTable } from '../config/host-table.ts';
import { createLogger, LOG_LEVELS, type LogLevel } from '../log.ts';
import { CliError, EXIT_ERROR, EXIT_USAGE, configOption, formatTable } from './common.ts';

/** Calls the running front's admin API (its address and token come from the host table). */
async function admin(configFile: string, method: string, path: string): Promise<unknown> {
  const cfg = loadHostTable(configFile).front;
  if (!cfg) throw new CliError(`${configFile}: no 'front:' section`, EXIT_USAGE);
  if (!cfg.admin) throw new CliError("the host table's front has no 'admin:' listener to talk to", EXIT_USAGE);
  // X-Cohort-Admin: what a tokenless listener asks of a request that changes something (a page on another site cannot send it).
  const headers: Record<string, string> = { 'x-cohort-admin': '1', ...(cfg.admin.token ? { authorization: `Bearer ${cfg.admin.token}` } : {}) };
  let res: Response;
  try {
    res = await fetch(`http://${cfg.admin.host}:${cfg.admin.port}${path}`, { method, headers });
  } catch (err) {
    throw new CliError(`cannot reach the front's admin listener at ${cfg.admin.host}:${cfg.admin.port}: ${(err as Error).cause ?? (err as Error).message}`, EXIT_ERROR);
  }
  const body = (await res.json()) as { error?: string };
  if (!res.ok) throw new CliError(body.error ?? `admin API answered ${res.status}`, EXIT_ERROR);
  return body;
}

type StatusReply = { listen: string; policy: string; backends: { id: string; address: string; state: string; active: number; requests: number; errors: number; liveSessions: number; effectiveWeight: number }[] };

export function addFrontCommand(program: Command): void {
  const front = program
    .command('front')
    .description('run the HTTP front in the foreground (SIGHUP reloads the config; SIGTERM stops); subcommands talk to a running front')
    .addOption(configOption())
    .addOption(new Option('--log-level <level>', 'log level (debug logs every routing decision)').choices(LOG_LEVELS).env('COHORT_LOG_LEVEL').default('info'))
    .action(async (opts: { config: string; logLevel: LogLevel }) => {
      // SIGHUP reloads; listened for first (Node's default ends the process), taken once the front has started.
      let onHup: (() => void) | undefined;
      let hupEarly = false;
      process.on('SIGHUP', () => (onHup ? onHup() : (hupEarly = true)));
      // The front's code is loaded when a front runs, not for its subcommands (they talk to one).
      const { Front } = await import('../front/front.ts');
      const { loadFrontTable } = await import('../front/table-follower.ts');
      const { table, hash } = loadFrontTable(opts.config);
      const log = createLogger({ front: table.cluster }, opts.logLevel);
      const instance = new Front(table, log);
      instance.tableHash = hash;
      await instance.start();
      onHup = () => {
        try {
          instance.reloadFromFile();
        } catch (err) {
          log.error({ event: 'reload_rejected', err: (err as Error).message }, 'reload rejected; the running configuration is unchanged');
        }
      };
      if (hupEarly) onHup();
      await new Promise<void>((resolve) => {
        const stop = () => void instance.stop().then(resolve, resolve);
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
    });

  const sub = (name: string, description: string) => front.command(name).description(description);
  const cfgOf = (cmd: Command) => (cmd.optsWithGlobals() as { config: string }).config;

  sub('status', "the running front's back-ends: state, requests, sessions")
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const status = (await admin(cfgOf(cmd), 'GET', '/status')) as StatusReply;
      if (opts.json) return void process.stdout.write(JSON.stringify(status) + '\n');
      process.stdout.write(`front on ${status.listen}, policy ${status.policy}\n`);
      process.stdout.write(formatTable(['BACKEND', 'ADDRESS', 'STATE', 'WEIGHT', 'ACTIVE', 'REQUESTS', 'ERRORS', 'SESSIONS'],
        status.backends.map((b) => [b.id, b.address, b.state, String(b.effectiveWeight), String(b.active), String(b.requests), String(b.errors), String(b.liveSessions)])));
    });
  sub('drain', 'set back-end ID draining (DYING): only its existing sticky sessions are sent to it')
    .argument('<id>', 'back-end id')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const b = (await admin(cfgOf(cmd), 'POST', `/backends/${encodeURIComponent(id)}/drain`)) as { liveSessions: number };
      process.stdout.write(`${id} draining; ${b.liveSessions} live sessions left\n`);
    });
  sub('ready', 'take back-end ID out of draining')
    .argument('<id>', 'back-end id')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      await admin(cfgOf(cmd), 'POST', `/backends/${encodeURIComponent(id)}/ready`);
      process.stdout.write(`${id} ready\n`);
    });
  sub('reload', 'make the running front re-read the host table; an invalid one changes nothing')
    .action(async (_o: unknown, cmd: Command) => {
      const r = (await admin(cfgOf(cmd), 'POST', '/reload')) as { reloads: number };
      process.stdout.write(`reloaded (${r.reloads} reloads so far)\n`);
    });
}
