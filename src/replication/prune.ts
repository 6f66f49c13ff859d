import type { Logger } from 'pino';
import { CohortError } from '../errors.ts';
import type { BlobStore } from './blob-store.ts';
import type { PublishedStore } from './published-store.ts';
import type { ResourceRef } from './resource-url.ts';

export interface PruneDeps {
  published: PublishedStore;
  blobs: BlobStore;
  /** Whether the author lives here: now (SQLite) or later (PostgreSQL). */
  isAuthorHere: (domain: string, author: string) => boolean | Promise<boolean>;
  /** The URL's versions changed: what was served for it must be looked up again. */
  onChanged: (url: string) => void;
  log: Logger;
}

export interface PruneResult {
  url: string;
  kept: number[];
  removed: { version: number; size: number }[];
  /** Bytes of files removed (a file another row still names stays). */
  freedBytes: number;
}

/**
 * `cohort resources prune URL --keep N` on the author's home: every version of `url` but the
 * newest `keep` goes, and each removed version's file with it unless another row (a version of
 * another resource, a copy) names the same bytes. The newest is never pruned, so subscribers
 * keep working: they hold (or are sent) the newest; a copy asked for by an old version number
 * elsewhere stays where it is, and fetching it anew is a 404.
 */
export async function pruneVersions(deps: PruneDeps, ref: ResourceRef, keep: number): Promise<PruneResult> {
  if (!Number.isSafeInteger(keep) || keep < 1) throw new CohortError('bad_args', '--keep is at least 1: the newest version is never pruned');
  if (!(await deps.isAuthorHere(ref.domain, ref.author))) throw new CohortError('refused', `${ref.author}@${ref.domain} does not live on this node: prune on her home node`);
  if (!deps.published.newest(ref.url)) throw new CohortError('not_found', `no resource ${ref.url} here`);
  const removed = deps.published.prune(ref.url, keep);
  deps.onChanged(ref.url);
  let freedBytes = 0;
  for (const r of new Map(removed.map((v) => [v.digest, v.size]))) if (deps.blobs.removeIfUnused(r[0])) freedBytes += r[1];
  const kept = deps.published.versions(ref.url);
  deps.log.info({ event: 'resource_pruned', url: ref.url, keep, removed: removed.map((r) => r.version), freedBytes }, `${ref.url}: ${removed.length} old versions pruned, ${kept.length} kept`);
  return { url: ref.url, kept, removed: removed.map((r) => ({ version: r.version, size: r.size })), freedBytes };
}
