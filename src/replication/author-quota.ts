import { CohortError } from '../errors.ts';
import { mib } from './free-space.ts';
import type { PublishedStore } from './published-store.ts';
import type { ResourceRef } from './resource-url.ts';

export interface AuthorUse {
  domain: string;
  author: string;
  versions: number;
  bytes: number;
  maxVersions: number;
  maxBytes: number;
}

/**
 * Per-author quotas on her home node (resources.authorMaxBytes, authorMaxVersions): what her
 * versions kept here may take, summed over all her resources (each version counts its size,
 * even when another holds the same bytes). Any user may publish, so without it a loop of
 * publishes fills the home's disk. A publish past either is refused (too_large: 413) and stores
 * nothing; `cohort resources prune` makes room.
 */
export class AuthorQuota {
  private readonly published: PublishedStore;
  readonly maxBytes: number;
  readonly maxVersions: number;

  constructor(published: PublishedStore, limits: { maxBytes: number; maxVersions: number }) {
    this.published = published;
    this.maxBytes = limits.maxBytes;
    this.maxVersions = limits.maxVersions;
  }

  /** Bytes the author may still publish (one more version must fit too); throws when none. */
  room(ref: ResourceRef): number {
    const use = this.published.use(prefixOf(ref));
    this.refuseIfOver(ref, use, 0);
    return this.maxBytes - use.bytes;
  }

  /** Right before the version is added (synchronously with it): does a version of `size` bytes still fit? */
  check(ref: ResourceRef, size: number): void {
    this.refuseIfOver(ref, this.published.use(prefixOf(ref)), size);
  }

  /** The bytes-over error for a transfer stopped at the author's room. */
  overBytes(ref: ResourceRef, room: number): CohortError {
    return new CohortError('too_large', `${who(ref)}'s quota: ${mib(this.maxBytes - room)} of ${mib(this.maxBytes)} kept here, this version does not fit (resources.authorMaxBytes; prune old versions: cohort resources prune)`);
  }

  /** Every author with versions here, against the quotas. */
  list(): AuthorUse[] {
    return this.published.authors().map((a) => ({ ...a, maxVersions: this.maxVersions, maxBytes: this.maxBytes }));
  }

  private refuseIfOver(ref: ResourceRef, use: { versions: number; bytes: number }, size: number): void {
    if (use.versions + 1 > this.maxVersions) {
      throw new CohortError('too_large', `${who(ref)}'s quota: ${use.versions} of ${this.maxVersions} versions kept here (resources.authorMaxVersions; prune old versions: cohort resources prune)`);
    }
    if (use.bytes + size > this.maxBytes || use.bytes >= this.maxBytes) throw this.overBytes(ref, this.maxBytes - use.bytes);
  }
}

function prefixOf(ref: ResourceRef): string {
  return `/res/${ref.domain}/${ref.author}/`;
}

function who(ref: ResourceRef): string {
  return `${ref.author}@${ref.domain}`;
}
