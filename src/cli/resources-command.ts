import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { parseResourceUrl, ResourceUrlError } from '../replication/resource-url.ts';
import { CliError, EXIT_USAGE, configOption, formatTable, fromOption, withClient } from './common.ts';

interface Listing {
  node: string;
  published: { url: string; version: number; size: number; digest: string; publishedAt: number; access: string; subscribers: { node: string; notified: number }[] }[];
  copies: { url: string; version: number; size: number; lastRead: number; fetchedAt: number; home: string; subscribed: number }[];
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

  program
    .command('resources')
    .description("a node's own resources (versions, subscribers) and its copies of others' (version, size, last read)")
    .option('--json', 'print JSON')
    .addOption(configOption())
    .addOption(fromOption())
    .action(async (opts: { json?: boolean; config: string; from: string }) => {
      const list = (await withClient(opts, (client) => client.call(opts.from, 'res.list', {}))) as Listing;
      if (opts.json) return void process.stdout.write(JSON.stringify(list) + '\n');
      process.stdout.write(`node ${list.node}: ${list.published.length} published versions, ${list.copies.length} copies\n`);
      if (list.published.length) {
        process.stdout.write('\npublished here\n');
        process.stdout.write(formatTable(['url', 'version', 'bytes', 'access', 'published', 'subscribers (newest version told)'], list.published.map((p) => [p.url, String(p.version), String(p.size), p.access, when(p.publishedAt), p.subscribers.map((s) => `${s.node}(v${s.notified})`).join(' ') || '-'])));
      }
      if (list.copies.length) {
        process.stdout.write('\ncopies\n');
        process.stdout.write(formatTable(['url', 'version', 'bytes', 'home', 'subscribed', 'fetched', 'last read'], list.copies.map((c) => [c.url, String(c.version), String(c.size), c.home || '-', c.subscribed ? 'yes' : 'no', when(c.fetchedAt), when(c.lastRead)])));
      }
    });
}
