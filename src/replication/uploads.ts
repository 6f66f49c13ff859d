import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { CohortError } from '../errors.ts';
import type { HomeLookup } from '../records/home-lookup.ts';
import { plain, type ResourceHome } from './resource-home.ts';
import type { ResourceRef } from './resource-url.ts';

export interface UploadsDeps {
  self: string;
  home: ResourceHome;
  homes: HomeLookup;
  /** Checks a password at this node (auth.check): resolves, or rejects refused / rate_limited. */
  checkPassword: (domain: string, user: string, password: string) => Promise<void>;
  maxBytes: number;
  log: Logger;
}

/**
 * PUT /res/<domain>/<author>/<path> on the author's home node: an author publishes a new
 * version over HTTP with her own password (Basic), checked at home before a byte is read.
 * Query: access=domain|cluster. Content-Type: the request's, else by the path's extension.
 * Basic sends the password as it is: put TLS in front of a node's HTTP port for uploads.
 */
export class Uploads {
  private readonly deps: UploadsDeps;

  constructor(deps: UploadsDeps) {
    this.deps = deps;
  }

  async handle(ref: ResourceRef, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { deps } = this;
    const creds = basicCredentials(req.headers.authorization);
    if (!creds) return plain(res, 401, 'an upload needs the author\'s name and password (Basic)', { 'www-authenticate': 'Basic realm="cohort resources", charset="UTF-8"' });
    if (creds.user !== ref.author) return plain(res, 403, `Access Denied: only ${ref.author} publishes under /res/${ref.domain}/${ref.author}/`);
    const length = req.headers['content-length'];
    if (length !== undefined && Number(length) > deps.maxBytes) return plain(res, 413, `Content Too Large: at most ${deps.maxBytes} bytes`, { connection: 'close' });
    const home = await deps.homes.find(ref.domain, ref.author).catch((err: unknown) => {
      throw err instanceof CohortError && err.code === 'no_such_user' ? new CohortError('refused', 'bad user name or password') : err;
    });
    if (home !== deps.self) return plain(res, 421, `Misdirected Request: ${ref.author}@${ref.domain} publishes on her home node ${home}`);
    try {
      await deps.checkPassword(ref.domain, creds.user, creds.password);
    } catch (err) {
      if (err instanceof CohortError && err.code === 'refused') return plain(res, 401, 'bad user name or password', { 'www-authenticate': 'Basic realm="cohort resources", charset="UTF-8"' });
      if (err instanceof CohortError && err.code === 'rate_limited') return plain(res, 429, err.message, { 'retry-after': '60' });
      throw err;
    }
    const params = new URLSearchParams((req.url ?? '').split('?')[1] ?? '');
    const access = params.get('access');
    if (access !== null && access !== 'domain' && access !== 'cluster') return plain(res, 400, 'access is domain or cluster');
    const contentType = req.headers['content-type'];
    const ifMatch = entityTags(req.headers['if-match'], 'strong');
    const ifNoneMatch = entityTags(req.headers['if-none-match'], 'weak');
    if (ifMatch === null || ifNoneMatch === null) return plain(res, 400, 'If-Match and If-None-Match are * or a list of entity tags ("...")', { connection: 'close' });
    try {
      const out = await deps.home.publish(ref, req, { access: access ?? undefined, contentType, ifMatch, ifNoneMatch, length: length === undefined ? undefined : Number(length) });
      res.writeHead(201, { 'content-type': 'application/json', location: ref.url, etag: `"${out.digest}"` }).end(JSON.stringify(out));
    } catch (err) {
      // The body may be half read: the connection cannot carry another request.
      res.setHeader('connection', 'close');
      // A precondition of the request's own failed (RFC 9110 §13.1): 412, nothing stored.
      if (err instanceof CohortError && err.code === 'conflict') return plain(res, 412, `Precondition Failed: ${err.message}`);
      throw err;
    }
  }
}

/**
 * One element of an entity-tag list: optionally weak, an opaque quoted string (RFC 9110 §8.8.3:
 * commas allowed inside), then a comma or the end. Empty elements are allowed (§5.6.1).
 */
const LIST_ELEMENT = /[ \t]*(?:(W\/)?"([\x21\x23-\x7e\x80-\xff]*)")?[ \t]*(?:,|$)/y;

/**
 * An If-Match or If-None-Match field: undefined when absent, '*', or the digests it names (our
 * ETags are `"<sha256>"`), null when malformed. If-Match compares strongly, so a weak tag there
 * matches nothing (§13.1.1); If-None-Match compares weakly (§13.1.2).
 */
export function entityTags(field: string | undefined, comparison: 'strong' | 'weak'): '*' | string[] | undefined | null {
  if (field === undefined) return undefined;
  if (field.trim() === '*') return '*';
  const tags: string[] = [];
  LIST_ELEMENT.lastIndex = 0;
  while (LIST_ELEMENT.lastIndex < field.length) {
    const at = LIST_ELEMENT.lastIndex;
    const m = LIST_ELEMENT.exec(field);
    if (!m || LIST_ELEMENT.lastIndex === at) return null;
    if (m[2] === undefined || (m[1] && comparison === 'strong')) continue;
    tags.push(m[2]);
    if (tags.length > 64) return null;
  }
  return tags;
}

/** user and password of a Basic Authorization header, or undefined. */
export function basicCredentials(header: string | undefined): { user: string; password: string } | undefined {
  const m = /^Basic ([A-Za-z0-9+/=]{1,2000})$/i.exec(header ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}
