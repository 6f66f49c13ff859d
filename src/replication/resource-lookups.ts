import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { CohortError } from '../errors.ts';
import type { HomeLookup } from '../records/home-lookup.ts';
import { RecentMap } from '../recent-map.ts';
import { subscribeAnswerFor } from './peer-answers.ts';
import type { VersionMeta } from './published-store.ts';
import type { ResourceRef } from './resource-url.ts';

/** How long "no such author" is believed without asking again. */
const UNKNOWN_AUTHOR_MS = 10_000;
/** How long "no such resource (or version)" is believed without asking its home again. */
const MISSING_MS = 5000;
/** Names and paths remembered as missing, each map (keys are digests: bounded in bytes too). */
const REMEMBERED = 10_000;

export interface ResourceLookupsDeps {
  self: string;
  homes: HomeLookup;
  call: (to: string, cmd: string, args: unknown) => Promise<unknown>;
  /** A new subscription counter (CopyStore.nextGen). */
  nextGen: () => number;
  /** Look-ups waiting on one node (or one domain's library nodes) at once, and on all at once. */
  perNode: number;
  total: number;
  log: Logger;
}

export interface Subscribed {
  home: string;
  gen: number;
  meta: VersionMeta;
  newest: number;
}

/**
 * D2-D4 of a first access: the author's home found, the resource subscribed to there, and the
 * home's answer checked against what was asked (peer-answers.ts). Look-ups have a budget of their
 * own, per node they wait on: they hold no transfer slot, and a slow home holds up only first
 * accesses of its own authors. "No such author" and "no such resource" are remembered a few
 * seconds, so made-up paths cost their home one question each, not one a request.
 */
export class ResourceLookups {
  private readonly deps: ResourceLookupsDeps;
  private readonly unknownAuthors = new RecentMap<string, number>(REMEMBERED);
  private readonly missing = new RecentMap<string, number>(REMEMBERED);
  /** Look-ups under way per node (or domain) they wait on: only keys with some under way are here. */
  private readonly waitingOn = new Map<string, number>();
  private total = 0;

  constructor(deps: ResourceLookupsDeps) {
    this.deps = deps;
  }

  /** D2: the author's home, if it is another node (else, or for a name no one knows: not_found). */
  async home(ref: ResourceRef, version: number | undefined): Promise<string> {
    const author = digestKey(`${ref.domain}/${ref.author}`);
    const now = Date.now();
    if ((this.unknownAuthors.get(author) ?? 0) > now || (this.missing.get(pathKey(ref, version)) ?? 0) > now) throw notFound(ref, version);
    let home: string;
    try {
      home = await this.within(`domain ${ref.domain}`, () => this.deps.homes.find(ref.domain, ref.author));
    } catch (err) {
      if (!(err instanceof CohortError && err.code === 'no_such_user')) throw err;
      this.unknownAuthors.set(author, Date.now() + UNKNOWN_AUTHOR_MS);
      throw notFound(ref, version);
    }
    if (home === this.deps.self) throw notFound(ref, version);
    return home;
  }

  /** D3-D4: subscribed to `ref` (and `version`) at `home`; its answer parsed and checked, or refused. */
  async subscribe(ref: ResourceRef, version: number | undefined, home: string): Promise<Subscribed> {
    const gen = this.deps.nextGen();
    let answer: unknown;
    try {
      answer = await this.within(`node ${home}`, () => this.deps.call(home, 'res.subscribe', { url: ref.url, version, gen }));
    } catch (err) {
      if (err instanceof CohortError && err.code === 'not_found') {
        this.missing.set(pathKey(ref, version), Date.now() + MISSING_MS);
        throw notFound(ref, version);
      }
      throw err;
    }
    const { newest, ...meta } = subscribeAnswerFor(answer, { home, url: ref.url, version, log: this.deps.log });
    return { home, gen, meta, newest };
  }

  /** Runs `ask` in a look-up slot of `on` (a node, or a domain's library nodes); none free: busy. */
  private async within<T>(on: string, ask: () => Promise<T>): Promise<T> {
    const there = this.waitingOn.get(on) ?? 0;
    if (there >= this.deps.perNode) throw busy(`${there} look-ups are waiting on ${on}`);
    if (this.total >= this.deps.total) throw busy(`${this.total} look-ups are under way on this node`);
    this.waitingOn.set(on, there + 1);
    this.total++;
    try {
      return await ask();
    } finally {
      this.total--;
      const left = (this.waitingOn.get(on) ?? 1) - 1;
      if (left > 0) this.waitingOn.set(on, left);
      else this.waitingOn.delete(on);
    }
  }
}

/** The same answer for an unknown author, a missing resource and a missing version. */
function notFound(ref: ResourceRef, version: number | undefined): CohortError {
  return new CohortError('not_found', version === undefined ? `no resource ${ref.url}` : `no version ${version} of ${ref.url}`);
}

function pathKey(ref: ResourceRef, version: number | undefined): string {
  return digestKey(`${ref.url}\n${version ?? ''}`);
}

/** A fixed-size key for a name a client chose (up to a kilobyte of path). */
function digestKey(text: string): string {
  return createHash('sha256').update(text).digest('base64url');
}

export function busy(why: string): CohortError {
  return new CohortError('rate_limited', `Service currently not available: ${why}; try again shortly`);
}
