import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { isMap, isSeq, parseDocument, type Document } from 'yaml';
import { initClusterCerts } from '../certs/cluster-certs.ts';
import { ConfigError, loadHostTable, parseHostTable } from '../config/host-table.ts';
import { makeOperatorKey, OPERATOR_PRIVATE_KEY, readSignedFile, signatureFile, signTable, tableHash, type SignedTable } from '../config/signed-table.ts';
import type { HostsStatus } from '../config/table-change.ts';
import { certSha256 } from '../cert-sha256.ts';
import { CliError, configOption, EXIT_USAGE, formatTable, fromOption, withClient } from './common.ts';

// Versioned, signed host tables (issue 28): the operator's key, signing a version, handing it
// to a running node (which passes it on to every node), adding a node, and what each node holds.

export function addHostsCommand(program: Command): void {
  const hosts = program.command('hosts').description('host table versions: sign one, hand it to the running cluster, add a node (issue 28)');

  hosts
    .command('keygen')
    .description("make the operator's Ed25519 key pair (<tls dir>/operator.key, and operator.pub which every node pins); kept unless --force")
    .addOption(configOption())
    .option('--force', 'make a new pair (tables signed with the old key are then refused)')
    .action((opts: { config: string; force?: boolean }) => {
      const table = loadHostTable(opts.config);
      const made = makeOperatorKey(table.tlsDir, { force: opts.force });
      process.stdout.write(`${made.created ? 'created' : 'kept'} ${made.privateKey} (keep it with the operator) and ${made.publicKey} (give it to every node with ca.crt)\n`);
    });

  hosts
    .command('sign')
    .description('sign the host table file as it is (writes <file>.sig); --bump first raises its version by one')
    .addOption(configOption())
    .option('--bump', 'raise the version by one (1 if it has none) before signing')
    .option('--key <file>', "the operator's private key (default: <tls dir>/operator.key)")
    .option('--json', 'print JSON')
    .action((opts: { config: string; bump?: boolean; key?: string; json?: boolean }) => {
      if (opts.bump) changeFile(opts.config, () => undefined);
      const signed = signFile(opts.config, { key: opts.key });
      if (opts.json) return void process.stdout.write(JSON.stringify(signed) + '\n');
      process.stdout.write(`signed version ${signed.version} of ${opts.config} (sha256 ${signed.hash.slice(0, 16)}): ${signatureFile(opts.config)}\n`);
    });

  hosts
    .command('push')
    .description('hand a signed host table (the file and its .sig) to a running node, which passes it on to every node')
    .argument('[file]', 'the signed table (default: the --config file)')
    .addOption(configOption())
    .addOption(fromOption())
    .option('--json', 'print JSON')
    .action(async (file: string | undefined, opts: { config: string; from: string; json?: boolean }) => {
      const signed = readSigned(file ?? opts.config);
      const reply = (await withClient(opts, (client) => client.call(opts.from, 'hosts.offer', signed))) as { taken: boolean; version: number };
      if (opts.json) return void process.stdout.write(JSON.stringify(reply) + '\n');
      process.stdout.write(reply.taken ? `${opts.from} took version ${reply.version}; it passes it on to its peers\n` : `${opts.from} already holds version ${reply.version}\n`);
    });

  hosts
    .command('show')
    .description('the host table version a node holds and runs on, and the one each of its peers said it holds')
    .addOption(configOption())
    .addOption(fromOption())
    .option('--json', 'print JSON')
    .action(async (opts: { config: string; from: string; json?: boolean }) => {
      const { current, peers } = await withClient(opts, async (client) => ({
        current: (await client.call(opts.from, 'hosts.current')) as HostsStatus,
        peers: ((await client.call(opts.from, 'peers')) as { peers: { id: string; state: string; tableVersion?: number }[] }).peers,
      }));
      if (opts.json) return void process.stdout.write(JSON.stringify({ node: opts.from, ...current, peers }) + '\n');
      const head = current.signed ? `${opts.from} holds host table version ${current.version} (sha256 ${current.hash!.slice(0, 16)}), runs on ${current.running}` : `${opts.from} runs on an unversioned host table (no operator key pinned)`;
      const pending = current.pendingRestart.length ? `\nwaits for a restart: ${current.pendingRestart.join('; ')}` : '';
      process.stdout.write(`${head}${pending}\n` + formatTable(['PEER', 'LINK', 'TABLE'], peers.map((p) => [p.id, p.state, p.tableVersion === undefined ? '-' : String(p.tableVersion)])));
    });

  hosts
    .command('add')
    .description("add a node to the host table file: its entry, the next version, its certificate (cluster CA, pinned), signed; with --from, handed to that running node. A library node is added joining: it takes new users while every node runs, and votes and backs up other homes once a later version without `joining` is taken at each node's restart")
    .argument('<id>', 'the new node id (never one used before)')
    .requiredOption('--domain <domain>', 'its domain')
    .requiredOption('--host <host>', 'its address')
    .requiredOption('--link-port <port>', 'its link port', portArg)
    .requiredOption('--http-port <port>', 'its HTTP port', portArg)
    .option('--role <role>', 'access or library', 'access')
    .option('--app-base-port <port>', 'the first port of its app instances (when the table has an app section)', portArg)
    .option('--from <node>', 'hand the new version to this running node (its local socket)')
    .option('--key <file>', "the operator's private key (default: <tls dir>/operator.key)")
    .addOption(configOption())
    .action(async (id: string, opts: EditOptions & { domain: string; host: string; linkPort: number; httpPort: number; role: string; appBasePort?: number }) => {
      const before = loadHostTable(opts.config);
      if (before.removed.includes(id)) throw new CliError(`${opts.config}: '${id}' was removed (removed: [...]): an id is never used again; give the node a new one`, EXIT_USAGE);
      if (before.nodes.some((n) => n.id === id)) throw new CliError(`${opts.config}: node '${id}' is in the table already`, EXIT_USAGE);
      // Its certificate first (the new entry pins it), signed by the cluster's CA: never a new CA, nor new certificates for the others.
      const caKey = join(before.tlsDir, 'ca.key');
      if (!existsSync(caKey) || !existsSync(join(before.tlsDir, 'ca.crt'))) throw new CliError(`no cluster CA at ${before.tlsDir} (ca.key and ca.crt): run cohort hosts add where the CA's key is kept`, EXIT_USAGE);
      const certs = initClusterCerts(before.tlsDir, before.cluster, [id]);
      const version = await editTable(opts, `added ${id}`, (doc) => {
        const nodes = doc.get('nodes');
        if (!isSeq(nodes)) throw new CliError(`${opts.config}: no nodes list to add to`, EXIT_USAGE);
        nodes.add(doc.createNode({ id, domain: opts.domain, role: opts.role, host: opts.host, linkPort: opts.linkPort, httpPort: opts.httpPort, ...(opts.appBasePort ? { app: { basePort: opts.appBasePort } } : {}), ...(opts.role === 'library' ? { joining: true } : {}), certSha256: pinOf(before.tlsDir, id) }, { flow: true }));
      });
      process.stdout.write(`${certs.created.includes(id) ? `its certificate: ${join(before.tlsDir, `${id}.crt`)}; ` : ''}start ${id} on version ${version} (cohort node -i ${id})\n`);
    });

  hosts
    .command('pin')
    .description("pin each node's certificate in the host table (certSha256, from <tls dir>/<id>.crt): the next version, signed; with --from, handed to a running node. Its peers then refuse any other certificate for it, though the cluster CA signed it. A node already running takes a new pin at its next start")
    .argument('[ids...]', 'the nodes to pin (default: every node whose certificate is in the tls dir)')
    .option('--from <node>', 'hand the new version to this running node (its local socket)')
    .option('--key <file>', "the operator's private key (default: <tls dir>/operator.key)")
    .addOption(configOption())
    .action(async (ids: string[], opts: EditOptions) => {
      const table = loadHostTable(opts.config);
      const chosen = ids.length ? ids : table.nodes.map((n) => n.id).filter((id) => existsSync(join(table.tlsDir, `${id}.crt`)));
      const pins = new Map(chosen.map((id) => [id, pinOf(table.tlsDir, id)]));
      await editTable(opts, `pinned ${chosen.join(', ')}`, (doc) => {
        for (const [id, sha] of pins) doc.setIn(['nodes', nodeIndex(doc, id, opts.config), 'certSha256'], sha);
      });
    });

  hosts
    .command('leave')
    .description('mark a node leaving (the next version, signed; with --from, handed to a running node): no new sessions or logins go to it, fronts drain it; remove it once its outbox and sessions have moved (cohort doctor)')
    .argument('<id>', 'the node that leaves')
    .option('--from <node>', 'hand the new version to this running node (its local socket)')
    .option('--key <file>', "the operator's private key (default: <tls dir>/operator.key)")
    .addOption(configOption())
    .action(async (id: string, opts: EditOptions) => {
      await editTable(opts, `${id} leaving`, (doc) => {
        const i = nodeIndex(doc, id, opts.config);
        doc.setIn(['nodes', i, 'leaving'], true);
      });
    });

  hosts
    .command('remove')
    .description('remove a node that is leaving (the next version, signed; with --from, handed to a running node): links to it close, messages still queued for it are set aside, its id is never used again')
    .argument('<id>', 'the node to remove')
    .option('--force', 'remove it although it was not marked leaving first')
    .option('--from <node>', 'hand the new version to this running node (its local socket)')
    .option('--key <file>', "the operator's private key (default: <tls dir>/operator.key)")
    .addOption(configOption())
    .action(async (id: string, opts: EditOptions & { force?: boolean }) => {
      await editTable(opts, `removed ${id}`, (doc) => {
        const i = nodeIndex(doc, id, opts.config);
        if (!opts.force && doc.getIn(['nodes', i, 'leaving']) !== true) throw new CliError(`${id} is not leaving: mark it first (cohort hosts leave ${id}), let its outbox and sessions move, then remove it; or --force`, EXIT_USAGE);
        doc.deleteIn(['nodes', i]);
        const removed = doc.get('removed');
        if (isSeq(removed)) removed.add(id);
        else doc.set('removed', doc.createNode([id], { flow: true }));
      });
    });
}

interface EditOptions {
  config: string;
  from?: string;
  key?: string;
}

/**
 * One change to the host table file (changeFile), signed, and with --from handed to that running
 * node. Nothing is written when the change or the new table is refused. Says the new version.
 */
async function editTable(opts: EditOptions, what: string, edit: (doc: Document) => void): Promise<number> {
  changeFile(opts.config, edit);
  const signed = signFile(opts.config, { key: opts.key });
  process.stdout.write(`${what}: version ${signed.version} of ${opts.config}, signed\n`);
  if (opts.from) {
    const reply = (await withClient({ config: opts.config, from: opts.from }, (client) => client.call(opts.from!, 'hosts.offer', readSigned(opts.config)))) as { taken: boolean; version: number };
    process.stdout.write(`${opts.from} ${reply.taken ? 'took' : 'already held'} version ${reply.version}; it passes it on to its peers\n`);
  }
  return signed.version;
}

/** A change made on the file's YAML (comments kept), its version raised by one, checked as any table is, then written. */
function changeFile(file: string, edit: (doc: Document) => void): void {
  const doc = parseDocument(readFileSync(file, 'utf8'), { uniqueKeys: true });
  const before = loadHostTable(file);
  edit(doc);
  doc.set('version', before.version + 1);
  const next = doc.toString();
  parseHostTable(file, next); // unique ids and ports, known domains, no removed id again
  writeFileSync(file, next);
}

function nodeIndex(doc: Document, id: string, file: string): number {
  const nodes = doc.get('nodes');
  const i = isSeq(nodes) ? nodes.items.findIndex((n) => isMap(n) && n.get('id') === id) : -1;
  if (i < 0) throw new CliError(`${file}: no node '${id}'`, EXIT_USAGE);
  return i;
}

/** The SHA-256 of a node's certificate in the tls dir, as the host table pins it. */
function pinOf(tlsDir: string, id: string): string {
  const file = join(tlsDir, `${id}.crt`);
  if (!existsSync(file)) throw new CliError(`no certificate for ${id}: ${file} (cohort certs init)`, EXIT_USAGE);
  return certSha256(new X509Certificate(readFileSync(file)).fingerprint256);
}

function portArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('a port number, 1-65535');
  return n;
}

function readSigned(file: string): SignedTable {
  const signed = readSignedFile(file);
  if (!signed) throw new CliError(`${file} is not signed: no ${signatureFile(file)} (cohort hosts sign)`, EXIT_USAGE);
  return signed;
}

/** Signs the file in place (its .sig beside it). */
function signFile(file: string, opts: { key?: string }): { version: number; hash: string } {
  const text = readFileSync(file, 'utf8');
  const table = parseHostTable(file, text);
  if (table.version < 1) throw new ConfigError(file, ['version: a table to sign needs one (add `version: 1`, or use --bump)']);
  const signed = signTable(text, opts.key ?? join(table.tlsDir, OPERATOR_PRIVATE_KEY));
  writeFileSync(signatureFile(file), `${signed.signature}\n`);
  return { version: table.version, hash: tableHash(text) };
}
