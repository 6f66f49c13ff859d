import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, relative, resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { initClusterCerts } from '../certs/cluster-certs.ts';
import { CohortClient } from '../client/client.ts';
import { loadHostTable, type HostTable } from '../config/host-table.ts';
import type { PeerStatus } from '../net/peer.ts';
import { spawnNodeProcess } from '../node/spawn.ts';
import { CliError, EXIT_ERROR, EXIT_USAGE, formatTable } from './common.ts';

// The cluster of seed 000's figure: library nodes A and E, access nodes C, D, I and J.
const DEMO_NODES = [
  { id: 'A', domain: 'msu', role: 'library' },
  { id: 'C', domain: 'msu', role: 'access' },
  { id: 'D', domain: 'msu', role: 'access' },
  { id: 'E', domain: 'rice', role: 'library' },
  { id: 'I', domain: 'rice', role: 'access' },
  { id: 'J', domain: 'rice', role: 'access' },
];

export function demoHostTable(basePort: number): string {
  const lines = DEMO_NODES.map(
    (n, i) =>
      `  - { id: ${n.id}, domain: ${n.domain}, role: ${n.role.padEnd(7)}, host: 127.0.0.1, linkPort: ${basePort + i}, httpPort: ${basePort + 1000 + i} }`,
  );
  return [
    '# Cohort demo cluster, written by `cohort demo`. Every node runs on this machine.',
    'cluster: demo',
    'dataDir: ./data            # node X keeps its files under dataDir/X',
    'tls: { dir: ./tls }        # cluster CA and node certificates',
    'domains: [msu, rice]',
    'nodes:',
    ...lines,
    '',
  ].join('\n');
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1024 || n > 63_000) throw new InvalidArgumentError('must be a whole number from 1024 to 63000');
  return n;
}

export function addDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('write a host table for a six-node cluster on 127.0.0.1, create its certificates, start every node, show the links; Ctrl-C stops all')
    .option('-d, --dir <dir>', 'working folder for the host table, certificates, data and logs', '.cohort-demo')
    .option('--base-port <port>', 'first link port; link ports are base..base+5, HTTP ports base+1000..', port, 7101)
    .option('--until-ready', 'stop the cluster and exit 0 as soon as every link is up')
    .action((opts: { dir: string; basePort: number; untilReady?: boolean }) => runDemo(opts));
}

async function runDemo(opts: { dir: string; basePort: number; untilReady?: boolean }): Promise<void> {
  const dir = resolve(opts.dir);
  const config = join(dir, 'hosts.yaml');
  mkdirSync(join(dir, 'logs'), { recursive: true });
  writeFileSync(config, demoHostTable(opts.basePort));
  const table = loadHostTable(config);
  const busy = (await Promise.all(table.nodes.map(async (n) => ((await isFree(n.linkPort)) ? null : n.linkPort)))).filter((p) => p !== null);
  if (busy.length) throw new CliError(`ports ${busy.join(', ')} are in use; pick others with --base-port`, EXIT_USAGE);

  const certs = initClusterCerts(table.tlsDir, table.cluster, table.nodes.map((n) => n.id));
  say(`host table ${relative(process.cwd(), config)}; certificates ${certs.created.length ? 'created' : 'reused'} in ${relative(process.cwd(), table.tlsDir)}`);

  const children = new Map<string, ChildProcess>();
  let stopping = false;
  for (const n of table.nodes) {
    const child = spawnNodeProcess(config, n.id, join(dir, 'logs', `${n.id}.log`));
    children.set(n.id, child);
    child.once('exit', (code, signal) => {
      if (!stopping) say(`node ${n.id} exited (${signal ?? `code ${code}`}); see ${relative(process.cwd(), join(dir, 'logs', `${n.id}.log`))}`);
    });
  }
  const stopAll = async () => {
    stopping = true;
    await Promise.all(
      [...children.values()].map(
        (c) =>
          new Promise<void>((res) => {
            if (c.exitCode !== null || c.signalCode !== null) return res();
            c.once('exit', () => res());
            c.kill('SIGTERM');
          }),
      ),
    );
  };
  say(`starting ${table.nodes.map((n) => `${n.id} (${n.role}, ${n.domain})`).join(', ')}`);

  const started = Date.now();
  let states = await linkStates(table);
  while (!allUp(states) && Date.now() - started < 20_000) {
    await delay(100);
    states = await linkStates(table);
  }
  process.stdout.write(formatMatrix(table, states));
  if (!allUp(states)) {
    await stopAll();
    throw new CliError(`not every link came up within 20 s; logs are in ${join(dir, 'logs')}`, EXIT_ERROR);
  }
  say(`all ${table.nodes.length * (table.nodes.length - 1)} links up in ${Date.now() - started} ms`);
  if (opts.untilReady) {
    await stopAll();
    say('stopped');
    return;
  }
  say(`try: npm run cohort -- ping E --config ${relative(process.cwd(), config)} --from C`);
  say('watching links; Ctrl-C stops the cluster');

  // Print the matrix again whenever a link changes state.
  let last = JSON.stringify(summary(states));
  const watcher = setInterval(async () => {
    const now = await linkStates(table);
    const s = JSON.stringify(summary(now));
    if (s !== last) {
      last = s;
      process.stdout.write(formatMatrix(table, now));
    }
  }, 1000);
  await new Promise<void>((res) => {
    const onSignal = () => {
      clearInterval(watcher);
      say('stopping every node');
      stopAll().then(res, res);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  say('stopped');
}

type States = Map<string, PeerStatus[] | null>;

async function linkStates(table: HostTable): Promise<States> {
  const states: States = new Map();
  await Promise.all(
    table.nodes.map(async (n) => {
      try {
        const client = await CohortClient.forNode(table, n.id, { timeoutMs: 2000 });
        try {
          const reply = (await client.call(n.id, 'peers')) as { peers: PeerStatus[] };
          states.set(n.id, reply.peers);
        } finally {
          client.close();
        }
      } catch {
        states.set(n.id, null);
      }
    }),
  );
  return states;
}

function allUp(states: States): boolean {
  return [...states.values()].every((peers) => peers !== null && peers.every((p) => p.state === 'up'));
}

function summary(states: States): Record<string, string> {
  const out: Record<string, string> = {};
  // Sorted: the map fills in whatever order the nodes answer.
  for (const [id, peers] of [...states].sort(([a], [b]) => a.localeCompare(b))) out[id] = peers ? peers.map((p) => `${p.id}:${p.state}`).join(',') : 'unreachable';
  return out;
}

export function formatMatrix(table: HostTable, states: States): string {
  const ids = table.nodes.map((n) => n.id);
  const rows = ids.map((from) => {
    const peers = states.get(from);
    return [from, ...ids.map((to) => (to === from ? '·' : peers ? (peers.find((p) => p.id === to)?.state ?? '?') : 'no node'))];
  });
  return `links (row dials column), ${new Date().toISOString()}:\n` + formatTable(['FROM', ...ids], rows);
}

function isFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });
}

function say(line: string): void {
  process.stdout.write(`cohort demo: ${line}\n`);
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
