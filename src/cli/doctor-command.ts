import { existsSync } from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { CohortClient } from '../client/client.ts';
import { findNode, loadHostTable, localSocketPath, type HostTable } from '../config/host-table.ts';
import { checkHostTable, checkMembership } from '../admin/membership-checks.ts';
import { checkApps, checkHome, checkLinks, checkOutbox, checkParts, checkResources, type DoctorOptions, type Row, type Status } from '../admin/doctor.ts';
import { checkCerts, checkDisk, checkLogs, type HostLimits } from '../admin/host-checks.ts';
import { CliError, EXIT_ERROR, EXIT_USAGE, configOption, formatTable } from './common.ts';
import { errorText } from '../errors.ts';

type Opts = {
  config: string;
  from?: string[];
  json?: boolean;
  repair: boolean;
  minFreePct: number;
  minFreeMb: number;
  maxDataMb: number;
  maxLogMb: number;
  certDays: number;
  logDir: string[];
};

function number(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a number, 0 or more');
  return n;
}
const collect = (value: string, previous: string[] = []) => [...previous, value];

/** --from, or every node of the host table whose local socket is on this machine. */
function nodesToCheck(table: HostTable, from: string[] | undefined): string[] {
  if (from?.length) return from.map((id) => findNode(table, id).id);
  const here = table.nodes.filter((n) => existsSync(localSocketPath(table, n.id))).map((n) => n.id);
  if (here.length === 0) throw new CliError(`no node of ${table.file} has its local socket on this machine; name one with --from NODE`, EXIT_USAGE);
  return here;
}

/** All checks of one node: its network side through its local socket, then this machine's side. */
async function doctorNode(table: HostTable, node: string, net: DoctorOptions, host: HostLimits): Promise<Row[]> {
  const rows: Row[] = [];
  let client: CohortClient | undefined;
  try {
    client = await CohortClient.forNode(table, node, { timeoutMs: 10_000 });
    await client.ping(node);
    rows.push({ check: 'node', node, status: 'ok', detail: `answers on ${localSocketPath(table, node)}` });
  } catch (err) {
    client?.close();
    client = undefined;
    rows.push({ check: 'node', node, status: 'fail', detail: `does not answer on its local socket (${errorText(err)}); start it: cohort node --config ${table.file} --id ${node}` });
  }
  if (client) {
    try {
      for (const check of [() => checkParts(client!, node), () => checkLinks(client!, node, net), () => checkApps(client!, table, node, net), () => checkOutbox(client!, node, net), () => checkResources(client!, node), () => checkHome(client!, table, node), () => checkHostTable(client!, node), () => checkMembership(client!, table, node)]) {
        try {
          rows.push(...(await check()));
        } catch (err) {
          rows.push({ check: 'node', node, status: 'fail', detail: `a check failed: ${errorText(err)}` });
        }
      }
    } finally {
      client.close();
    }
  }
  // A host check that throws (a folder not ours to read, a file gone meanwhile) is its own failed row, not the end of the run.
  for (const [check, run] of [['disk', checkDisk], ['log', checkLogs], ['cert', checkCerts]] as const) {
    try {
      rows.push(...run(table, node, host));
    } catch (err) {
      rows.push({ check, node, status: 'fail', detail: `the check failed: ${errorText(err)}` });
    }
  }
  return rows;
}

export function addDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description("check this machine's nodes (seed 000's loncron): node, links, app instances, outboxes, disk, logs, certificates; repair what is safe; exit 1 if anything is left (for cron)")
    .addOption(configOption())
    .addOption(new Option('-f, --from <node>', 'a node to check (repeatable; default: every node whose local socket is on this machine)').env('COHORT_NODE').argParser(collect))
    .option('--json', 'print one JSON object: rows and summary')
    .option('--no-repair', 'report only: no redial, no waiting for app instances, no log rotation')
    .option('--min-free-pct <pct>', 'warn below this share of free disk under a data folder (fail below half)', number, 10)
    .option('--min-free-mb <mb>', 'warn below this much free disk (fail below half)', number, 1024)
    .option('--max-data-mb <mb>', 'warn when a node\'s data folder is larger (0: no bound)', number, 0)
    .option('--max-log-mb <mb>', 'rotate (or, with --no-repair, warn about) a node log larger than this', number, 100)
    .option('--cert-days <days>', 'warn when a certificate expires within this many days', number, 30)
    .option('--log-dir <dir>', 'another folder with <node>.log files (repeatable)', collect, [])
    .action(async (opts: Opts) => {
      const table = loadHostTable(opts.config);
      const nodes = nodesToCheck(table, opts.from);
      const progress = (line: string) => process.stderr.write(`doctor: ${line}\n`);
      const net: DoctorOptions = { repair: opts.repair, progress, linkWaitMs: 3000, appWaitMs: 10_000, outboxSampleMs: 1000 };
      const host: HostLimits = { repair: opts.repair, progress, minFreePct: opts.minFreePct, minFreeMb: opts.minFreeMb, maxDataMb: opts.maxDataMb, maxLogMb: opts.maxLogMb, certDays: opts.certDays, logDirs: opts.logDir };
      // Nodes one after another: their repairs wait, and a machine has few nodes.
      const rows: Row[] = [];
      for (const node of nodes) rows.push(...(await doctorNode(table, node, net, host)));
      const summary: Record<Status, number> = { ok: 0, repaired: 0, warn: 0, fail: 0 };
      for (const r of rows) summary[r.status]++;
      if (opts.json) process.stdout.write(JSON.stringify({ nodes, rows, summary }) + '\n');
      else {
        process.stdout.write(formatTable(['CHECK', 'NODE', 'STATUS', 'DETAIL'], rows.map((r) => [r.check, r.node, r.status, r.detail])));
        process.stdout.write(`${summary.ok} ok, ${summary.repaired} repaired, ${summary.warn} warnings, ${summary.fail} failures\n`);
      }
      if (summary.warn + summary.fail > 0) process.exitCode = EXIT_ERROR;
    });
}
