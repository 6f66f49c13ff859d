import { Option, type Command } from 'commander';
import { createLogger, LOG_LEVELS, type LogLevel } from '../log.ts';
import { configOption } from './common.ts';
import { tableToRun } from '../node/accepted-table.ts';
import { applyTestClockOffset } from '../test-clock.ts';

export function addNodeCommand(program: Command): void {
  program
    .command('node')
    .description('run one node in the foreground (JSON logs on stdout; stops cleanly on SIGTERM/SIGINT)')
    .addOption(configOption())
    .requiredOption('-i, --id <node>', 'which node of the host table this is')
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).env('COHORT_LOG_LEVEL').default('info'))
    .action(async (opts: { config: string; id: string; logLevel: LogLevel }) => {
      // SIGHUP: a newer signed host table in the file is taken, as one pushed would be (the node
      // keeps running). Listened for first (Node's default for SIGHUP ends the process); one that
      // comes while the node starts is taken once it has.
      let onHup: (() => void) | undefined;
      let hupEarly = false;
      process.on('SIGHUP', () => (onHup ? onHup() : (hupEarly = true)));
      const start = tableToRun(opts.config, opts.id);
      const clockOffsetMs = applyTestClockOffset();
      const log = createLogger({ node: opts.id }, opts.logLevel);
      if (clockOffsetMs) log.warn({ event: 'test_clock_offset', ms: clockOffsetMs }, `tests only: this node's wall clock is ${clockOffsetMs} ms off`);
      // The node's code is loaded when a node runs, not for --help or the other commands.
      const { CohortNode } = await import('../node/node.ts');
      for (const note of start.notes) log.warn({ event: 'host_table_start', note }, note);
      const node = new CohortNode(start, opts.config, opts.id, log);
      const reload = () => {
        node.hosts.reloadFile().then(
          (r) => log.info({ event: 'host_table_reload', ...r }, r.taken ? `SIGHUP: host table version ${r.version} taken` : `SIGHUP: host table version ${r.version} already held`),
          (err: Error) => log.error({ event: 'host_table_reload_failed', err: err.message }, `SIGHUP: host table not taken: ${err.message}`),
        );
      };
      await node.start();
      onHup = reload;
      if (hupEarly) reload();
      await new Promise<void>((resolve) => {
        const shutdown = (signal: string) => {
          log.info({ event: 'signal', signal }, 'stopping');
          node.stop().then(resolve, resolve);
        };
        process.once('SIGTERM', () => shutdown('SIGTERM'));
        process.once('SIGINT', () => shutdown('SIGINT'));
      });
    });
}
