import type { VersionMeta } from '../replication/published-store.ts';

/** A resource's metadata, as its home node published it, and where this node's bytes came from. */
export interface ResourceMeta extends VersionMeta {
  /** 'home' (this node is the author's), 'copy' (a copy was here), 'replicated' (copied for this call). */
  source: 'home' | 'copy' | 'replicated';
}

export interface PublishOutcome {
  version: number;
  digest: string;
  size: number;
  notified: { node: string; status: string }[];
}

type LocalCall = (cmd: string, args: unknown) => Promise<unknown>;

/**
 * Published resources (seed 000's resource space /res/<domain>/<author>/<path>), from any
 * node: the first use on a node copies the resource there and subscribes it to updates.
 * Errors: not_found, refused (the resource is limited to domains this node is not of),
 * con_lost (its home node is unreachable and no copy is here), rate_limited (too many
 * transfers at once), bad_args (not a resource URL).
 */
export class ResourcesApi {
  private readonly call: LocalCall;

  constructor(call: LocalCall) {
    this.call = call;
  }

  /**
   * The resource's file on this machine (read it, do not change it) and the metadata of that
   * very file, replicating it first if needed. One answer: a page that shows the file and its
   * version cannot pair the new file with the old version when an update lands between two calls.
   * A copy's file replaced by a newer version stays readable for 10 s (RETIRE_MS): open it at once.
   */
  local(url: string, version?: number): Promise<ResourceMeta & { path: string }> {
    return this.call('res.local', version === undefined ? { url } : { url, version }) as Promise<ResourceMeta & { path: string }>;
  }

  /** The absolute path of the resource's file on this machine, as local() gives it. */
  async localPath(url: string, version?: number): Promise<string> {
    return (await this.local(url, version)).path;
  }

  /**
   * Publishes `file` (an absolute path this node can read) as the next version of `url`, on the
   * author's home node (relayed there when it is another). Resolves with the new version and,
   * per subscriber, whether its notice arrived ('ok') or waits in the home's outbox ('delayed').
   * With ifVersion, only if that is still the newest version (else a 'conflict' error).
   */
  publish(url: string, file: string, opts: { contentType?: string; access?: 'cluster' | 'domain'; ifVersion?: number } = {}): Promise<PublishOutcome> {
    return this.call('res.publish', { url, file, ...opts }) as Promise<PublishOutcome>;
  }

  /** The resource's metadata (replicating it if needed, so what it says is what this node serves). */
  meta(url: string, version?: number): Promise<ResourceMeta> {
    return this.call('res.meta', version === undefined ? { url } : { url, version }) as Promise<ResourceMeta>;
  }
}
