import { DEMO_LEARNER, DEMO_RESOURCE, DEMO_USER, DEMO_USERS, ensureDemoResources } from './demo-content.ts';
import { setTimeout as delay } from 'node:timers/promises';
import { DEMO_FRONT_CERT, DEMO_INSTANCES, demoHostTable, demoPorts } from './demo-host-table.ts';
import { allUp, formatMatrix, linkStates, linksUp, summary } from './link-matrix.ts';
import { lastErrors } from './log-tail.ts';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { initClusterCerts } from '../certs/cluster-certs.ts';
import { makeOperatorKey, signatureFile, signTable } from '../config/signed-table.ts';
import { ensureWebCertificate } from '../certs/web-certs.ts';
import { trustClusterCa } from '../net/cluster-trust.ts';
import { CohortClient } from '../client/client.ts';
import { loadHostTable, type HostTable } from '../config/host-table.ts';
import { CLI_PATH, spawnLogged, spawnNodeProcess } from '../node/spawn.ts';
import { AcceptedTableFile } from '../node/accepted-table.ts';
import { parse as parseYaml } from 'yaml';
import { CliError, EXIT_ERROR, EXIT_USAGE, demoBasePort } from './common.ts';

/** How long the links, and then the app instances behind the front, may take: a loaded machine starts eight nodes slowly. */
const READY_WAIT_MS = 60_000;

export function addDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('write a host table for an eight-node cluster on 127.0.0.1, create its certificates, start every node (each access node supervises two instances of an example app) and the HTTP front before them, show the links; Ctrl-C stops all')
    .option('-d, --dir <dir>', 'working folder for the host table, certificates, data and logs', '.cohort-demo')
    .option('--base-port <port>', 'first link port; link ports are base..base+5, node HTTP ports base+1000.., app instances base+1100.., the front base+2000 (HTTPS; admin base+2001, plain HTTP redirecting base+2002)', demoBasePort, 7101)
    .option('--until-ready', 'stop everything and exit 0 as soon as every link is up and a request went through the front')
    .action((opts: { dir: string; basePort: number; untilReady?: boolean }) => runDemo(opts));
}

async function runDemo(opts: { dir: string; basePort: number; untilReady?: boolean }): Promise<void> {
  const dir = resolve(opts.dir);
  const config = join(dir, 'hosts.yaml');
  mkdirSync(join(dir, 'logs'), { recursive: true });
  // A version past any a node of an earlier run in this folder accepted (each run's table has new secrets).
  const text = demoHostTable(opts.basePort, acceptedBefore(join(dir, 'data')) + 1);
  writeFileSync(config, text);
  const table = loadHostTable(config);
  // The operator's key (issue 28): the table is signed, so \`cohort hosts add\` and the rest change it while the demo runs.
  const operator = makeOperatorKey(table.tlsDir);
  writeFileSync(signatureFile(config), `${signTable(text, operator.privateKey).signature}\n`);
  const ports = demoPorts(opts.basePort);
  // App instances skip a taken port by themselves; the ports the host table fixes must be free.
  const wanted = [...ports.links, ...ports.http, ports.front, ports.admin, ports.redirect];
  const busy = (await Promise.all(wanted.map(async (p) => ((await isFree(p)) ? null : p)))).filter((p) => p !== null);
  if (busy.length) throw new CliError(`ports ${busy.join(', ')} are in use; pick others with --base-port`, EXIT_USAGE);

  const certs = initClusterCerts(table.tlsDir, table.cluster, table.nodes.map((n) => n.id));
  const web = ensureWebCertificate(table.tlsDir, DEMO_FRONT_CERT.name, DEMO_FRONT_CERT.hosts);
  say(`host table ${relative(process.cwd(), config)}; certificates ${certs.created.length || web.created ? 'created' : 'reused'} in ${relative(process.cwd(), table.tlsDir)}`);
  // This process's own requests to the front (the first one, the readiness checks) trust the cluster CA.
  await trustClusterCa(table.tlsDir);

  // Started in this order, stopped in the reverse one: nodes (with their app instances), the front.
  const children: { name: string; child: ChildProcess }[] = [];
  let stopping = false;
  const watch = (name: string, child: ChildProcess, log: string) => {
    children.push({ name, child });
    if (stopping) child.kill('SIGTERM'); // started while everything stops (a signal during bring-up)
    child.once('exit', (code, signal) => {
      if (!stopping) say(`${name} exited (${signal ?? `code ${code}`}); see ${relative(process.cwd(), log)}${lastErrors(log)}`);
    });
  };
  const stopAll = async () => {
    stopping = true;
    for (const { child } of [...children].reverse()) {
      await new Promise<void>((res) => {
        if (child.exitCode !== null || child.signalCode !== null) return res();
        child.once('exit', () => res());
        child.kill('SIGTERM');
      });
    }
  };
  // From the first child on, Ctrl-C or SIGTERM stops all of them, also while the cluster comes up;
  // a second signal changes nothing (the listeners stay, so it does not kill this process midway).
  const signalled = new Promise<'signal'>((res) => {
    const onSignal = () => res('signal');
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  for (const n of table.nodes) {
    const log = join(dir, 'logs', `${n.id}.log`);
    watch(`node ${n.id}`, spawnNodeProcess(config, n.id, log), log);
  }
  say(`starting ${table.nodes.map((n) => `${n.id} (${n.role}, ${n.domain})`).join(', ')}`);

  let outcome: 'ready' | 'signal';
  try {
    const up = bringUp(table, dir, config, watch, () => stopping);
    up.catch(() => {}); // once a signal won the race, what bringUp says as it winds down is moot
    outcome = await Promise.race([up, signalled]);
  } catch (err) {
    await stopAll();
    throw err;
  }
  if (outcome === 'signal') {
    say('interrupted: stopping the front and every node');
    await stopAll();
    say('stopped');
    process.exitCode = 130;
    return;
  }
  if (opts.untilReady) {
    await stopAll();
    say('stopped');
    return;
  }
  printTryLines(table, config);
  say('watching links; Ctrl-C stops the cluster');

  // Print the matrix again whenever a link changes state.
  let last = '';
  const watcher = setInterval(async () => {
    const now = await linkStates(table);
    const s = JSON.stringify(summary(now));
    if (last && s !== last) process.stdout.write(formatMatrix(table, now));
    last = s;
  }, 1000);
  await signalled;
  clearInterval(watcher);
  say('stopping the front and every node (each stops its app instances)');
  await stopAll();
  say('stopped');
}

/** Links up, demo users and pages, the front before every app instance, one request through it; throws if any fails. */
async function bringUp(table: HostTable, dir: string, config: string, watch: (name: string, child: ChildProcess, log: string) => void, stopping: () => boolean): Promise<'ready'> {
  const started = Date.now();
  const links = table.nodes.length * (table.nodes.length - 1);
  let states = await linkStates(table);
  let told = started;
  // A poll every half second: each opens a connection to every node, which is load on nodes that are starting.
  while (!allUp(states) && Date.now() - started < READY_WAIT_MS && !stopping()) {
    await delay(500);
    states = await linkStates(table);
    if (Date.now() - told >= 5000) {
      told = Date.now();
      say(`waiting for links: ${linksUp(states)} of ${links} up after ${Math.round((told - started) / 1000)} s`);
    }
  }
  process.stdout.write(formatMatrix(table, states));
  if (!allUp(states)) throw new CliError(`not every link came up within ${READY_WAIT_MS / 1000} s; logs are in ${join(dir, 'logs')}`, EXIT_ERROR);
  say(`all ${links} links up in ${Date.now() - started} ms`);
  for (const u of DEMO_USERS) say(await ensureDemoUser(table, u));
  for (const line of await ensureDemoResources(table, dir)) say(line);
  if (stopping()) throw new CliError('interrupted', EXIT_ERROR);

  // Each access node supervises its app instances; the front follows their registries.
  const access = table.nodes.filter((n) => n.role === 'access');
  const frontLog = join(dir, 'logs', 'front.log');
  watch('the front', spawnLogged([CLI_PATH, 'front', '--config', config], frontLog), frontLog);
  const front = table.front!;
  const frontUrl = `https://127.0.0.1:${front.listen.port}/`;
  // The app instances, and the access nodes' own HTTP ports (the resources route).
  if (!(await waitForFront(table, access.length * DEMO_INSTANCES + access.length, stopping))) {
    throw new CliError(`the front did not see every app instance ready within ${READY_WAIT_MS / 1000} s; logs are in ${join(dir, 'logs')}`, EXIT_ERROR);
  }
  say(`front ready on ${frontUrl}: ${DEMO_INSTANCES} app instances on each of ${access.map((n) => n.id).join(', ')} (${front.policy}, sticky cookie)`);
  const first = await fetch(frontUrl, { signal: AbortSignal.timeout(10_000) });
  say(`through the front: ${firstLine(await first.text())}`);
  // From this process's start: what an operator waits for after typing the command.
  say(`ready in ${process.uptime().toFixed(1)} s`);
  return 'ready';
}

/** What to try once the cluster is up: its addresses and a few commands. */
function printTryLines(table: HostTable, config: string): void {
  const front = table.front!;
  const frontUrl = `https://127.0.0.1:${front.listen.port}/`;
  const nodeC = table.nodes.find((n) => n.id === 'C')!;
  const ca = relative(process.cwd(), join(table.tlsDir, 'ca.crt'));
  say(`HTTPS: the cluster's CA signed the front's certificate; trust it with curl --cacert ${ca} ${frontUrl} (plain http://127.0.0.1:${front.redirect!.port}/ answers 308 to it)`);
  say(`resources: curl --cacert ${ca} -i ${frontUrl.slice(0, -1)}${DEMO_RESOURCE} (through the front, LARD/R over the access nodes), or http://127.0.0.1:${nodeC.httpPort}${DEMO_RESOURCE} (node C: copied from A on first access; X-Cohort-Source says which)`);
  const admin = front.admin!;
  say(`dashboard: http://127.0.0.1:${nodeC.httpPort}/dashboard (node C; live, every node), or the front's: http://${admin.host}:${admin.port}/dashboard?token=${admin.token} (also its back-ends)`);
  say(`metrics (Prometheus): http://127.0.0.1:${nodeC.httpPort}/metrics (node C; every node on its own port), and the front's: curl -H 'authorization: Bearer ${admin.token}' http://${admin.host}:${admin.port}/metrics`);
  say(`try: open ${frontUrl} in a browser (reload: the sticky cookie keeps you on one app instance; the visit count lives in the session store), or curl --cacert ${ca} -i ${frontUrl}`);
  say(`     log in there as ${DEMO_USER.user} (domain ${DEMO_USER.domain}), password ${DEMO_USER.password}, or ${DEMO_LEARNER.user} (domain ${DEMO_LEARNER.domain}), password ${DEMO_LEARNER.password}`);
  say(`     the course: ${frontUrl}course (a problem replicated on first access; answers recorded on the learner's home node; the author publishes at ${frontUrl}course/author)`);
  const cfg = relative(process.cwd(), config);
  say(`     npm run cohort -- front status --config ${cfg}`);
  say(`     npm run cohort -- app status --config ${cfg} --from C`);
  say(`     npm run cohort -- app reload --all --config ${cfg} --from C`);
  say(`     npm run cohort -- ping E --config ${cfg} --from C`);
}

/** Makes a demo user on her home library node; one who exists already (the folder reused) is fine. */
async function ensureDemoUser(table: HostTable, who: typeof DEMO_USER): Promise<string> {
  const { domain, user, home, password } = who;
  let client: CohortClient | undefined;
  try {
    client = await CohortClient.forNode(table, 'C', { timeoutMs: 10_000 });
    await client.auth.addUser({ domain, user }, home, password);
    return `user ${user}@${domain} created (home ${home})`;
  } catch (err) {
    if ((err as { code?: string }).code === 'refused' && /exists already/.test((err as Error).message)) return `user ${user}@${domain} exists already (home ${home})`;
    return `could not create the demo user ${user}@${domain}: ${(err as Error).message}`;
  } finally {
    client?.close();
  }
}

/** The first line of text of a page (tags dropped). */
function firstLine(html: string): string {
  const lines = html.replace(/<[^>]*>/g, '').split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.find((l) => l.startsWith('Hello')) ?? lines[0] ?? '';
}

/** True once the front's status shows `count` back-ends, all ready (false after READY_WAIT_MS, or once stopping). */
async function waitForFront(table: HostTable, count: number, stopping: () => boolean): Promise<boolean> {
  const admin = table.front!.admin!;
  const until = Date.now() + READY_WAIT_MS;
  while (Date.now() < until && !stopping()) {
    try {
      const res = await fetch(`http://${admin.host}:${admin.port}/status`, { headers: { authorization: `Bearer ${admin.token}` }, signal: AbortSignal.timeout(2000) });
      const status = (await res.json()) as { backends: { state: string }[] };
      if (status.backends.length === count && status.backends.every((b) => b.state === 'ready')) return true;
    } catch {
      // not listening yet
    }
    await delay(100);
  }
  return false;
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

/** The highest host table version the nodes of an earlier demo run in this folder accepted (0: none). */
function acceptedBefore(dataDir: string): number {
  let highest = 0;
  for (const node of existsSync(dataDir) ? readdirSync(dataDir) : []) {
    try {
      const held = new AcceptedTableFile(join(dataDir, node)).read();
      const version: unknown = held && parseYaml(held.text)?.version;
      if (typeof version === 'number') highest = Math.max(highest, version);
    } catch {
      // not one a node wrote whole: the node itself says so when it starts
    }
  }
  return highest;
}
