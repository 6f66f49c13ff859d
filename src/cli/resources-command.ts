import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { parseResourceUrl, ResourceUrlError } from '../replication/resource-url.ts';
import { CliError, EXIT_USAGE, configOption, formatTable, fromOption, withClient } from './common.ts';

interface Listing {
  node: string;
  published: { url: string; version: number; size: number; digest: string; publishedAt: number; access: string; subscribers: { node: string; notified: number }[] }[];
  copies: { url: string; version: number; size: number; lastRead: number; fetchedAt: number; home: string; subscribed: number }[];
}

interface Storage {
  node: string;
  authors: { domain: string; author: string; versions: number; bytes: number; maxVersions: number; maxBytes: number }[];
  copies: { heldBytes: number; reservedBytes: number; budgetBytes: number };
  disk: { freeBytes: number; minFreeBytes: number };
  problem: string | null;
}

const pct = (n: number, of: number) => `${((100 * n) / of).toFixed(0)}%`;

function keepCount(value: string): number {
  const n = Number(value);
  if (!/^\d{1,15}$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('a whole number, at least 1 (the newest version is never pruned)');
  return n;
}

const when = (ms: number) => (ms > 0 ? new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z') : '-');

/** `cohort publish` and `cohort resources`: seed 000's resource space from the command line. */
export function addResourceCommands(program: Command): void {
  program
    .command('publish')
    .description("publish FILE as the next version of resource URL (/res/<domain>/<author>/<path>) on the author's home node")
    .argument('<file>', 'the file to publish')
    .argument('<url>', 'the resource: /res/<domain>/<author>/<path>')
    .requiredOption('--as <author>', 'the author (must be the one the URL names)')
    .option('--access <who>', "who may copy it: 'cluster' (any node) or 'domain' (the author's domain and those that trust it); default: as before, else cluster")
    .option('--type <mime>', 'its Content-Type (default: by the file name in the URL)')
    .option('--json', 'print JSON')
    .addOption(configOption())
    .addOption(fromOption())
    .action(async (file: string, url: string, opts: { as: string; access?: string; type?: string; json?: boolean; config: string; from: string }) => {
      let ref;
      try {
        ref = parseResourceUrl(url);
      } catch (err) {
        if (err instanceof ResourceUrlError) throw new CliError(`${url}: ${err.message}`, EXIT_USAGE);
        throw err;
      }
      if (ref.author !== opts.as) throw new CliError(`${url} belongs to ${ref.author}, not ${opts.as}`, EXIT_USAGE);
      if (opts.access !== undefined && opts.access !== 'cluster' && opts.access !== 'domain') throw new CliError("--access is 'cluster' or 'domain'", EXIT_USAGE);
      const path = resolve(file);
      let size: number;
      try {
        const st = statSync(path);
        if (!st.isFile()) throw new Error('not a regular file');
        size = st.size;
      } catch (err) {
        throw new CliError(`${file}: ${(err as Error).message}`, EXIT_USAGE);
      }
      process.stderr.write(`publishing ${size} bytes as ${ref.url}...\n`);
      const out = (await withClient(opts, (client) => client.call(opts.from, 'res.publish', { url: ref.url, file: path, ...(opts.type ? { contentType: opts.type } : {}), ...(opts.access ? { access: opts.access } : {}) }))) as { version: number; digest: string; size: number; notified: { node: string; status: string }[] };
      if (opts.json) return void process.stdout.write(JSON.stringify(out) + '\n');
      const told = out.notified.map((n) => `${n.node} ${n.status}`).join(', ') || 'none';
      process.stdout.write(`${ref.url} version ${out.version} (${out.size} bytes, sha256 ${out.digest.slice(0, 16)}...); subscribers told: ${told}\n`);
    });

  const resources = program
    .command('resources')
    .description("a node's own resources (versions, subscribers), its copies of others' (version, size, last read), and what they take against the quotas")
    .option('--json', 'print JSON')
    .addOption(configOption())
    .addOption(fromOption())
    .action(async (opts: { json?: boolean; config: string; from: string }) => {
      const [list, storage] = (await withClient(opts, (client) => Promise.all([client.call(opts.from, 'res.list', {}), client.call(opts.from, 'res.storage', {})]))) as [Listing, Storage];
      if (opts.json) return void process.stdout.write(JSON.stringify({ ...list, storage }) + '\n');
      process.stdout.write(`node ${list.node}: ${list.published.length} published versions, ${list.copies.length} copies\n`);
      const { copies: budget, disk } = storage;
      process.stdout.write(`copies: ${budget.heldBytes} of ${budget.budgetBytes} bytes (${pct(budget.heldBytes, budget.budgetBytes)}; ${budget.reservedBytes} more on their way); disk: ${disk.freeBytes} bytes free, floor ${disk.minFreeBytes}\n`);
      if (storage.problem) process.stdout.write(`problem: ${storage.problem}\n`);
      if (storage.authors.length) {
        process.stdout.write('\nauthors (quota per author)\n');
        process.stdout.write(formatTable(['author', 'versions', 'of', 'bytes', 'of', 'used'], storage.authors.map((a) => [`${a.author}@${a.domain}`, String(a.versions), String(a.maxVersions), String(a.bytes), String(a.maxBytes), pct(Math.max(a.bytes / a.maxBytes, a.versions / a.maxVersions), 1)])));
      }
      if (list.published.length) {
        process.stdout.write('\npublished here\n');
        process.stdout.write(formatTable(['url', 'version', 'bytes', 'access', 'published', 'subscribers (newest version told)'], list.published.map((p) => [p.url, String(p.version), String(p.size), p.access, when(p.publishedAt), p.subscribers.map((s) => `${s.node}(v${s.notified})`).join(' ') || '-'])));
      }
      if (list.copies.length) {
        process.stdout.write('\ncopies\n');
        process.stdout.write(formatTable(['url', 'version', 'bytes', 'home', 'subscribed', 'fetched', 'last read'], list.copies.map((c) => [c.url, String(c.version), String(c.size), c.home || '-', c.subscribed ? 'yes' : 'no', when(c.fetchedAt), when(c.lastRead)])));
      }
    });

  resources
    .command('prune')
    .description("remove every version of resource URL but the newest N, on the author's home node (run it there: --from her home); their files go unless another row names them")
    .argument('<url>', 'the resource: /res/<domain>/<author>/<path>')
    .requiredOption('--keep <n>', 'versions to keep, newest first (at least 1)', keepCount)
    // --config, --from and --json belong to `resources` and are read from there.
    .action(async (url: string, _opts: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals() as { keep: number; json?: boolean; config: string; from: string };
      let ref;
      try {
        ref = parseResourceUrl(url);
      } catch (err) {
        if (err instanceof ResourceUrlError) throw new CliError(`${url}: ${err.message}`, EXIT_USAGE);
        throw err;
      }
      const out = (await withClient(opts, (client) => client.call(opts.from, 'res.prune', { url: ref.url, keep: opts.keep }))) as { url: string; kept: number[]; removed: { version: number; size: number }[]; freedBytes: number };
      if (opts.json) return void process.stdout.write(JSON.stringify(out) + '\n');
      const removed = out.removed.map((r) => r.version).sort((a, b) => a - b);
      process.stdout.write(`${out.url}: ${removed.length} versions removed${removed.length ? ` (${removed.join(', ')})` : ''}, ${out.freedBytes} bytes freed; kept ${out.kept.join(', ')}\n`);
    });
}
