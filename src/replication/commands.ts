import { isAbsolute } from 'node:path';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { CommandRegistry } from '../commands/registry.ts';
import { CohortError } from '../errors.ts';
import { userRef } from '../records/names.ts';
import type { CopyStore } from './copy-store.ts';
import { access, publishAnswerFor, versionMeta } from './peer-answers.ts';
import type { PublishedStore } from './published-store.ts';
import type { RawClient } from './raw-client.ts';
import type { Replicator } from './replicator.ts';
import type { ResourceHome } from './resource-home.ts';
import { encodeResourceUrl, parseResourceUrl, resourceUrl, version } from './resource-url.ts';

export interface ResourceCommandDeps {
  /** Whether the author lives here (her home): now (SQLite) or later (PostgreSQL). */
  isAuthorHere: (domain: string, author: string) => boolean | Promise<boolean>;
  self: string;
  home: ResourceHome;
  replicator: Replicator;
  published: PublishedStore;
  copies: CopyStore;
  raw: RawClient;
  /** The author's home node (home lookup, cached). */
  homeOf: (domain: string, author: string) => Promise<string>;
  transferIdleMs: number;
  log: Logger;
}

/** A relayed publish's answer: a version's metadata and who was told of it (a subscriber takes ~50 characters). */
const MAX_ANSWER_CHARS = 8 * 1024 * 1024;

/** Seed 000's resource commands: subscribe / unsubscribe / update between nodes, and what apps and the CLI use. */
export function registerResourceCommands(registry: CommandRegistry, deps: ResourceCommandDeps): void {
  const { home, replicator } = deps;
  registry.register({
    name: 'res.subscribe',
    summary: "subscribe to a resource at its home node (D3): its metadata, if it exists and the asking node may copy it",
    args: z.strictObject({ url: resourceUrl, version: version.optional(), gen: z.number().int().min(1) }),
    scope: 'peers',
    run: (a, ctx) => home.subscribe(ctx.from, a.url, a.version, a.gen),
  });
  registry.register({
    name: 'res.unsubscribe',
    summary: 'end a subscription at the home node (U3b), unless the node subscribed again since (gen)',
    args: z.strictObject({ url: resourceUrl, gen: z.number().int().min(1) }),
    scope: 'peers',
    critical: true,
    run: (a, ctx) => home.unsubscribe(ctx.from, a.url, a.gen),
  });
  registry.register({
    name: 'res.update',
    summary: 'a new version of a resource this node subscribes to (U1): fetched if read recently, else the copy is dropped',
    args: versionMeta,
    scope: 'peers',
    critical: true,
    run: (a, ctx) => replicator.onUpdate(ctx.from, a),
  });

  registry.register({
    name: 'res.author',
    summary: "is this node the home of this author? (D2: any node may ask, for resources open to the cluster; records ask home.query)",
    args: z.strictObject(userRef),
    scope: 'any',
    run: async (a) => ({ home: await deps.isAuthorHere(a.domain, a.user) }),
  });

  const local = z.strictObject({ url: resourceUrl, version: version.optional() });
  const resolve = async (a: z.output<typeof local>) => {
    // An app reads the file itself: it must be in place, not only checked in memory.
    const l = await replicator.localFile(parseResourceUrl(a.url), a.version);
    return { ...l.meta, path: l.path, source: l.source };
  };
  registry.register({
    name: 'res.local',
    summary: "a resource's file on this node, replicated first if it is not here; with its metadata",
    args: local,
    scope: 'local',
    run: resolve,
  });
  registry.register({
    name: 'res.meta',
    summary: "a resource's metadata (version, digest, size, type, publication time, access), replicating it if needed",
    args: local,
    scope: 'local',
    run: async (a) => {
      const { path: _path, ...meta } = await resolve(a);
      return meta;
    },
  });
  registry.register({
    name: 'res.publish',
    summary: "publish a file as the next version of a resource, on the author's home node (relayed there if it is another)",
    args: z.strictObject({ url: resourceUrl, file: z.string().min(1).max(4096).refine(isAbsolute, 'an absolute path'), contentType: z.string().min(1).max(256).optional(), access: access.optional(), ifVersion: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional() }),
    scope: 'local',
    run: async (a) => {
      const ref = parseResourceUrl(a.url);
      const at = await deps.homeOf(ref.domain, ref.author);
      if (at === deps.self) return home.publishFile(ref, a.file, { contentType: a.contentType, access: a.access, ifVersion: a.ifVersion });
      const body = createReadStream(a.file);
      // Its length, so the home can refuse past the author's quota before a byte is sent.
      const headers: Record<string, string> = { 'content-length': String((await stat(a.file)).size) };
      if (a.contentType) headers['content-type'] = a.contentType;
      if (a.access) headers['x-cohort-access'] = a.access;
      if (a.ifVersion !== undefined) headers['x-cohort-if-version'] = String(a.ifVersion);
      const res = await deps.raw.request(at, 'PUT', `/publish${encodeResourceUrl(ref.url)}`, { headers, body, idleMs: deps.transferIdleMs });
      let text = '';
      res.setEncoding('utf8');
      for await (const chunk of res) {
        text += chunk;
        if (text.length > MAX_ANSWER_CHARS) throw new CohortError('con_lost', `${at}'s answer to a publish of ${ref.url} is over ${MAX_ANSWER_CHARS} characters`);
      }
      return publishAnswerFor(text, { home: at, url: ref.url, log: deps.log });
    },
  });
  registry.register({
    name: 'res.list',
    summary: "this node's own resources with their versions and subscribers, and its copies of others' (size, version, last read)",
    args: z.strictObject({}),
    scope: 'local',
    run: () => {
      // Newest version first per resource: its subscribers are listed with it, once.
      const published = deps.published.list().map((v, i, all) => ({ ...v, subscribers: i > 0 && all[i - 1].url === v.url ? [] : deps.published.subscribers(v.url).map((s) => ({ node: s.node, since: s.since, notified: s.notified })) }));
      return { node: deps.self, published, copies: deps.copies.list() };
    },
  });
}
